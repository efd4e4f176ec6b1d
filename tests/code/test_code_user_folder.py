"""install-user-folder-write: a write call whose path names a user's profile folder, squats and
their ordinary look-alikes side by side (defanged: nothing here is run)."""

from __future__ import annotations

import pytest

from detector.code.scan import scan_files

RULE = "install-user-folder-write"

WRITES = [
    # (what, setup.py source)
    ("makedirs through a name assigned from the environment",
     "import os\nappDataPath = os.getenv('APPDATA')\nos.makedirs(appDataPath + '\\\\Extension')\n"),
    ("mkdir of a Desktop folder built from the login name",
     "import os\nlogin = os.getlogin()\nos.mkdir(f'C:\\\\Users\\\\{login}\\\\Desktop\\\\tools')\n"),
    ("open for writing under USERPROFILE",
     "import os\nf = open(os.environ['USERPROFILE'] + '\\\\Videos\\\\a.exe', 'wb')\n"),
    ("open with a keyword mode",
     "import os\nf = open(file=os.getenv('LOCALAPPDATA') + '/x.js', mode='w')\n"),
    ("copy into the Startup folder",
     "import shutil\nD = 'C:/ProgramData/Microsoft/Windows/Start Menu/Programs/StartUp'\n"
     "shutil.copy('x.exe', D)\n"),
    ("write_text on a path object under ~/.ssh",
     "from pathlib import Path\n(Path.home() / '.ssh' / 'authorized_keys').write_text(k)\n"),
    ("urlretrieve into Documents",
     "import urllib.request\nurllib.request.urlretrieve(U, HOME + '/Documents/a.bin')\n"),
]

ORDINARY = [
    ("makedirs in the build tree", "import os\nos.makedirs('build/lib', exist_ok=True)\n"),
    ("a cache dir under the home folder",
     "import os\nos.makedirs(os.path.expanduser('~/.cache/tidy'), exist_ok=True)\n"),
    ("reading a file named like a profile folder",
     "f = open('Desktop.ini')\ng = open(os.path.join(APPDATA, 'x'), 'r')\n"),
    ("a string about documents, no write",
     "doc = 'Copies the documents into the output folder'\n"),
    ("dataclasses.replace of a document",
     "from dataclasses import replace\nnew = replace(documents[0], score=1.0)\n"),
    ("a tool's own startup folder (not the Windows Startup folder)",
     "import os, shutil\nd = os.path.join(profile_dir, 'startup')\nshutil.copy(src, d)\n"),
    ("open for writing in the package's own tree",
     "with open('src/tidy/_version.py', 'w') as f:\n    f.write(v)\n"),
]


def _raised(source: str) -> bool:
    return any(f.rule == RULE for f in scan_files({"setup.py": source}).findings)


@pytest.mark.parametrize(("what", "source"), WRITES, ids=[w for w, _ in WRITES])
def test_writes_into_user_folders_are_found(what, source):
    assert _raised(source), what


@pytest.mark.parametrize(("what", "source"), ORDINARY, ids=[w for w, _ in ORDINARY])
def test_ordinary_writes_are_not(what, source):
    assert not _raised(source), what


def test_only_install_time_code_is_asked():
    """At import or when called a library may keep its cache in AppData; at install,
    nothing has reason to write there."""
    write = "import os\nos.makedirs(os.getenv('LOCALAPPDATA') + '/t')\n"
    files = {"setup.py": "from setuptools import setup\nimport os\n"
                         "os.makedirs(os.getenv('APPDATA') + '/t')\nsetup(name='t')\n",
             "t/__init__.py": write, "t/cli.py": "def run():\n    " + write.replace("\n", "\n    ")}
    found = {f.file for f in scan_files(files).findings if f.rule == RULE}
    assert found == {"setup.py"}


def test_unparsable_install_code_is_asked_by_text():
    text = "import os\nos.makedirs(os.getenv('APPDATA') + '/x')\nprint 'py2'\n"
    found = [f for f in scan_files({"setup.py": text}).findings if f.rule == RULE]
    assert found and found[0].tier == "install"
    assert not [f for f in scan_files({"pkg/mod.py": text}).findings if f.rule == RULE]

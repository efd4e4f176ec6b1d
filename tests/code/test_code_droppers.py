"""What the browser-extension dropper campaign (`baeutifulsoup4`, `cloorama`...) does at
install, each beside an ordinary look-alike (defanged: nothing here is run)."""

from __future__ import annotations

import pytest

from detector.code.scan import scan_files

CASES = [
    # (rule, malicious setup.py, ordinary look-alike)
    ("pip-install-at-runtime",
     "from pip._internal import main\nmain(['install', 'pypiwin32'])\n",
     "from pip._internal import main\nmain(['list', '--outdated'])\n"),
    ("pip-install-at-runtime",
     "import pip\npip.main(['install', 'x'])\n",
     "import pip\nprint(pip.__version__)\n"),
    ("browser-extension-sideload",
     "shortcut.Arguments = '--load-extension={p}\\\\Extension'.format(p=path)\nshortcut.Save()\n",
     "shortcut.Arguments = '--profile-directory=Default'\n"),
    ("browser-extension-sideload",
     "args = ['chrome.exe', '--disable-extensions-except=' + ext]\n",
     "args = ['chrome.exe', '--disable-gpu']\n"),
]


@pytest.mark.parametrize(("rule", "malicious", "ordinary"), CASES)
def test_dropper_behaviour_is_found_and_its_look_alike_is_not(rule, malicious, ordinary):
    def rules(source: str) -> set[str]:
        return {f.rule for f in scan_files({"setup.py": source}).findings}

    assert rule in rules(malicious)
    assert rule not in rules(ordinary)


def test_sideloading_counts_only_in_code_that_runs_uncalled():
    """Browser automation passes --load-extension when a user's code asks it to."""
    flag = "def options(ext):\n    return ['--load-extension=' + ext]\n"
    found = {f.file for f in scan_files({"setup.py": "from setuptools import setup\n",
                                         "pkg/__init__.py": "EXT = '--load-extension=x'\n",
                                         "pkg/webdriver/options.py": flag}).findings
             if f.rule == "browser-extension-sideload"}
    assert found == {"pkg/__init__.py"}

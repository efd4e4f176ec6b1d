"""Python files read as the interpreter reads them: PEP 263 coding cookies honoured.

A `# -*- coding: unicode_escape -*-` (or `utf-7`, `raw_unicode_escape`, `punycode`,
`idna`, an EBCDIC code page...) on the first or second line makes Python decode the
file's bytes with that codec before it tokenizes them, so a file that reads as a
comment and a line of `\\x69\\x6d...` escapes runs `import os; os.system(...)`. A
scanner that parses the text as UTF-8 sees nothing. Here such a file is decoded with
its codec (bounded: no codec used by source files grows its input) and scanned as what
Python runs, and the cookie itself is a finding.

Codecs that leave ASCII as it is (utf-8, latin-1, cp1252, shift_jis, gbk...) change
nothing an ASCII-only scanner reads and are left alone: legacy files declare them.
Nothing is executed: this is `bytes.decode`.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from functools import lru_cache

# PEP 263: on line 1 or 2, a comment matching this names the source encoding
COOKIE = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII)


def _first_lines(text: str, n: int = 2) -> list[str]:
    lines, start = [], 0
    for _ in range(n):
        end = text.find("\n", start)
        lines.append(text[start:] if end < 0 else text[start:end])
        if end < 0:
            break
        start = end + 1
    return lines


def coding_cookie(text: str) -> str | None:
    """The codec a file's coding cookie names (first two lines), else None."""
    for line in _first_lines(text):
        match = COOKIE.match(line)
        if match:
            return match.group(1)
        if not line.lstrip(" \t\f").startswith("#") and line.strip():
            return None  # the cookie must precede code (a blank or comment first line)
    return None


# Codecs whose decoding of ASCII is ASCII, by their canonical names: skipped outright.
PLAIN = frozenset({"utf-8", "ascii", "iso8859-1", "latin-1", "cp1252", "utf-8-sig"})


@lru_cache(maxsize=64)
def _codec(name: str) -> codecs.CodecInfo | None:
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None  # Python refuses to run a file naming an unknown codec
    return None if info.name in PLAIN else info


def _as_bytes(text: str) -> bytes:
    """The file's bytes again: text read as Latin-1 (the reader's fallback for bytes that
    are not UTF-8) maps back one to one; anything else was UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def as_python_reads(text: str, max_chars: int) -> tuple[str, str] | None:
    """``(decoded text, codec)`` when a cookie names a codec that rewrites this file's
    ASCII (escapes, `+...-` runs, punycode, EBCDIC), so Python runs something other than
    ``text``; None when the text is what runs. Only the file's ASCII is compared, so a
    legacy file whose accented strings a code page decodes otherwise is left alone. A
    file that does not decode is returned as it is with the codec (the cookie is still
    evidence)."""
    codec = coding_cookie(text)
    info = _codec(codec) if codec else None
    if info is None or codec is None:
        return None
    head = text[:max_chars]
    ascii_only = head.encode("ascii", "ignore")
    try:
        if info.decode(ascii_only)[0] == ascii_only.decode("ascii"):
            return None
        decoded = info.decode(_as_bytes(head))[0]
    except (UnicodeError, ValueError, TypeError, MemoryError):
        return text, codec
    if not isinstance(decoded, str):
        return text, codec
    return decoded[:max_chars], codec


def recode(files: dict[str, str], max_chars: int, is_python: Callable[[str, str], bool]
           ) -> tuple[dict[str, str], dict[str, str]]:
    """The package with every Python file that names an ASCII-rewriting codec replaced
    by what Python decodes, and {file: codec} of those files."""
    changed: dict[str, str] = {}
    out = files
    for name, text in files.items():
        if not is_python(name, text):
            continue
        found = as_python_reads(text, max_chars)
        if found is None:
            continue
        if out is files:
            out = dict(files)
        out[name], changed[name] = found
    return out, changed

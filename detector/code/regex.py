"""The one regular-expression engine of the code scanner: RE2.

RE2 matches in time linear in the input (no backtracking), so no pattern in the rule
catalogue, and no hostile file, can make a scan super-linear. The price: no
look-around and no back-references (the catalogue is written without them), and
each pattern's compiled program is capped in memory. `tests/code/test_code_regex.py`
runs every pattern over 1 MB of adversarial text and requires < 100 ms each.
"""

from __future__ import annotations

import re
from typing import Any

import re2

# RE2's default program budget is 8 MiB; the catalogue's largest pattern needs far less.
_MAX_MEM = 8 << 20

Pattern = Any  # re2._Regexp: search/match/finditer/sub with the `re` signatures


def compile_pattern(pattern: str) -> Pattern:
    """Compile with RE2; a pattern RE2 cannot run (look-around, back-reference) is an
    error here, at catalogue load, never a silent fallback to a backtracking engine."""
    options = re2.Options()
    options.max_mem = _MAX_MEM
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        raise ValueError(f"pattern {pattern!r} is not RE2 syntax: {exc}") from exc


_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """`text` with lone surrogates (a `"\\ud800"` literal evaluates to one) replaced by
    U+FFFD one for one, so offsets hold: RE2 matches UTF-8 and raised on them, which
    stopped the whole scan."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text

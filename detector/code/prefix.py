"""The longest prefix of a Python file that parses, for files that do not parse whole.

A file cut short (an upload capped mid-file, a corpus copy) or with one bad line (a
Python 2 `print` statement, a stray byte, text appended on purpose) used to get text
rules only, so an attacker could hide every AST-level behaviour of a file behind one
syntax error at its end. Python itself would refuse such a module, but what it holds
before the error is still the uploader's code and is what a reader sees.

The cut is made at statement boundaries: first just before the line the error names,
then before ever shallower enclosing statements (the last statement of a block, then its
block, then the block around it), so a truncated class keeps its complete methods. Each
attempt is one `ast.parse`; attempts are few (`MAX_ATTEMPTS`), the text they parse
is capped in all (the caller passes the parse guard's `max_parse_units`: a file near the
guard gets one attempt, a file of a tenth of it several), and
each is checked against the package's budget, so a crafted file costs at most about one
more parse of the largest file the parse guard lets through.
"""

from __future__ import annotations

import ast
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass

MAX_ATTEMPTS = 6
FIRST_CUT_INDENT = 4
PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError,
                TypeError)


@dataclass(frozen=True)
class Prefix:
    tree: ast.Module
    lines: int        # how many lines of the file the tree covers (1..lines)
    error_line: int   # where the whole file first failed to parse


def source_lines(text: str) -> list[str]:
    """The lines of ``text`` as Python numbers them (ends kept): split at `\\n`, `\\r\\n`
    and `\\r` only. `str.splitlines` also splits at form feeds and other separators that
    old sources contain, which would shift every line number after them."""
    return list(io.StringIO(text, newline=""))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


# a line starting with one of these continues the statement above it: no cut before it
CONTINUATIONS = ("except", "else", "elif", "finally", ")", "]", "}")


def _starts_statement(lines: list[str], i: int) -> bool:
    """Whether a cut just before line ``i`` (0-based) can end a whole statement: the
    line is code, does not continue the one above (`else:`, a closing bracket), and the
    line above is not a decorator or an explicit line continuation."""
    if not _is_code(lines[i]) or lines[i].lstrip().startswith(CONTINUATIONS):
        return False
    above = next((lines[j] for j in range(i - 1, -1, -1) if _is_code(lines[j])), "")
    return not above.lstrip().startswith("@") and not above.rstrip().endswith("\\")


def syntax_error(text: str) -> SyntaxError | None:
    """The first syntax error of ``text``, or None when it parses (or fails for another
    reason: recursion, memory)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except SyntaxError as exc:
        return exc
    except PARSE_ERRORS:
        return None
    return None


def error_line(text: str) -> int | None:
    """The line of the first syntax error of ``text``, or None when it parses (or fails
    for another reason: null bytes, recursion)."""
    exc = syntax_error(text)
    return None if exc is None else exc.lineno or 1


# Syntax errors that only more text could fix: a cut leaves them at the end of a file.
INCOMPLETE_ERRORS = ("unexpected EOF", "unterminated triple-quoted string literal",
                     "was never closed", "expected an indented block")
# Errors no cut makes: the text itself is not Python (3).
NEVER_A_CUT = ("null bytes", "Missing parentheses", "invalid character", "unmatched",
               "invalid non-printable", "unindent does not match")


def cut_off(exc: SyntaxError, text: str) -> bool:
    """Whether a file's syntax error says it was only cut off: a bracket, block or
    triple-quoted string left open, or an error on its last line (a cut leaves the last
    line partial), and not an error that no cut makes (Python 2 `print`, NUL bytes).
    A cut at a size cap (an upload or a corpus copy capped mid-file) is not a broken
    file: the length of a file must not read as evidence (issue 18 item 1). Decided
    from the parse that failed, at no extra cost."""
    message = exc.msg or ""
    if any(part in message for part in NEVER_A_CUT):
        return False
    if any(part in message for part in INCOMPLETE_ERRORS):
        return True
    line = exc.lineno or 0
    return line > 0 and line >= len(source_lines(text))


def parse_prefix(text: str, first_error: int,
                 before_attempt: Callable[[], None] = lambda: None,
                 max_cost: int = 1 << 62, cost: Callable[[str], int] = len) -> Prefix | None:
    """The AST of the longest statement-aligned prefix that parses, or None (nothing
    before the error parses, or ``MAX_ATTEMPTS`` cuts, or cuts costing more than
    ``max_cost`` in all by ``cost``, did not find one). ``before_attempt`` runs before
    each parse (the caller's budget check)."""
    lines = source_lines(text)
    end = min(first_error - 1, len(lines))
    # first cut: before the last statement of a module or class body (indent <= 4), where
    # a file cut mid-function most often parses at once
    end = next((i for i in range(min(end, len(lines) - 1), 0, -1)
                if _indent(lines[i]) <= FIRST_CUT_INDENT and _starts_statement(lines, i)),
               end)
    depth = FIRST_CUT_INDENT
    spent = 0
    for _ in range(MAX_ATTEMPTS):
        if end <= 0:
            return None
        source = "".join(lines[:end])
        spent += cost(source)
        if spent > max_cost:
            return None
        before_attempt()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return Prefix(ast.parse(source), end, first_error)
        except SyntaxError as exc:
            if exc.lineno and exc.lineno < end:  # an error inside: cut just before it
                end = exc.lineno - 1
                continue
        except PARSE_ERRORS:
            return None
        last = next((i for i in range(end - 1, -1, -1) if _is_code(lines[i])), None)
        if last is None:
            return None
        # drop the last statement; next time the block around it, and so on outwards
        depth = min(depth - 1, _indent(lines[last]))
        end = next((i for i in range(last, -1, -1)
                    if _indent(lines[i]) <= depth and _starts_statement(lines, i)), 0)
        depth = _indent(lines[end]) if end < len(lines) else 0
    return None

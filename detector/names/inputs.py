"""Reading name lists: one name per line, or a TSV (optionally gzipped) with a ``name`` column."""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from detector.timestamps import parse_ts


class NameListError(OSError):
    """A name list that cannot be opened or read; the message names the file."""


def _open_text(path: str) -> IO[str]:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    try:
        handle: io.BufferedReader = open(path, "rb")  # noqa: SIM115 - closed by read_names
    except OSError as exc:
        raise NameListError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if Path(path).is_dir():
        handle.close()
        raise NameListError(f"{path}: is a directory, not a name list")
    if handle.peek(2)[:2] == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=handle), encoding="utf-8", errors="replace")
    return io.TextIOWrapper(handle, encoding="utf-8", errors="replace")


def name_column(first_line: str) -> int | None:
    """The ``name`` column of a TSV header line, or None when the file is one name a line."""
    if "\t" not in first_line:
        return None
    header = [cell.strip().lower() for cell in first_line.rstrip("\r\n").split("\t")]
    return header.index("name") if "name" in header else None


def name_in_line(line: str, column: int | None) -> str:
    """The name a line holds: the whole line, or the ``column`` cell of a TSV row."""
    line = line.rstrip("\r\n")
    if column is None:
        return line.strip()
    cells = line.split("\t")
    return cells[column].strip() if column < len(cells) else ""


# A TSV column giving when each name was registered (the first of these in the header).
TIME_COLUMNS = ("ts", "time", "first_seen")


def time_column(first_line: str) -> int | None:
    """The time column of a TSV header line (``TIME_COLUMNS``), or None."""
    header = [cell.strip().lower() for cell in first_line.rstrip("\r\n").split("\t")]
    return next((header.index(name) for name in TIME_COLUMNS if name in header), None)


def _time_in_line(path: str, number: int, line: str, column: int) -> float:
    cells = line.rstrip("\r\n").split("\t")
    value = cells[column].strip() if column < len(cells) else ""
    try:
        return parse_ts(value)
    except ValueError:
        raise NameListError(f"{path}: line {number}: the time column holds {value!r}, not an "
                            "ISO 8601 date or time") from None


def read_names(path: str, times: list[float] | None = None) -> Iterator[str]:
    """Every name in ``path`` (``-`` for stdin), in order.

    A first line with tabs and a ``name`` column marks a TSV (tabs without one are a
    NameListError: no name can hold a tab); otherwise each line is one name. Lines are
    stripped of surrounding whitespace and a trailing CR; blank lines are
    kept as empty names so that output lines stay aligned with input lines. Undecodable
    bytes become U+FFFD, which the name check then reports as an error for that name.

    When ``times`` is given and the TSV has a time column (``TIME_COLUMNS``: ISO 8601
    dates or times, naive meaning UTC), each row's time is appended to it before its
    name is yielded; a row without a readable time is a NameListError.
    """
    handle = _open_text(path)
    try:
        try:
            first = handle.readline()
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise NameListError(f"{path}: cannot read ({exc})") from exc
        if not first:
            return
        column = name_column(first)
        if column is None and "\t" in first:
            header = ", ".join(repr(c.strip()) for c in first.rstrip("\r\n").split("\t"))
            raise NameListError(f"{path}: the first line has tabs but no 'name' column (a "
                                f"TSV needs a header naming it; found {header})")
        if column is None:
            yield name_in_line(first, None)
        when = time_column(first) if column is not None and times is not None else None
        try:
            if when is not None and times is not None:
                for number, line in enumerate(handle, start=2):
                    times.append(_time_in_line(path, number, line, when))
                    yield name_in_line(line, column)
                return
            if column is None:
                # name_in_line(line, None) is line.strip(): mapped in C, no frame per line.
                yield from map(str.strip, handle)
                return
            for line in handle:
                yield name_in_line(line, column)
        except NameListError:
            raise
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise NameListError(f"{path}: read failed part-way ({exc})") from exc
    finally:
        if path != "-":
            handle.close()

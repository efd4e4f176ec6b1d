"""Reading backfill inputs into numbered rows, and cutting them into partitions.

The client reads the whole input once and cuts it by position, so every input
line lands in exactly one partition: no row is lost or duplicated, whatever
happens to the workers later. Rows are kept as columns (line numbers, values,
errors) because a partition of plain lists pickles ~50x faster than one of
row objects, and the client ships every partition to a worker.
"""

from __future__ import annotations

import gzip
import hashlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, overload

from detector.names.inputs import name_column, name_in_line

# The archive kinds `warden scan` reads; a directory tree is searched for these.
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".whl")


class BackfillInputError(ValueError):
    """The input file or directory cannot be read at all (exit 2 in the CLI)."""


class Item(NamedTuple):
    """One input row: its 1-based line number, the text, and why it is bad (if it is)."""

    line: int
    value: str
    error: str | None = None


@dataclass(frozen=True)
class ItemList(Sequence[Item]):
    """Input rows as three columns; ``errors`` maps a line number to its problem."""

    lines: list[int] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)

    @classmethod
    def from_items(cls, items: Iterable[Item]) -> ItemList:
        out = cls()
        for item in items:
            out.append(item.line, item.value, item.error)
        return out

    def append(self, line: int, value: str, error: str | None = None) -> None:
        self.lines.append(line)
        self.values.append(value)
        if error is not None:
            self.errors[line] = error

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def __getitem__(self, index: int) -> Item: ...
    @overload
    def __getitem__(self, index: slice) -> ItemList: ...
    def __getitem__(self, index: int | slice) -> Item | ItemList:
        if isinstance(index, slice):
            lines = self.lines[index]
            wanted = {line: self.errors[line] for line in lines if line in self.errors}
            return ItemList(lines, self.values[index], wanted)
        line = self.lines[index]
        return Item(line, self.values[index], self.errors.get(line))

    def __iter__(self) -> Iterator[Item]:
        errors = self.errors
        for line, value in zip(self.lines, self.values, strict=True):
            yield Item(line, value, errors.get(line))


@dataclass(frozen=True)
class Partition:
    """A run of consecutive rows, scored and written as one Parquet file."""

    index: int
    items: ItemList

    @property
    def first_line(self) -> int:
        return self.items.lines[0]

    def __len__(self) -> int:
        return len(self.items)


def _read_bytes(path: Path) -> bytes:
    """The whole file, gunzipped when it starts with the gzip magic number."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise BackfillInputError(f"{path}: cannot read ({why})") from exc


def _text_lines(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line number, text, error) per line; a line that is not UTF-8 gets an error."""
    data = _read_bytes(path)
    try:
        chunks: list[str] | list[bytes] = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        chunks = data.split(b"\n")
    if chunks and not chunks[-1]:
        chunks.pop()  # the newline that ends the last line
    for number, chunk in enumerate(chunks, start=1):
        if isinstance(chunk, bytes):
            try:
                text, error = chunk.decode("utf-8"), None
            except UnicodeDecodeError:
                text = chunk.decode("utf-8", errors="replace")
                error = f"line {number}: not valid UTF-8"
        else:
            text, error = str(chunk), None
        yield number, text.removesuffix("\r"), error


def read_names(path: str | Path) -> ItemList:
    """Names from a text file (one per line) or a TSV(.gz) whose header has a `name` column.

    The same rows as ``warden check-name --file`` reads: a first line with tabs and
    a ``name`` column marks a TSV, every other line is one row (a blank line is an
    empty name, which the check reports as an error). A line that is not UTF-8
    becomes a row with an error.
    """
    path = Path(path)
    if path.is_dir():
        raise BackfillInputError(f"{path}: is a directory, expected a file of names")
    if not path.exists():
        raise BackfillInputError(f"{path}: no such file")
    items = ItemList()
    column: int | None = None
    for number, text, error in _text_lines(path):
        if number == 1:
            column = name_column(text)
            if column is not None:
                continue
        items.append(number, name_in_line(text, column), error)
    return items


def _archives_under(root: Path) -> list[Path]:
    found = [
        p for p in root.rglob("*")
        if p.is_file() and p.name.lower().endswith(ARCHIVE_SUFFIXES)
    ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def read_code_inputs(path: str | Path) -> ItemList:
    """Archive paths to scan: every sdist/wheel under a directory, or a file listing them.

    A listing holds one path per line (blank lines and `#` comments skipped);
    relative paths are taken from the listing's own folder. A listed path that
    does not exist is kept: the scan turns it into a row with an error.
    """
    path = Path(path)
    items = ItemList()
    if path.is_dir():
        for number, archive in enumerate(_archives_under(path), start=1):
            items.append(number, str(archive))
        return items
    if not path.exists():
        raise BackfillInputError(f"{path}: no such file or directory")
    if path.name.lower().endswith(ARCHIVE_SUFFIXES):
        raise BackfillInputError(
            f"{path}: is an archive; give a directory of archives or a file listing them"
        )
    base = path.resolve().parent
    for number, text, error in _text_lines(path):
        entry = text.strip()
        if (not entry or entry.startswith("#")) and error is None:
            continue
        target = Path(entry)
        items.append(number, str(target if target.is_absolute() else base / target), error)
    return items


def partition(items: Sequence[Item], size: int) -> list[Partition]:
    """Consecutive runs of at most ``size`` rows, numbered from 0."""
    if size < 1:
        raise ValueError("partition size must be at least 1")
    rows = items if isinstance(items, ItemList) else ItemList.from_items(items)
    return [
        Partition(index, rows[start:start + size])
        for index, start in enumerate(range(0, len(rows), size))
    ]


def fingerprint(items: Sequence[Item]) -> str:
    """A digest of the input rows, so a resumed run can tell it is given the same input."""
    rows = items if isinstance(items, ItemList) else ItemList.from_items(items)
    digest = hashlib.sha256()
    digest.update(array("q", rows.lines).tobytes())
    digest.update("\n".join(rows.values).encode("utf-8", errors="surrogatepass"))
    digest.update(repr(sorted(rows.errors.items())).encode())
    return digest.hexdigest()

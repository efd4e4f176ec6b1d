"""The popular-projects corpus: canonical name -> download rank.

Shipped as ``data/popular.tsv`` (``rank<TAB>name``), loaded once per process.
``refresh`` replaces it from a newer list: the TSV format, or the JSON of
hugovk's *top-pypi-packages* (``{"rows": [{"project": ..., "download_count": ...}]}``).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from detector.pep503 import canonicalize_name
from detector.resources import data_path

SHIPPED_POPULAR = data_path("popular.tsv")


class CorpusError(ValueError):
    """A popular-projects file that cannot be read or holds no names."""


@dataclass(frozen=True)
class PopularCorpus:
    """Popular project names with their ranks (1 = most popular).

    ``size`` is the length of the ranking the ranks come from, so that the
    popularity of a rank can be judged however many names the corpus keeps.
    """

    ranks: Mapping[str, int]
    size: int
    version: str = "unknown"
    _by_rank: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def from_names(
        cls, names: Iterable[str], *, ranks: Iterable[int] | None = None, version: str = "custom"
    ) -> PopularCorpus:
        """A corpus from names in rank order (or with explicit ranks); duplicates keep the best."""
        table: dict[str, int] = {}
        rank_iter = iter(ranks) if ranks is not None else None
        for position, raw in enumerate(names, start=1):
            rank = next(rank_iter) if rank_iter is not None else position
            name = canonicalize_name(raw.strip())
            if name and (name not in table or rank < table[name]):
                table[name] = rank
        if not table:
            raise CorpusError("the popular-projects list holds no names")
        return cls(ranks=table, size=max(table.values()), version=version)

    def rank(self, name: str) -> int | None:
        return self.ranks.get(name)

    def top(self, n: int | None = None) -> list[str]:
        """Names by rank, most popular first (the first ``n`` of them when given)."""
        ordered = sorted(self.ranks, key=self.ranks.__getitem__)
        return ordered if n is None else ordered[:n]

    def __contains__(self, name: object) -> bool:
        return name in self.ranks

    def __len__(self) -> int:
        return len(self.ranks)


def _read_tsv(path: Path) -> PopularCorpus:
    names: list[str] = []
    ranks: list[int] = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise CorpusError(f"{path}: empty file")
        columns = [column.strip().lower() for column in header]
        if "name" not in columns:
            raise CorpusError(f"{path}: no 'name' column in the header")
        name_col = columns.index("name")
        rank_col = columns.index("rank") if "rank" in columns else None
        for line_no, row in enumerate(reader, start=2):
            if len(row) <= name_col or not row[name_col].strip():
                continue
            names.append(row[name_col])
            if rank_col is None:
                ranks.append(len(ranks) + 1)
                continue
            try:
                ranks.append(int(row[rank_col]))
            except (ValueError, IndexError) as exc:
                raise CorpusError(f"{path}: line {line_no}: rank is not a number") from exc
    return PopularCorpus.from_names(names, ranks=ranks, version=path.name)


def _read_top_pypi_json(path: Path) -> PopularCorpus:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    rows = payload.get("rows") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        raise CorpusError(f"{path}: expected a top-pypi-packages object with a 'rows' list")
    projects = [row["project"] for row in rows if isinstance(row, dict) and row.get("project")]
    if isinstance(payload, dict) and payload.get("last_update"):
        version = f"top-pypi-packages {payload['last_update']}"
    else:
        version = path.name
    return PopularCorpus.from_names(projects, version=version)


def read_corpus(path: str | os.PathLike[str]) -> PopularCorpus:
    """Read a popular-projects list: TSV with a ``name`` (and optional ``rank``) column, or JSON."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            start = handle.read(64).lstrip()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from exc
    if start.startswith(b"{"):
        return _read_top_pypi_json(path)
    try:
        return _read_tsv(path)
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text") from exc


@lru_cache(maxsize=1)
def shipped_corpus() -> PopularCorpus:
    """The popular projects Warden ships with (loaded once per process)."""
    return read_corpus(SHIPPED_POPULAR)


def write_corpus(corpus: PopularCorpus, dest: str | os.PathLike[str] = SHIPPED_POPULAR) -> Path:
    """Write ``corpus`` as ``rank<TAB>name`` atomically (temp file, then rename)."""
    dest = Path(dest)
    rows = sorted(corpus.ranks.items(), key=lambda item: (item[1], item[0]))
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".popular-", suffix=".tsv")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write("rank\tname\n")
        handle.writelines(f"{rank}\t{name}\n" for name, rank in rows)
    os.replace(tmp, dest)
    shipped_corpus.cache_clear()
    return dest

"""Lookup tables over the popular corpus, built once, so a query never loops over the corpus.

Candidate targets for edit-distance matches come from a symmetric deletion
neighbourhood (as in SymSpell): every popular name is stored under itself and
each string one (and, for longer names, two) deletions away; a query looks up
its own deletions, so any popular name within Damerau-Levenshtein 2 is found
with a few dozen dictionary lookups.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from detector.names.deletion_hash import group_by_length, variant_hashes
from detector.names.normalize import skeleton, squashed, words
from detector.names.rules import NameRules
from detector.popular import PopularCorpus

# Popular names at least this long are also indexed two deletions deep (for DL-2 queries).
DL2_MIN_TARGET_LENGTH = 6
# The hits of a name that shares no deletion variant with a popular name (never mutated).
_NO_IDS: frozenset[int] = frozenset()
# Bump when the layout of the cached deletion table changes.
_INDEX_FORMAT = 6
# The str -> names tables of the index, stored in the cache's JSON header.
_GROUPS = ("squashed", "skeletons", "word_sets", "cores", "word_prefixes")


def _group(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: defaultdict[str, list[str]] = defaultdict(list)
    for key, target in pairs:
        grouped[key].append(target)
    return {key: list(dict.fromkeys(targets)) for key, targets in grouped.items()}


@dataclass(frozen=True)
class NameIndex:
    corpus: PopularCorpus
    rules: NameRules
    names: tuple[str, ...]  # target id -> canonical name, in rank order
    # Ids past the names are affix cores of popular names that are not popular themselves
    # (`opencv` of `opencv-python`), so a typo of a core is found by the same lookup.
    entries: tuple[str, ...]
    # Per variant length: sorted hashes of every deletion variant, and the target id of each.
    # Keeping one small table per length makes lookups cache-friendly.
    delete_tables: dict[int, tuple[np.ndarray, np.ndarray]]
    # Per variant length: a bit set over the top bits of the keys. Most variants of a query
    # match nothing; the bit set turns them away before the binary search.
    delete_filters: dict[int, np.ndarray]
    squashed: dict[str, list[str]]
    skeletons: dict[str, list[str]]
    word_sets: dict[str, list[str]]
    cores: dict[str, list[str]]
    word_prefixes: dict[str, list[str]]
    family_size: dict[str, int]

    def neighbours(self, names: list[str], depths: list[int]) -> list[AbstractSet[int]]:
        """Ids of popular names sharing a deletion variant with each name (a superset of
        those within Damerau-Levenshtein ``depth``; callers verify the distance).

        Most names share no variant with any popular name: their hits stay one shared
        empty set, and the hits of the rest are gathered with array operations."""
        groups: dict[tuple[int, int], list[int]] = {}
        for position, (name, depth) in enumerate(zip(names, depths, strict=True)):
            if name.isascii():
                groups.setdefault((len(name), depth), []).append(position)
        owners: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        for (length, depth), positions in groups.items():
            where = np.asarray(positions, dtype=np.int64)
            blocks = variant_hashes([names[p] for p in positions], length, depth)
            for deleted, block in enumerate(blocks):
                table = self.delete_tables.get(length - deleted)
                if table is None:
                    continue
                keys, ids = table
                flat = block.ravel()
                maybe = _filter_hits(self.delete_filters[length - deleted], flat)
                if not len(maybe):
                    continue
                # Sorted needles: the binary searches walk the table in order (cache-friendly,
                # about a quarter faster than in query order).
                order = np.argsort(flat[maybe])
                maybe = maybe[order]
                needles = flat[maybe]
                lo = np.searchsorted(keys, needles, "left")
                hit = np.nonzero(keys[np.minimum(lo, len(keys) - 1)] == needles)[0]
                if not len(hit):
                    continue
                start = lo[hit]
                counts = np.searchsorted(keys, needles[hit], "right") - start
                # Every id in keys[start:stop] for every hit, with the query it belongs to.
                offsets = np.arange(int(counts.sum())) - np.repeat(
                    np.cumsum(counts) - counts, counts
                )
                targets.append(ids[np.repeat(start, counts) + offsets])
                owners.append(np.repeat(where[maybe[hit] // block.shape[1]], counts))
        found: list[AbstractSet[int]] = [_NO_IDS] * len(names)
        if owners:
            owner = np.concatenate(owners)
            target = np.concatenate(targets)
            order = np.argsort(owner, kind="stable")
            owner, target = owner[order], target[order]
            bounds: list[int] = [0, *(np.nonzero(np.diff(owner))[0] + 1).tolist(), len(owner)]
            owners_list, targets_list = owner.tolist(), target.tolist()
            for first, last in pairwise(bounds):
                found[owners_list[first]] = set(targets_list[first:last])
        return found

    @classmethod
    def build(cls, corpus: PopularCorpus, rules: NameRules) -> NameIndex:
        """The index for ``corpus``, from the user cache when this exact corpus and rule set
        were indexed before (building takes a second or two; loading, milliseconds).
        Set WARDEN_CACHE_DIR="" to turn the cache off."""
        names = sorted(corpus.ranks, key=lambda name: (corpus.ranks[name], name))
        digest = hashlib.sha256(
            f"{_INDEX_FORMAT}|{DL2_MIN_TARGET_LENGTH}|{_fingerprint(rules)}|".encode()
            + "\n".join(f"{name}:{corpus.ranks[name]}" for name in names).encode()
        ).hexdigest()[:24]
        directory = _cache_dir()
        path = directory / f"names-index-{digest}.npz" if directory else None
        if path is not None and path.is_file():
            cached = _read_cache(path, corpus, rules)
            if cached is not None:
                return cached
        index = cls._build(names, corpus, rules)
        if path is not None:
            _write_cache(path, index)
        return index

    @classmethod
    def _build(cls, names: list[str], corpus: PopularCorpus, rules: NameRules) -> NameIndex:
        cores = _group((core, name) for name in names for core in affix_cores(name, rules))
        extra = sorted(core for core in cores if core not in corpus and len(core) >= 5)
        entries = [*names, *extra]
        delete_tables = _deletion_tables(entries)
        families: defaultdict[str, int] = defaultdict(int)
        for name in names:
            parts = words(name)
            if len(parts) > 1:
                families[parts[0]] += 1
        return cls(
            corpus=corpus,
            rules=rules,
            names=tuple(names),
            entries=tuple(entries),
            delete_tables=delete_tables,
            delete_filters={n: _bit_filter(keys) for n, (keys, _) in delete_tables.items()},
            squashed=_group((squashed(name), name) for name in names),
            skeletons=_group((skeleton(name, rules), name) for name in names),
            word_sets=_group(
                ("-".join(sorted(words(name))), name) for name in names if len(words(name)) > 1
            ),
            cores=cores,
            word_prefixes=_group(
                (prefix, name) for name in names for prefix in word_prefixes(name)
            ),
            family_size=dict(families),
        )


def affix_cores(name: str, rules: NameRules) -> list[str]:
    """What is left of ``name`` after dropping one affix word (or a glued prefix/suffix)."""
    cores: list[str] = []
    if "-" in name:
        first, _, rest = name.partition("-")
        if first in rules.affixes:
            cores.append(rest)
        head, _, last = name.rpartition("-")
        if last in rules.affixes:
            cores.append(head)
    if name.startswith(rules.glued_prefixes):
        for prefix in rules.glued_prefixes:
            rest = name[len(prefix) :]
            if name.startswith(prefix) and len(rest) >= 3 and rest[0] != "-":
                cores.append(rest)
    if name.endswith(rules.glued_suffixes):
        for suffix in rules.glued_suffixes:
            rest = name[: -len(suffix)]
            if name.endswith(suffix) and len(rest) >= 3 and rest[-1] != "-":
                cores.append(rest)
    if name[-1].isdigit():
        # A trailing version number glued on or after a separator: `foo2`, `foo-3`.
        stripped = name.rstrip("0123456789").rstrip("-")
        if len(stripped) >= 3:
            cores.append(stripped)
    if not cores:
        return cores
    return [core for core in dict.fromkeys(cores) if core and core != name]


def word_prefixes(name: str) -> list[str]:
    """Leading runs of whole words (`django-server` of `django-server-guardian-api`)."""
    parts = words(name)
    return ["-".join(parts[:k]) for k in range(1, len(parts)) if len("-".join(parts[:k])) >= 5]


def _deletion_tables(names: list[str]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    keys: dict[int, list[np.ndarray]] = {}
    ids: dict[int, list[np.ndarray]] = {}
    for length, positions in group_by_length(names).items():
        depth = 2 if length >= DL2_MIN_TARGET_LENGTH else 1
        owners = np.asarray(positions, dtype=np.int32)
        blocks = variant_hashes([names[p] for p in positions], length, depth)
        for deleted, block in enumerate(blocks):
            keys.setdefault(length - deleted, []).append(block.ravel())
            ids.setdefault(length - deleted, []).append(np.repeat(owners, block.shape[1]))
    tables = {}
    for variant_length, parts in keys.items():
        key_array = np.concatenate(parts)
        order = np.argsort(key_array, kind="stable")
        tables[variant_length] = (key_array[order], np.concatenate(ids[variant_length])[order])
    return tables


_FILTER_BITS = 20
_FILTER_SHIFT = np.uint64(64 - _FILTER_BITS)


def _bit_filter(keys: np.ndarray) -> np.ndarray:
    slots = (keys >> _FILTER_SHIFT).astype(np.int64)
    bits = np.zeros(1 << (_FILTER_BITS - 3), dtype=np.uint8)
    np.bitwise_or.at(bits, slots >> 3, np.left_shift(1, slots & 7).astype(np.uint8))
    return bits


# Hashes tested against a bit set at a time: each step's temporaries then stay in the CPU
# cache instead of streaming through memory (measured about twice as fast as one pass
# over a few million hashes).
_FILTER_CHUNK = 32_768


def _in_filter(bits: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    slots = (hashes >> _FILTER_SHIFT).astype(np.int64)
    return (bits[slots >> 3] >> (slots & 7).astype(np.uint8)) & 1


def _filter_hits(bits: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Positions in ``hashes`` whose bit is set in ``bits``, in order."""
    if len(hashes) <= _FILTER_CHUNK:
        return np.nonzero(_in_filter(bits, hashes))[0]
    parts = [
        np.nonzero(_in_filter(bits, hashes[start : start + _FILTER_CHUNK]))[0] + start
        for start in range(0, len(hashes), _FILTER_CHUNK)
    ]
    return np.concatenate(parts)


def _cache_dir() -> Path | None:
    configured = os.environ.get("WARDEN_CACHE_DIR")
    if configured == "":
        return None
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "warden"


def _fingerprint(rules: NameRules) -> str:
    """A description of ``rules`` that is the same in every process (sets sorted)."""
    parts = []
    for value in vars(rules).values():
        if isinstance(value, frozenset):
            value = sorted("".join(sorted(v)) if isinstance(v, frozenset) else v for v in value)
        parts.append(repr(value))
    return "|".join(parts)


def _write_cache(path: Path, index: NameIndex) -> None:
    """Arrays plus a JSON header in one ``.npz``: reading it back runs no code (no pickle).

    The per-length tables are packed into three arrays (with their offsets in the header):
    reading five zip members instead of one per table and length halves the load time."""
    lengths = sorted(index.delete_tables)
    sizes = [len(index.delete_tables[n][0]) for n in lengths]
    header = {"format": _INDEX_FORMAT, "names": index.names, "entries": index.entries,
              "family_size": index.family_size, "lengths": lengths, "sizes": sizes,
              **{group: getattr(index, group) for group in _GROUPS}}
    empty64, empty32 = np.zeros(0, np.uint64), np.zeros(0, np.int32)
    arrays = {
        "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
        "keys": np.concatenate([index.delete_tables[n][0] for n in lengths] or [empty64]),
        "ids": np.concatenate([index.delete_tables[n][1] for n in lengths] or [empty32]),
        "filters": np.stack([index.delete_filters[n] for n in lengths])
        if lengths else np.zeros((0, 0), np.uint8),
    }
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        # no writable cache: build again next time


def _read_cache(path: Path, corpus: PopularCorpus, rules: NameRules) -> NameIndex | None:
    """The cached index, or None when the file is damaged or of another format."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(data["header"].tobytes().decode())
            if header.get("format") != _INDEX_FORMAT:
                return None
            keys, ids, filters = data["keys"], data["ids"], data["filters"]
        lengths, sizes = header["lengths"], header["sizes"]
        bounds = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).tolist()
        tables = {
            n: (keys[bounds[k] : bounds[k + 1]], ids[bounds[k] : bounds[k + 1]])
            for k, n in enumerate(lengths)
        }
        return NameIndex(
            corpus=corpus,
            rules=rules,
            names=tuple(header["names"]),
            entries=tuple(header["entries"]),
            delete_tables=tables,
            delete_filters={n: filters[k] for k, n in enumerate(lengths)},
            family_size=header["family_size"],
            # JSON arrays stay lists: the checks only iterate over them.
            **{group: header[group] for group in _GROUPS},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, IndexError,
            zipfile.BadZipFile):
        return None  # a damaged or stale cache file is rebuilt by the caller

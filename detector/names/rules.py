"""Loads the name signal's data (``data/name_rules.toml``): look-alikes, keyboard, affixes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache

from detector.resources import data_path


@dataclass(frozen=True)
class NameRules:
    confusables: tuple[tuple[str, str], ...]  # (sequence, fold), longest sequences first
    homoglyphs: frozenset[frozenset[str]]
    keyboard: frozenset[frozenset[str]]
    affixes: frozenset[str]
    glued_prefixes: tuple[str, ...]
    glued_suffixes: tuple[str, ...]
    # Derived from ``confusables`` by ``load_rules``: sequences folded first, then a
    # translation table for single characters (`skeleton` applies both).
    fold_sequences: tuple[tuple[str, str], ...] = ()
    fold_table: dict[int, str] = field(default_factory=dict, compare=False)
    # ``fold_table`` as a bytes table for ASCII names (empty when a fold is not one ASCII
    # character): ``bytes.translate`` is about four times faster than ``str.translate``.
    fold_bytes: bytes = field(default=b"", compare=False)

    def is_homoglyph(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.homoglyphs

    def is_keyboard_neighbour(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.keyboard


def _keyboard_pairs(rows: list[str], extra: list[str]) -> set[frozenset[str]]:
    """Horizontal neighbours plus the keys diagonally below (QWERTY staggered rows)."""
    pairs: set[frozenset[str]] = {frozenset(pair) for pair in extra}
    for r, row in enumerate(rows):
        for i, key in enumerate(row):
            if i + 1 < len(row):
                pairs.add(frozenset((key, row[i + 1])))
            if r + 1 < len(rows):
                below = rows[r + 1]
                for j in (i - 1, i):
                    if 0 <= j < len(below):
                        pairs.add(frozenset((key, below[j])))
    return pairs


@lru_cache(maxsize=4)
def load_rules(ecosystem: str = "pypi") -> NameRules:
    """Rules for one ecosystem; ``pypi`` and ``npm`` add their own affixes to the common ones."""
    with open(data_path("name_rules.toml"), "rb") as handle:
        raw = tomllib.load(handle)
    confusables = sorted(raw["confusables"].items(), key=lambda item: -len(item[0]))
    affix_table = raw["affixes"]
    suffix = "" if ecosystem == "pypi" else f"_{ecosystem}"
    singles = {seq: fold for seq, fold in confusables if len(seq) == 1}
    ascii_singles = {seq: fold for seq, fold in singles.items() if seq.isascii()}
    byte_folds = all(len(fold) == 1 and fold.isascii() for fold in ascii_singles.values())
    return NameRules(
        confusables=tuple(confusables),
        fold_sequences=tuple(pair for pair in confusables if len(pair[0]) > 1),
        fold_table=str.maketrans(singles),
        fold_bytes=bytes.maketrans("".join(ascii_singles).encode(),
                                   "".join(ascii_singles.values()).encode())
        if byte_folds else b"",
        homoglyphs=frozenset(frozenset(pair) for pair in raw["homoglyphs"]["pairs"]),
        keyboard=frozenset(
            _keyboard_pairs(raw["keyboard"]["rows"], raw["keyboard"]["extra_pairs"])
        ),
        affixes=frozenset(affix_table["common"]) | frozenset(affix_table.get(ecosystem, [])),
        glued_prefixes=tuple(affix_table["glued_prefixes"])
        + tuple(affix_table.get(f"glued_prefixes{suffix}", []) if suffix else ()),
        glued_suffixes=tuple(affix_table["glued_suffixes"])
        + tuple(affix_table.get(f"glued_suffixes{suffix}", []) if suffix else ()),
    )

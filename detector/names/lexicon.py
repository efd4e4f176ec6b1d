"""What the parts of names mean: word statistics of live names and the affixes squats use.

Two pieces of shipped data, both built by scripts from dated lists, both read without
pickle:

- **Tokens** (``data/name_tokens.npz``, ``scripts/build_name_tokens.py``): in how many live
  PyPI names each word occurs (words are the ``-``-separated parts of a canonical name;
  only words found in a few names are kept), and for each popular name how many live
  names start or end with it. This says whether what a look-alike adds or changes is a
  word people use in names (`lab`, `2`, `cli`, `utils`) or noise (`cordv`, `gamke`), and
  how common "brand plus something" is for that brand (`django-*` thousands of times,
  `*control` rarely).
- **Affixes** (``data/name_affixes.json``, ``scripts/refresh_name_attacks.py``, next to the
  attack history): what squats added to the popular names they imitate (`-new`, `-tools`,
  `py`, `2022-`), each weighted ``0.5 ** (age / half_life)`` as the attack history is. Set
  against how common the same word is in live names, this is the log-odds that an affix
  is an attacker's.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np

from detector.resources import data_path

SHIPPED_TOKENS = data_path("name_tokens.npz")
SHIPPED_AFFIXES = data_path("name_affixes.json")
# Words found in fewer live names than this are not stored (they read as noise).
MIN_TOKEN_NAMES = 2
# Pieces of a glued word must each be found in this many names to count as a compound.
COMPOUND_MIN_NAMES = 20
# Smoothing of the affix log-odds (pseudo-counts on both sides).
AFFIX_PRIOR = 1.0
_FORMAT = 1


def wordness_bin(frequency: int) -> str:
    """A word's frequency among live names, binned: 0, rare, some, common."""
    if frequency <= 0:
        return "0"
    if frequency < 10:
        return "rare"
    if frequency < 100:
        return "some"
    return "common"


@dataclass(frozen=True)
class Lexicon:
    """Word frequencies of live names, brand-pattern counts and squats' affix weights."""

    names: int = 0  # live names counted
    tokens: dict[str, int] = field(default_factory=dict)
    # popular name -> live names starting (ending) with it, something added
    prefixes: dict[str, int] = field(default_factory=dict)
    suffixes: dict[str, int] = field(default_factory=dict)
    affixes: dict[str, float] = field(default_factory=dict)  # added part -> decayed squat count
    affix_total: float = 0.0

    def frequency(self, word: str) -> int:
        return self.tokens.get(word, 0)

    def wordness(self, part: str) -> str:
        """How word-like ``part`` is: the bin of its rarest word, ``compound`` for a glued
        pair of common words (`libgrand` is `lib` + `grand`), ``none`` for nothing."""
        if not part:
            return "none"
        words = [word for word in part.split("-") if word]
        if not words:
            return "none"
        least = min(self.tokens.get(word, 0) for word in words)
        if least == 0 and len(words) == 1 and self._compound(words[0]):
            return "compound"
        return wordness_bin(least)

    def _compound(self, word: str) -> bool:
        tokens = self.tokens
        for cut in range(2, len(word) - 1):
            if (tokens.get(word[:cut], 0) >= COMPOUND_MIN_NAMES
                    and tokens.get(word[cut:], 0) >= COMPOUND_MIN_NAMES):
                return True
        return False

    def brand_crowd(self, target: str, at_start: bool) -> float:
        """``log1p`` of how many live names start (or end) with ``target``."""
        table = self.prefixes if at_start else self.suffixes
        return math.log1p(table.get(target, 0))

    def affix_odds(self, added: str) -> float:
        """Log-odds that ``added`` (what a name adds to a popular one) is a squat's affix:
        its share among squats' affixes against its share among live names' words."""
        if not added or self.affix_total <= 0 or self.names <= 0:
            return 0.0
        squats = self.affixes.get(added, 0.0)
        live = self.tokens.get(added, 0)
        return math.log((squats + AFFIX_PRIOR) / (self.affix_total + AFFIX_PRIOR)) - math.log(
            (live + AFFIX_PRIOR) / (self.names + AFFIX_PRIOR)
        )


def token_counts(names: Iterable[str]) -> tuple[int, Counter[str]]:
    """(number of names, in how many names each word occurs) over canonical names."""
    counts: Counter[str] = Counter()
    total = 0
    for name in names:
        total += 1
        counts.update(set(name.split("-")))
    return total, counts


def brand_counts(
    names: Iterable[str], brands: Iterable[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """For each brand, how many of ``names`` start with it, and how many end with it
    (something added; the brand itself is not counted)."""
    forward = sorted(set(names))
    backward = sorted(name[::-1] for name in forward)
    prefixes, suffixes = {}, {}
    for brand in brands:
        starting = _count_prefixed(forward, brand)
        ending = _count_prefixed(backward, brand[::-1])
        if starting:
            prefixes[brand] = starting
        if ending:
            suffixes[brand] = ending
    return prefixes, suffixes


def _count_prefixed(ordered: list[str], prefix: str) -> int:
    from bisect import bisect_left

    lo = bisect_left(ordered, prefix)
    hi = bisect_left(ordered, prefix + "\x7f")
    own = 1 if lo < len(ordered) and ordered[lo] == prefix else 0
    return hi - lo - own


def affix_weights(
    events: Iterable[tuple[str, str]], as_of: str, half_life_days: float
) -> dict[str, float]:
    """Decayed counts of (added part, first_seen) pairs seen on or before ``as_of``."""
    cut = date.fromisoformat(as_of)
    weights: defaultdict[str, float] = defaultdict(float)
    for added, seen in events:
        when = date.fromisoformat(seen[:10])
        if when > cut or not added:
            continue
        weights[added] += 0.5 ** ((cut - when).days / half_life_days)
    return {key: round(value, 4) for key, value in sorted(weights.items())}


def save_tokens(path: Path, names: int, tokens: Counter[str], prefixes: dict[str, int],
                suffixes: dict[str, int], note: str) -> None:
    """Words (with their counts) and brand counts as plain arrays in one ``.npz``."""
    kept = sorted(word for word, count in tokens.items() if count >= MIN_TOKEN_NAMES)
    brands = sorted(set(prefixes) | set(suffixes))
    header = json.dumps({"format": _FORMAT, "names": names, "note": note})
    with open(path, "wb") as handle:
        np.savez_compressed(
            handle,
            header=np.frombuffer(header.encode(), dtype=np.uint8),
            words=np.frombuffer("\n".join(kept).encode(), dtype=np.uint8),
            counts=np.asarray([tokens[word] for word in kept], dtype=np.uint32),
            brands=np.frombuffer("\n".join(brands).encode(), dtype=np.uint8),
            brand_counts=np.asarray(
                [[prefixes.get(b, 0), suffixes.get(b, 0)] for b in brands], dtype=np.uint32
            ).reshape(-1, 2),
        )


def save_affixes(path: Path, weights: dict[str, float], as_of: str, half_life_days: float) -> None:
    path.write_text(json.dumps({
        "note": "written by scripts/refresh_name_attacks.py; do not edit by hand",
        "as_of": as_of,
        "half_life_days": half_life_days,
        "affixes": weights,
    }, indent=1) + "\n", encoding="utf-8")


def build(
    live_names: Iterable[str],
    brands: Iterable[str],
    affix_events: Iterable[tuple[str, str]] = (),
    as_of: str = "9999-12-31",
    half_life_days: float = 365.0,
) -> Lexicon:
    """A lexicon straight from names (the forward run builds one from before its cut)."""
    live = list(live_names)
    total, tokens = token_counts(live)
    prefixes, suffixes = brand_counts(live, brands)
    affixes = affix_weights(affix_events, as_of, half_life_days)
    return Lexicon(
        names=total,
        tokens={word: count for word, count in tokens.items() if count >= MIN_TOKEN_NAMES},
        prefixes=prefixes,
        suffixes=suffixes,
        affixes=affixes,
        affix_total=float(sum(affixes.values())),
    )


EMPTY_LEXICON = Lexicon()


@lru_cache(maxsize=4)
def load_lexicon(tokens_path: str | None = None, affixes_path: str | None = None) -> Lexicon:
    """The shipped lexicon (absent files give empty parts: every word reads as noise-free
    ``0`` and no affix weighs anything)."""
    tokens_file = Path(tokens_path) if tokens_path else SHIPPED_TOKENS
    affixes_file = Path(affixes_path) if affixes_path else SHIPPED_AFFIXES
    names, tokens, prefixes, suffixes = 0, {}, {}, {}
    if tokens_file.is_file():
        with np.load(tokens_file, allow_pickle=False) as data:
            header = json.loads(data["header"].tobytes().decode())
            if header.get("format") == _FORMAT:
                names = int(header["names"])
                words = data["words"].tobytes().decode().split("\n")
                tokens = dict(zip(words, data["counts"].tolist(), strict=True))
                brands = data["brands"].tobytes().decode().split("\n")
                pairs = data["brand_counts"].tolist()
                prefixes = {b: p for b, (p, _) in zip(brands, pairs, strict=True) if p}
                suffixes = {b: s for b, (_, s) in zip(brands, pairs, strict=True) if s}
    affixes: dict[str, float] = {}
    if affixes_file.is_file():
        raw = json.loads(affixes_file.read_text(encoding="utf-8"))
        affixes = {str(k): float(v) for k, v in raw["affixes"].items()}
    return Lexicon(names, tokens, prefixes, suffixes, affixes, float(sum(affixes.values())))

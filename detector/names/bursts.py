"""Bursts: many names in one window glued from the same pieces, each near a popular name.

A sweep (``detector.sweeps``) is several names imitating ONE target. A generator does
something else: in the week of 2023-02-20 one registered 4,108 names in days, glued from a
small vocabulary (`pyw`, `tp`, `cc`, `info`, `lib`, `control`...), and those that landed
near a popular name each landed near a different one (`pywurl` by `pycurl`, `pywvisa` by
`pyvisa`, `tpedinfo` by `tpu-info`, `grandlib` by `graphlib`). Alone each scores 0.05-0.2;
what gives them away is the burst: in one window, far more names start (and end) with
the same pieces than live names ever do.

**Pieces.** A name's start pieces are its first ``burst_piece_min``..``burst_piece_max``
characters and its end pieces its last ones, separators removed (`tpedinfo`: `^tp`,
`^tpe`, ..., `fo$`, `nfo$`, `info$`...), after one leading ecosystem word and its separator
(``LEAD_WORDS``: `py-`, `python-`, `lib-`, the glued prefixes of ``data/name_rules.toml``):
the same generator registered `py-libstring` beside `libgrandstring`, and one live name in
sixteen opens with `py`, so the start the names share would be hidden. How many live
names carry each piece is shipped data (``data/name_pieces.npz``,
``scripts/build_name_tokens.py``), built from live names only: no list of bad words. A
piece found in fewer than ``MIN_PIECE_NAMES`` live names is not stored and counts as found
in that many (the cautious side).

**Burst pieces.** In a window of ``n`` distinct names, a piece carried by ``k`` of the
others is a burst piece when ``k >= burst_min_names`` and ``k >= burst_min_ratio x n x
share``, ``share`` its share of live names: the window holds it far beyond chance. In a
big window a smaller ratio is as telling: the piece is also a burst piece when ``k`` or
more names would occur with a probability below ``burst_significance`` were it carried
at ``burst_significant_ratio`` times its live share (Poisson; ``significant``). The
ratio keeps a fashion apart: pieces that new names carry a few times more often than
the live names counted did (`-sdk`, `-mcp` in 2025 against names before 2023).

**Members and the boost.** A name is raised when both its start and its end are burst
pieces and it is a member: its best match scores at least ``burst_min_score`` alone, or
it holds a popular name (``combo_min_length``+ characters) whole at one end, glued to a
rest without separators (`grandcontrol`, `tpvercontrol`, `pywcontrol`: a generator's
combosquats, which no name check scores; ``Brands.glued``). Requiring both ends is what
sets a generator apart from a family: an organisation releasing `acme-core`,
`acme-cli`, `acme-utils` together shares a start, but its ends are ordinary words that
the window holds at their usual rate; a generator gluing pieces by the thousand shares
both. The name's logit gains ``burst_boost x k / (k + burst_half_names)``, ``k`` the
names sharing the less shared of its two pieces, on its score before the burst, or on
``burst_glued_floor`` if that is higher and the name holds a glued popular name; its
reason names the pieces, the popular name and the first of the names sharing them.

**Crossed pieces.** Each of the two pieces must also be a burst piece among the names
of the window that do not carry the other: a generator recombines its pieces (`grand`
with `lib`, `string`, `control`; `control` after `grand`, `tpver`, `kill`), while a
family that shares both (`google-docs-ti`, `google-drive-ti`, `google-sheets-ti`) holds
them only together. (Forward split, later live names each month sorted by name / by
reversed name: live names raised 0.015% → 0.010% / 0.036% → 0.028%, typosquat recall
unchanged at random arrival.)

**Windows** are those of sweeps: with times, the names at most ``sweep_window_hours``
before a name or at the same time (so the first names of a burst gain nothing and later
ones more, and the answer depends only on the times); without times, the whole batch, if
it holds at most ``sweep_batch_names`` names. O(n) in the batch's pieces plus a sort.
A stream sees the same windows name by name through ``BurstMemory``
(``detector/names/burst_memory.py``), on the same piece and threshold code
(``pieces``, ``burst_hit``, ``make_burst``).
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from detector.names.results import NameResult
from detector.names.rules import load_rules
from detector.policy import NamesPolicy, resolve
from detector.popular import shipped_corpus
from detector.resources import data_path
from detector.sweeps import DistinctNames, listed_text, logit_raised, window_text

SHIPPED_PIECES = data_path("name_pieces.npz")
# Pieces of live names are stored from this many names on; rarer ones count as this many.
MIN_PIECE_NAMES = 10
# Piece lengths the shipped counts cover (the policy's lengths must lie within them).
STORED_LENGTHS = (2, 6)
HOUR = 3600.0
# Rows looked at per piece to list a reason's names (enough for sweep_listed up to this).
_LISTED_MAX = 32
# 2: pieces are taken after a leading ecosystem word (``without_lead``); 3: with the
# counts of live names gluing each popular name (``PieceCounts.glued``).
_FORMAT = 3
# A popular name glued by fewer live names counts as glued by this many (``glued_share``).
MIN_GLUED_NAMES = 3
# The shortest word of a pair of popular names (``Brands.paired``; ``PieceCounts.pairs``
# counts the live names that are pairs this way, so it is data, not policy).
PAIR_WORD_MIN = 3
# Words a name may open with, with a separator, that say only which ecosystem it is for.
LEAD_WORDS = frozenset(load_rules("pypi").glued_prefixes)


def without_lead(normalized: str) -> str:
    """A canonical name without one leading ``LEAD_WORDS`` word and its separator
    (`py-libstring`: `libstring`; `pylint`, `py-` and `python` stay as they are).
    Forward split: combosquat recall at 0.3% 39.8% -> 44.9%, the live names bursts raise
    unchanged (0.000% / 0.013% / 0.039% -> 0.040% in the three arrival orders)."""
    head, separator, rest = normalized.partition("-")
    return rest if separator and rest and head in LEAD_WORDS else normalized


def pieces(normalized: str, shortest: int, longest: int) -> tuple[list[str], list[str]]:
    """(start pieces ``^ab``..., end pieces ``yz$``...) of a canonical name: the first and
    last ``shortest``..``longest`` characters of ``without_lead(normalized)`` with
    separators removed, never the whole. The marks spell them as the statistics do: a
    name's start and end pieces never collide."""
    compact = "^" + without_lead(normalized).replace("-", "") + "$"
    top = min(longest, len(compact) - 3) + 1
    return ([compact[: size + 1] for size in range(shortest, top)],
            [compact[-size - 1 :] for size in range(shortest, top)])


def piece_counts(names: Iterable[str], shortest: int = STORED_LENGTHS[0],
                 longest: int = STORED_LENGTHS[1]) -> tuple[int, Counter[str]]:
    """(number of names, in how many of them each piece occurs) over canonical names."""
    counts: Counter[str] = Counter()
    total = 0
    for name in names:
        total += 1
        start, end = pieces(name, shortest, longest)
        counts.update(start)
        counts.update(end)
    return total, counts


@dataclass(frozen=True)
class PieceCounts:
    """How many live names carry each piece (``pieces``), out of ``names``; and how many
    hold each popular name glued at one end (``glued``, ``Brands.glued``: what runs,
    ``detector.names.runs``, weigh)."""

    names: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    glued: dict[str, int] = field(default_factory=dict)
    # How many are two popular names joined by a separator (``Brands.paired``; 0: not
    # counted, as in a file written before ``detector.names.pairs``).
    pairs: int = 0

    @classmethod
    def build(cls, names: Iterable[str], brands: Brands | None = None) -> PieceCounts:
        """The counts over canonical ``names``; ``brands``: the popular names looked for
        glued (the shipped corpus's at the shipped ``combo_min_length`` by default)."""
        names = list(names)
        total, counts = piece_counts(names)
        brands = brands or shipped_brands(resolve(None).names.combo_min_length)
        glued = Counter(brand for name in names if (brand := brands.glued(name)))
        pairs = sum(1 for name in names if brands.paired(name) is not None)
        return cls(total, {p: c for p, c in counts.items() if c >= MIN_PIECE_NAMES},
                   dict(glued), pairs)

    def glued_share(self, brand: str) -> float:
        """The share of live names holding ``brand`` glued at one end (at least
        ``MIN_GLUED_NAMES``'s: a popular name no live name glues, or one newer than the
        counts, is not taken as never glued)."""
        if self.names <= 0:
            return 1.0
        return max(self.glued.get(brand, 0), MIN_GLUED_NAMES) / self.names

    def share(self, piece: str) -> float:
        """The share of live names carrying ``piece`` (at least ``MIN_PIECE_NAMES``'s)."""
        if self.names <= 0:
            return 1.0  # no statistics: nothing is ever beyond chance
        return max(self.counts.get(piece, 0), MIN_PIECE_NAMES) / self.names

    def save(self, path: Path, note: str) -> None:
        kept, brands = sorted(self.counts), sorted(self.glued)
        header = json.dumps({"format": _FORMAT, "names": self.names, "note": note,
                             "lead_words": sorted(LEAD_WORDS),
                             "min_names": MIN_PIECE_NAMES, "lengths": list(STORED_LENGTHS),
                             "pair_names": self.pairs, "pair_word_min": PAIR_WORD_MIN})
        with open(path, "wb") as handle:
            np.savez_compressed(
                handle,
                header=np.frombuffer(header.encode(), dtype=np.uint8),
                pieces=np.frombuffer("\n".join(kept).encode(), dtype=np.uint8),
                counts=np.asarray([self.counts[p] for p in kept], dtype=np.uint32),
                glued_names=np.frombuffer("\n".join(brands).encode(), dtype=np.uint8),
                glued_counts=np.asarray([self.glued[b] for b in brands], dtype=np.uint32),
            )


@lru_cache(maxsize=4)
def load_pieces(path: str | None = None) -> PieceCounts:
    """The shipped piece counts (an absent file, or one counted another way: no
    statistics, so no bursts; ``tests/names/test_names_bursts.py`` checks the shipped one)."""
    source = Path(path) if path else SHIPPED_PIECES
    if not source.is_file():
        return PieceCounts()
    with np.load(source, allow_pickle=False) as data:
        header = json.loads(data["header"].tobytes().decode())
        if (header.get("format") != _FORMAT
                or header.get("lead_words") != sorted(LEAD_WORDS)):
            return PieceCounts()
        pairs = (int(header.get("pair_names", 0))
                 if header.get("pair_word_min") == PAIR_WORD_MIN else 0)
        return PieceCounts(int(header["names"]), _table(data, "pieces", "counts"),
                           _table(data, "glued_names", "glued_counts"), pairs)


def _table(data: Any, keys: str, values: str) -> dict[str, int]:
    """A saved dict: its newline-joined keys and their counts."""
    counts = data[values].tolist()
    if not counts:  # "".split gives one empty key
        return {}
    return dict(zip(data[keys].tobytes().decode().split("\n"), counts, strict=True))


@dataclass(frozen=True, slots=True)
class Burst:
    """One name's place in a burst: its two shared pieces, who shares them, its scores."""

    start: str  # the start piece, as `tp`
    end: str  # the end piece, as `info`
    count: int  # names sharing the less shared of the two
    listed: tuple[str, ...]  # the first of them (earliest, or by name)
    individual: float  # the score before the burst
    score: float
    window_hours: float | None  # None: the whole batch was the window
    window_names: int
    brand: str | None = None  # a popular name the name holds glued at one end

    @property
    def reason(self) -> str:
        shown, where = listed_text(self.listed, self.count), window_text(self.window_hours)
        held = (f"; it holds the popular name '{self.brand}' glued to other letters"
                if self.brand else "")
        return (f"burst: {self.count} other names {where} (of {self.window_names}) also start"
                f" with '{self.start}' or end with '{self.end}', far more than among live"
                f" names ({shown}){held}; score {self.individual:.2f} before")

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "count": self.count,
                "names": list(self.listed), "individual_score": self.individual,
                "window_hours": self.window_hours, "window_names": self.window_names,
                "brand": self.brand}


def gained(score: float, count: int, cfg: NamesPolicy, floor: float = 0.0) -> float:
    """``score`` (or ``floor``, if higher) with the burst's gain on its logit."""
    return logit_raised(score, cfg.burst_boost * count / (count + cfg.burst_half_names), floor)


class Brands:
    """The popular names ``glued`` looks for at the ends of a name, indexed by their first
    and last ``shortest`` characters with the lengths found under each, so that a name is
    tested only at lengths that can match (1.2 µs a name over 200,000 PyPI names, against
    2.8 µs trying every length, as ``checker.combo_parts`` does for the combosquat check,
    which wants every popular name at either end and what was added, separators or not)."""

    def __init__(self, popular: Iterable[str], shortest: int) -> None:
        self.popular = frozenset(popular)
        self.shortest = shortest
        heads: dict[str, set[int]] = {}
        tails: dict[str, set[int]] = {}
        for name in self.popular:
            if len(name) >= shortest:
                heads.setdefault(name[:shortest], set()).add(len(name))
                tails.setdefault(name[-shortest:], set()).add(len(name))
        self._heads = {key: sorted(sizes, reverse=True) for key, sizes in heads.items()}
        self._tails = {key: sorted(sizes, reverse=True) for key, sizes in tails.items()}

    def glued(self, normalized: str) -> str | None:
        """The longest popular name of ``shortest``+ characters whole at either end of the
        canonical ``normalized`` (the start's on a tie), the rest one run of letters glued
        to it, without a separator (`grandcontrol`: `control`; `controllib`: `control`),
        after a leading ecosystem word (`py-grandcontrol`: `control`; ``without_lead``).
        Not `discord-manager` (an extension's shape) nor `aws-cdk-aws-route53recoverycontrol`
        (a family's words before it): with the rest allowed separators, later live names
        whose month arrives sorted by reversed name had 0.152% raised by bursts instead of
        0.039%, for 45.1% of the forward combosquats at 0.3% instead of 39.8%. A popular
        name itself holds none (`requests` is no `re` glued to `quests`)."""
        if normalized in self.popular:
            return None
        normalized = without_lead(normalized)
        if normalized in self.popular:
            return None
        length, best = len(normalized), None
        for size in self._heads.get(normalized[: self.shortest], ()):
            if (size < length and "-" not in normalized[size:]
                    and normalized[:size] in self.popular):
                best = normalized[:size]
                break
        for size in self._tails.get(normalized[-self.shortest :], ()):
            if best is not None and size <= len(best):
                break
            if (size < length and "-" not in normalized[:-size]
                    and normalized[-size:] in self.popular):
                return normalized[-size:]
        return best

    def paired(self, normalized: str) -> tuple[str, str] | None:
        """Two popular names of ``PAIR_WORD_MIN``+ characters that canonical ``normalized``
        joins with a separator (`numpy-selenium`, `scikit-learn-matplotlib`), at its first
        separator that makes two, or None (``detector.names.pairs``)."""
        at = normalized.find("-")
        while at >= 0:
            head, tail = normalized[:at], normalized[at + 1 :]
            if (len(head) >= PAIR_WORD_MIN and len(tail) >= PAIR_WORD_MIN
                    and head in self.popular and tail in self.popular):
                return head, tail
            at = normalized.find("-", at + 1)
        return None


@lru_cache(maxsize=4)
def shipped_brands(shortest: int) -> Brands:
    """The shipped corpus's popular names as ``Brands`` (built once per process)."""
    return Brands(shipped_corpus().ranks, shortest)


def is_member(result: NameResult, cfg: NamesPolicy, brands: Brands | None = None) -> bool:
    """A name that may be raised: its best match scores at least ``burst_min_score``, or
    (with a ``burst_glued_floor``) it holds a popular name glued at one end."""
    if cfg.burst_boost <= 0.0 or result.normalized is None or result.error is not None:
        return False
    if result.matches and result.matches[0].score >= cfg.burst_min_score:
        return True
    return cfg.burst_glued_floor > 0.0 and (
        brands or shipped_brands(cfg.combo_min_length)).glued(result.normalized) is not None


Row = tuple[float, str, int]  # (time, canonical name, position)
Split = tuple[list[str], list[str]]  # a name's marked start and end pieces
Hit = tuple[str, str, int]  # (start piece, end piece, names sharing the less shared)
# (start piece, end piece) -> how many of the window's names carry both
Both = Callable[[str, str], int]
Candidates = tuple[list[tuple[str, int]], list[tuple[str, int]]]


def piece_lengths(cfg: NamesPolicy) -> tuple[int, int]:
    """The policy's piece lengths, clamped to the stored counts' (outside them every
    piece would read as rare)."""
    return max(cfg.burst_piece_min, STORED_LENGTHS[0]), min(cfg.burst_piece_max, STORED_LENGTHS[1])


def burst_candidates(split: Split, inside: Counter[str], size: int, cfg: NamesPolicy,
                     stats: PieceCounts, own: int = 1) -> Candidates | None:
    """The name's start and end pieces that are burst pieces, each with how many other
    names of the window carry it, most shared first; None unless both ends have one.

    ``inside``: piece -> distinct names of the window carrying it, ``size`` names in all
    (the name among them); ``own``: 1 when the name itself is counted in ``inside``."""
    starts = _burst_pieces(split[0], inside, size, cfg, stats, own)
    if not starts:
        return None
    ends = _burst_pieces(split[1], inside, size, cfg, stats, own)
    if not ends:
        return None
    return starts, ends


def crossed_hit(candidates: Candidates, inside: Mapping[str, int], both: Both, size: int,
                cfg: NamesPolicy, stats: PieceCounts) -> Hit | None:
    """The most shared (start, end) pair of ``candidates`` whose pieces are each burst
    pieces among the window's names that do not carry the other (module docstring)."""
    best: Hit | None = None
    for start, start_others in candidates[0]:
        for end, end_others in candidates[1]:
            count = min(start_others, end_others)
            if best is not None and count <= best[2]:
                continue
            shared = both(start, end)  # the name itself among them when counted
            if (_beyond(start, inside[start] - shared, size, cfg, stats)
                    and _beyond(end, inside[end] - shared, size, cfg, stats)):
                best = (start, end, count)
    return best


def burst_hit(split: Split, inside: Counter[str], both: Both, size: int, cfg: NamesPolicy,
              stats: PieceCounts, own: int = 1) -> Hit | None:
    """The name's burst pieces when both its start and its end are burst pieces, crossed
    (``burst_candidates``, ``crossed_hit``)."""
    candidates = burst_candidates(split, inside, size, cfg, stats, own)
    return None if candidates is None else crossed_hit(candidates, inside, both, size, cfg,
                                                       stats)


def make_burst(hit: Hit, listed: Iterable[str], name: str, score: float, size: int,
               cfg: NamesPolicy, timed: bool, brands: Brands) -> Burst:
    """The burst of ``name`` (scoring ``score`` before it): ``listed`` the names of the
    window carrying either piece, earliest first (``name`` and repeats are skipped). A
    name holding a popular name of ``brands`` glued at one end scores at least
    ``burst_glued_floor`` before the gain, and its reason names that popular name."""
    brand = brands.glued(name) if cfg.burst_glued_floor > 0.0 else None
    shown: list[str] = []
    for other in listed:
        if other != name and other not in shown:
            shown.append(other)
            if len(shown) == cfg.sweep_listed:
                break
    start_piece, end_piece, count = hit
    floor = cfg.burst_glued_floor if brand else 0.0
    return Burst(start_piece[1:], end_piece[:-1], count, tuple(shown), score,
                 gained(score, count, cfg, floor), cfg.sweep_window_hours if timed else None,
                 size, brand)


def find_bursts(rows: Sequence[Row], members: dict[int, NameResult], cfg: NamesPolicy,
                stats: PieceCounts, timed: bool, brands: Brands | None = None
                ) -> dict[int, Burst]:
    """The bursts of ``members`` (by position) among every name of the batch (``rows``:
    one per name, members among them; time 0 for all in a batch without times);
    ``brands``: the popular names looked for glued (the shipped corpus's by default).

    Two sweeps of the window over the batch, each O(n): the first counts pieces and
    finds the members whose two ends are burst pieces; the second counts, for those
    members' (start, end) pairs only, the names carrying both (the crossed test). Counting
    every pair of every name would hold 16 a name; scanning a piece's carriers for each
    member was quadratic (8,000 names sharing two pieces: 79 CPU-s)."""
    if not members or cfg.burst_boost <= 0.0 or stats.names <= 0:
        return {}
    ordered = sorted(rows)
    times = [row[0] for row in ordered]
    window = cfg.sweep_window_hours * HOUR if timed else math.inf
    lengths = piece_lengths(cfg)
    split = [pieces(name, *lengths) for _, name, _ in ordered]
    # row -> (window's first row, its end, the candidate pieces, their counts, names in it)
    pending: dict[int, tuple[int, int, Candidates, dict[str, int], int]] = {}
    counted = _Window(ordered, split)
    for index, low, high in counted.slide(times, window):
        if ordered[index][2] not in members:
            continue
        size = len(counted.names)
        candidates = burst_candidates(split[index], counted.inside, size, cfg, stats)
        if candidates is not None:
            counts = {piece: counted.inside[piece]
                      for piece, _ in (*candidates[0], *candidates[1])}
            pending[index] = (low, high, candidates, counts, size)
    if not pending:
        return {}
    paired = _Window(ordered, split, {(start, end) for *_, (starts, ends), _, _ in
                                      pending.values() for start, _ in starts for end, _ in ends})
    both_counts: dict[int, dict[tuple[str, str], int]] = {}
    for index, _, _ in paired.slide(times, window):
        if index in pending:
            starts, ends = pending[index][2]
            both_counts[index] = {(start, end): paired.pairs[start, end]
                                  for start, _ in starts for end, _ in ends}
    # One pass over the batch indexes the rows of every candidate piece, for the names a
    # reason lists (the earliest in the window carrying either piece).
    wanted = {piece for *_, counts, _ in pending.values() for piece in counts}
    carriers: dict[str, list[int]] = {piece: [] for piece in wanted}
    for index, (start_pieces, end_pieces) in enumerate(split):
        for piece in (*start_pieces, *end_pieces):
            if piece in wanted:
                carriers[piece].append(index)
    brands = brands or shipped_brands(cfg.combo_min_length)
    found: dict[int, Burst] = {}
    for index, (low, high, candidates, counts, size) in pending.items():
        def both(start: str, end: str, shared: dict[tuple[str, str], int] = both_counts[index]
                 ) -> int:
            return shared[start, end]

        hit = crossed_hit(candidates, counts, both, size, cfg, stats)
        if hit is None:
            continue
        name, position = ordered[index][1], ordered[index][2]
        rows_of = sorted({*_between(carriers[hit[0]], low, high),
                          *_between(carriers[hit[1]], low, high)})
        found[position] = make_burst(hit, (ordered[row][1] for row in rows_of), name,
                                     members[position].score, size, cfg, timed, brands)
    return found


class _Window:
    """The distinct names of a window sliding over a batch, with either how many of them
    carry each piece (``inside``) or, given ``pairs``, how many carry each of those
    (start, end) pairs (``pairs``)."""

    def __init__(self, ordered: Sequence[Row], split: list[Split],
                 pairs: set[tuple[str, str]] | None = None) -> None:
        self.ordered, self.split = ordered, split
        self._distinct = DistinctNames([name for _, name, _ in ordered])
        self.names = self._distinct.inside  # name -> its rows inside the window
        self.inside: Counter[str] = Counter()
        self.pairs: Counter[tuple[str, str]] = Counter()
        self._wanted = pairs
        self._starts = {start for start, _ in pairs} if pairs is not None else set()

    def slide(self, times: list[float], window: float) -> Iterator[tuple[int, int, int]]:
        """Each row in time order with the window ending at it: (row, first row, end)."""
        for index, first, last, entered, left in self._distinct.slide(times, window):
            for row in first:
                self._count(self.split[row], 1)
            for row in last:
                self._count(self.split[row], -1)
            yield index, left.stop, entered.stop

    def _count(self, split: Split, step: int) -> None:
        if self._wanted is None:
            change = self.inside.update if step > 0 else self.inside.subtract
            change(split[0])
            change(split[1])
            return
        for start in split[0]:
            if start in self._starts:
                for end in split[1]:
                    if (start, end) in self._wanted:
                        self.pairs[start, end] += step


def _between(indexes: list[int], low: int, high: int) -> list[int]:
    """The first of ``indexes`` (sorted) in ``[low, high)``, enough to list a reason's
    names (a name may appear twice, and the name itself is among them)."""
    first = bisect_left(indexes, low)
    return [i for i in indexes[first : first + 2 * _LISTED_MAX] if i < high]


def _beyond(piece: str, others: int, size: int, cfg: NamesPolicy, stats: PieceCounts) -> bool:
    """Whether ``others`` names of a window of ``size`` carrying ``piece`` are a burst:
    ``burst_min_ratio`` times chance, or significantly beyond ``burst_significant_ratio``
    times chance (``significant``)."""
    if others < cfg.burst_min_names:
        return False
    chance = size * stats.share(piece)
    return others >= cfg.burst_min_ratio * chance or significant(
        others, cfg.burst_significant_ratio * chance, cfg.burst_significance)


def significant(count: int, mean: float, level: float) -> bool:
    """Whether ``count`` or more is less likely than ``level`` for a Poisson count of mean
    ``mean``. A fixed ratio ignores the window's size: on the generator's busiest day
    (3,254 names) 101 others end with `int` (`libccint`) where 7 were expected, 14x chance,
    below 20x, and yet a chance of 10^-36 even at three times the live share.

    The tail is bounded in closed form, P(X >= k) <= P(X = k) / (1 - mean / (k + 1)) (the
    terms after k fall at least that fast): never below the exact tail, and at most 1.03
    times it once k is three times the mean (measured against SciPy's ``pdtrc``; the
    tests sum the tail term by term). SciPy is not used: it is only in the ``[train]``
    extra, and its import alone adds 0.2 s to ``check-name``'s start-up."""
    if level <= 0.0 or count <= mean:
        return False
    log_tail = (count * math.log(mean) - mean - math.lgamma(count + 1)
                - math.log1p(-mean / (count + 1)))
    return log_tail < math.log(level)


def _burst_pieces(candidates: list[str], inside: Counter[str], size: int, cfg: NamesPolicy,
                  stats: PieceCounts, own: int) -> list[tuple[str, int]]:
    """The burst pieces among ``candidates`` and how many others share each, most shared
    first (the shorter first among equals)."""
    found = [(piece, inside[piece] - own) for piece in candidates]
    found = [(piece, others) for piece, others in found
             if _beyond(piece, others, size, cfg, stats)]
    found.sort(key=lambda item: -item[1])
    return found


def with_burst(result: NameResult, burst: Burst, cfg: NamesPolicy) -> NameResult:
    """``result`` with its score raised, its flag renewed and the burst's reason added."""
    return result.raised(burst.score, burst.reason,
                         {**(result.sweep or {}), "burst": burst.to_dict()}, cfg.flag_threshold)


__all__ = ["LEAD_WORDS", "Brands", "Burst", "PieceCounts", "burst_hit", "find_bursts", "is_member",
           "load_pieces", "make_burst", "piece_counts", "piece_lengths", "pieces",
           "shipped_brands", "significant", "with_burst", "without_lead"]

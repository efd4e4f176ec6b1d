"""Grids: a window whose names cross a few pieces with each other.

A word-salad generator glues words of a small vocabulary two by two: in the week of
2023-02-20 it registered `getlib`, `getgame`, `getmc`, `postlib`, `postgame`, `ramlib`,
`superget`... thousands of names from about forty words. A few of them land within an
edit or two of a popular name (`getlib` of `geolib`, `reget` of `regex`, `pywurl` of
`pycurl`), score low alone (0.05 to 0.2), and no burst sees them: their ends (`get`,
`lib`) are common among live names, so no end is shared beyond chance.

What gives the generator away is the crossing. Split a name in two, `get` + `lib`: other
names of its window start with `get` (`getgame`, `getmc`), others end with `lib`
(`postlib`, `ramlib`), and the window also holds what the other starts and ends make
together (`postgame`, `rammc`). Each such (other start, other end) is a **square**: four
names on the corners of a grid, the name one of them. Independent registrations almost
never close squares without separators: the 569,785 live names last released from 2023
on, arriving at random, gave no member three squares, and arriving a month at a time
sorted by name (families together) one (`visaion5mmcv`); families that do cross
(`acme-sdk`, `acme-cli`, `foo-sdk`, `foo-cli`) write their words apart, and names holding
a separator after a leading ecosystem word (``bursts.without_lead``) take no part.

**The rule.** A burst member (``bursts.is_member``: scoring ``burst_min_score`` alone, or
holding a popular name glued at one end) is raised when, at some split into two pieces of
at least ``grid_piece_min`` characters, its window holds at least ``grid_min_squares``
squares. Its logit gains as for a burst (``burst_boost``, ``burst_half_names``, from
``burst_glued_floor`` when it glues a popular name). A grid raises only the members no
burst and no run raised: those rules weigh their evidence against live names' shares,
and their reasons stay what moderators already read (on the forward split, taking the
strongest of the three instead changed no figure).

**Windows and cost.** The window is the bursts' (``sweep_window_hours`` before a name
and its ties; a batch without times is one window). A name is indexed under each
split by its start and by its end (names of at most ``grid_name_max`` characters, at
most ``grid_window_max_names`` of a window, the oldest dropped early in a flood, so the
memory of a stream is bounded); a member's squares are counted among the first
``grid_crossed_max`` other ends of its start and other starts of its end, in the order
they entered the window (at most that number squared look-ups a split, whatever a
flood holds). Within a tie a batch enters names by name, a stream by arrival, so past
those first pieces the two may count differently; below them they answer alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from detector.names.bursts import HOUR, Brands, Row, gained, shipped_brands, without_lead
from detector.names.results import NameResult
from detector.policy import NamesPolicy
from detector.sweeps import found_in_windows, listed_text, window_text


@dataclass(frozen=True, slots=True)
class Grid:
    """One name's place in a grid: the split, its squares, a few names of them."""

    start: str
    end: str
    squares: int
    listed: tuple[str, ...]  # names on the corners of the first squares
    individual: float  # the score before the grid
    score: float
    window_hours: float | None  # None: the whole batch was the window
    window_names: int

    @property
    def reason(self) -> str:
        return (f"grid: {self.squares} squares {window_text(self.window_hours)} (of"
                f" {self.window_names} names): other names start with '{self.start}' or end"
                f" with '{self.end}' and their other pieces make names together"
                f" ({listed_text(self.listed, len(self.listed))}), as a generator gluing"
                f" words two by two does; score {self.individual:.2f} before")

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "squares": self.squares,
                "names": list(self.listed), "individual_score": self.individual,
                "window_hours": self.window_hours, "window_names": self.window_names}


def grids_on(cfg: NamesPolicy) -> bool:
    """Whether the policy allows grids at all."""
    return cfg.grid_min_squares > 0 and cfg.burst_boost > 0.0


def grid_key(name: str, cfg: NamesPolicy) -> str | None:
    """The letters of canonical ``name`` a grid splits (after a leading ecosystem word),
    or None: a separator in them, or longer than ``grid_name_max``."""
    key = without_lead(name)
    if "-" in key or len(key) > cfg.grid_name_max or len(key) < 2 * cfg.grid_piece_min:
        return None
    return key


class GridWindow:
    """The names of a window indexed by their starts and ends (``add``, ``remove``), and a
    member's grid (``grid_of``). A batch slides one over its rows; a stream's
    ``BurstMemory`` keeps one beside its window."""

    def __init__(self, cfg: NamesPolicy, brands: Brands | None = None) -> None:
        self.cfg = cfg
        self.brands = brands or shipped_brands(cfg.combo_min_length)
        self.names: dict[str, str] = {}  # canonical name -> its key, oldest first
        self.keys: dict[str, dict[str, None]] = {}  # key -> its names, oldest first
        self.starts: dict[str, dict[str, None]] = {}  # start -> the ends it has, oldest first
        self.ends: dict[str, dict[str, None]] = {}  # end -> the starts it has, oldest first

    def __len__(self) -> int:
        return len(self.names)

    def _splits(self, key: str) -> Iterator[tuple[str, str]]:
        shortest = self.cfg.grid_piece_min
        for cut in range(shortest, len(key) - shortest + 1):
            yield key[:cut], key[cut:]

    def add(self, name: str) -> None:
        """A name enters the window (once; again is a no-op)."""
        if name in self.names or (key := grid_key(name, self.cfg)) is None:
            return
        self.names[name] = key
        holders = self.keys.setdefault(key, {})
        holders[name] = None
        if len(holders) == 1:
            for start, end in self._splits(key):
                self.starts.setdefault(start, {})[end] = None
                self.ends.setdefault(end, {})[start] = None
        while len(self.names) > self.cfg.grid_window_max_names:
            self.remove(next(iter(self.names)))

    def remove(self, name: str) -> None:
        """A name leaves the window (a no-op if it is not in it)."""
        key = self.names.pop(name, None)
        if key is None:
            return
        holders = self.keys[key]
        del holders[name]
        if holders:
            return
        del self.keys[key]
        for start, end in self._splits(key):
            _drop(self.starts, start, end)
            _drop(self.ends, end, start)

    def grid_of(self, name: str, score: float, timed: bool) -> Grid | None:
        """The grid of member ``name`` (scoring ``score`` so far), or None: its split with
        the most squares, if at least ``grid_min_squares``."""
        key = grid_key(name, self.cfg)
        if key is None or not grids_on(self.cfg):
            return None
        room, least = self.cfg.grid_crossed_max, self.cfg.grid_min_squares
        best: tuple[int, str, str, list[tuple[str, str]]] | None = None
        for start, end in self._splits(key):
            ends, starts = self.starts.get(start), self.ends.get(end)
            if not ends or not starts or ((len(ends) - (end in ends))
                                          * (len(starts) - (start in starts)) < least):
                continue  # most splits: too few other names with that start or that end
            others_ends = [other for other in islice(ends, room + 1) if other != end][:room]
            others_starts = [other for other in islice(starts, room + 1)
                             if other != start][:room]
            squares = [(head, tail) for head in others_starts for tail in others_ends
                       if head + tail in self.keys and head + tail != key]
            if squares and (best is None or len(squares) > best[0]):
                best = (len(squares), start, end, squares)
        if best is None or best[0] < least:
            return None
        count, start, end, squares = best
        floor = self.cfg.burst_glued_floor if self.brands.glued(name) is not None else 0.0
        return Grid(start, end, count, self._listed(start, end, squares, name), score,
                    gained(score, count, self.cfg, floor),
                    self.cfg.sweep_window_hours if timed else None, len(self.names))

    def _listed(self, start: str, end: str, squares: list[tuple[str, str]], name: str
                ) -> tuple[str, ...]:
        """The names on the corners of the first squares, as registered."""
        listed: dict[str, None] = {}
        for head, tail in squares:
            for key in (start + tail, head + end, head + tail):
                other = next(iter(self.keys.get(key, ())), None)
                if other is not None and other != name:
                    listed[other] = None
            if len(listed) >= self.cfg.sweep_listed:
                break
        return tuple(islice(listed, self.cfg.sweep_listed))


def _drop(index: dict[str, dict[str, None]], piece: str, other: str) -> None:
    pieces = index[piece]
    del pieces[other]
    if not pieces:
        del index[piece]


def find_grids(rows: Sequence[Row], members: Mapping[int, NameResult], cfg: NamesPolicy,
               timed: bool, brands: Brands | None = None) -> dict[int, Grid]:
    """The grids of ``members`` (by position) among every name of the batch (``rows``: one
    per name, members among them; time 0 for all in a batch without times). One sweep of
    the window, O(n) in the batch's names and their splits plus a sort."""
    if not members or not grids_on(cfg):
        return {}
    window = GridWindow(cfg, brands)
    span = cfg.sweep_window_hours * HOUR if timed else math.inf
    return found_in_windows(sorted(rows), members, span, window.add, window.remove,
                            lambda name, member: window.grid_of(name, member.score, timed))


def with_grid(result: NameResult, grid: Grid, cfg: NamesPolicy) -> NameResult:
    """``result`` with its score raised, its flag renewed and the grid's reason added."""
    return result.raised(grid.score, grid.reason,
                         {**(result.sweep or {}), "grid": grid.to_dict()}, cfg.flag_threshold)


__all__ = ["Grid", "GridWindow", "find_grids", "grid_key", "grids_on", "with_grid"]

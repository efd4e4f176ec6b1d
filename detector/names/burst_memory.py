"""Bursts in a stream (`warden score`, the service): ``BurstMemory``, the stream state
that lets each name event see the window before it, as a timed batch sees it
(``detector.names.bursts``; the rule, its pieces and thresholds live there).

**What it holds.** Every project name registered (``project.created``) in the last
``sweep_window_hours``, members or not: the denominator of a burst is every distinct name
of the window, as in a batch. Per name, its time and its arrival number; per piece, how
many of the window's names carry it. A name registered again while still in the window
keeps its first time (as ``SweepMemory`` does).

**Bound.** At most ``[names] burst_window_max_names`` names: past it the oldest are
dropped early, so a flood shortens the window instead of growing memory. Memory is then
that many names with their eight pieces (a few hundred bytes a name).

**Time.** Events come in time order. An event older than the newest seen is taken as
arriving at the newest time seen (as the service scores a late event), never stored in
the past: the window stays sorted. Names at the same time: a name sees those that
arrived before it (a timed batch, which sees the whole tie, gives every name of the tie
what the stream gives its last arrival). Within a tie the answer therefore depends on
arrival order; the state after the tie does not (the same names, pieces and counts), and
a stream's order is fixed by its log, so a replay answers exactly as the first run.

**Releases.** A release of an existing project is raised by a burst its name belongs to
but does not join the window (``register=False``), as for sweeps: its name was not chosen
in the window. It is then weighed as one more name of the window.

**Runs.** Beside the window of bursts it holds the slower one of runs (``RunMemory``,
the last ``run_window_days`` and the ``run_baseline_days`` before them: one popular name
glued to other letters again and again, ``detector.names.runs``); a member raised by
both takes the stronger.

**Grids.** The same window's names are also indexed by their starts and ends
(``GridWindow``, ``detector.names.grids``: names of a window crossing a few pieces with
each other, as a word-salad generator's do); a member no burst and no run raised is
raised by its grid. Their pairs of words too (``PairWindow``, ``detector.names.pairs``:
a window full of names joining two popular names); a pair member that nothing else
raised is raised by its pair. Both rebuilt from the rows, so nothing more is
checkpointed.

**Checkpoint.** ``dump``/``load`` keep both windows' (time, name) rows; counts (and the
grids' and pairs' indexes) are rebuilt from them, so a restored memory answers exactly as the
original would have.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from heapq import merge
from itertools import islice
from typing import Any

from detector.names.bursts import (
    HOUR,
    Brands,
    Burst,
    PieceCounts,
    Split,
    burst_hit,
    load_pieces,
    make_burst,
    piece_lengths,
    pieces,
    shipped_brands,
    without_lead,
)
from detector.names.grids import Grid, GridWindow
from detector.names.pairs import Pair, PairWindow
from detector.names.runs import Run, RunMemory
from detector.policy import NamesPolicy


class BurstMemory:
    """The names of the last window and their pieces, for a stream (see module docstring)."""

    def __init__(self, cfg: NamesPolicy, stats: PieceCounts | None = None,
                 brands: Brands | None = None) -> None:
        self.cfg = cfg
        self.stats = stats if stats is not None else load_pieces()
        self.brands = brands or shipped_brands(cfg.combo_min_length)
        self.on = cfg.burst_boost > 0.0 and self.stats.names > 0
        self.window = cfg.sweep_window_hours * HOUR
        self.lengths = piece_lengths(cfg)
        # The slower window of runs (the last run_window_days), kept beside this one.
        self.runs = RunMemory(cfg, self.stats, self.brands)
        self._reset()

    def _reset(self) -> None:
        self.now = -math.inf
        self.rows: deque[tuple[float, str]] = deque()  # (time, name), oldest first
        self.held: dict[str, int] = {}  # name in the window -> its arrival number
        self.inside: Counter[str] = Counter()  # piece -> names of the window carrying it
        self._arrivals = 0
        # Burst pieces -> the window's names carrying them, in arrival order: a cache
        # (rebuilt from ``rows`` on demand, so not checkpointed) for the crossed test and
        # the reasons.
        self._carriers: dict[str, dict[str, int]] = {}
        # (start, end) pairs the crossed test asked for -> the window's names carrying
        # both, kept up to date as names enter and leave (a cache too: a pair is counted
        # from the carriers once, not at every event, which was quadratic in a flood).
        self._pairs: dict[tuple[str, str], int] = {}
        self._pair_ends: dict[str, set[str]] = {}  # start -> the ends paired with it
        # The same names by their starts and ends, for grids, and their pairs of words, for
        # pairs (both rebuilt with the rows).
        self.grids = GridWindow(self.cfg, self.brands)
        self.pairs = PairWindow(self.cfg, self.stats, self.brands)

    def __len__(self) -> int:
        return len(self.rows)

    def observe(self, name: str, ts: float, score: float | None = None,
                register: bool = True, pair_score: float | None = None
                ) -> Burst | Run | Grid | Pair | None:
        """Record canonical ``name`` at ``ts`` (unless not ``register``); its burst or run
        (``detector.names.runs``; the stronger if both), else its grid
        (``detector.names.grids``), if it is a member: ``score`` its score so far when
        ``bursts.is_member`` holds, else None; else its pair (``detector.names.pairs``):
        ``pair_score`` its score so far when ``pairs.is_pair_member`` holds (a burst
        member is tested with ``score``)."""
        if not self.on:
            return None
        burst = self._burst(name, ts, score, register)
        run = self.runs.observe(name, ts, score, register)
        if run is not None and (burst is None or run.score > burst.score):
            return run
        if burst is not None:
            return burst
        grid = None if score is None else self.grids.grid_of(name, score, timed=True)
        pair_score = score if pair_score is None else pair_score  # a burst member may pair
        if grid is not None or pair_score is None:
            return grid
        return self.pairs.pair_of(name, pair_score, timed=True, present=name in self.held)

    def _burst(self, name: str, ts: float, score: float | None, register: bool
               ) -> Burst | None:
        ts = max(ts, self.now)  # an older event counts as arriving now
        self.now = ts
        self._expire(ts)
        split = pieces(name, *self.lengths)
        known = name in self.held
        if register and not known:
            self._enter(name, ts, split)
            known = True
        if score is None:
            return None
        size = len(self.rows) + (not known)
        hit = burst_hit(split, self.inside, self._both, size, self.cfg, self.stats,
                        own=int(known))
        if hit is None:
            return None
        # Earliest first: the first names of each piece, merged by arrival.
        room = self.cfg.sweep_listed + 1
        firsts = [islice(self._carrying(piece).items(), room) for piece in hit[:2]]
        listed = (other for other, _ in merge(*firsts, key=lambda item: item[1]))
        return make_burst(hit, listed, name, score, size, self.cfg, timed=True,
                          brands=self.brands)

    def _both(self, start: str, end: str) -> int:
        """The window's names carrying both pieces (``bursts.crossed_hit``)."""
        count = self._pairs.get((start, end))
        if count is None:
            with_start, with_end = self._carrying(start), self._carrying(end)
            if len(with_end) < len(with_start):
                with_start, with_end = with_end, with_start
            count = sum(1 for name in with_start if name in with_end)
            if count:
                self._pairs[start, end] = count
                self._pair_ends.setdefault(start, set()).add(end)
        return count

    def _count_pairs(self, split: Split, step: int) -> None:
        for start in split[0]:
            ends = self._pair_ends.get(start)
            if ends:
                for end in split[1]:
                    if end in ends:
                        left = self._pairs[start, end] + step
                        if left:
                            self._pairs[start, end] = left
                        else:  # counted again from the carriers if asked
                            del self._pairs[start, end]
                            ends.discard(end)
                if not ends:
                    del self._pair_ends[start]

    def _carrying(self, piece: str) -> dict[str, int]:
        carriers = self._carriers.get(piece)
        if carriers is None:
            # A piece is never a whole name: its carriers are longer than it. Spelled
            # as ``bursts.pieces`` spells them (after a leading ecosystem word).
            start = piece.startswith("^")
            body = piece[1:] if start else piece[:-1]
            test = str.startswith if start else str.endswith
            carriers = self._carriers[piece] = {
                name: self.held[name] for _, name in self.rows
                if len(compact := without_lead(name).replace("-", "")) > len(body)
                and test(compact, body)}
        return carriers

    def _enter(self, name: str, ts: float, split: Split) -> None:
        self.rows.append((ts, name))
        self.held[name] = arrival = self._arrivals
        self._arrivals += 1
        for piece in (*split[0], *split[1]):
            self.inside[piece] += 1
            carriers = self._carriers.get(piece)
            if carriers is not None:
                carriers[name] = arrival
        self._count_pairs(split, 1)
        self.grids.add(name)
        self.pairs.add(name)
        while len(self.rows) > self.cfg.burst_window_max_names:
            self._leave()

    def _expire(self, now: float) -> None:
        oldest = now - self.window
        while self.rows and self.rows[0][0] < oldest:
            self._leave()

    def _leave(self) -> None:
        _, name = self.rows.popleft()
        del self.held[name]
        self.grids.remove(name)
        self.pairs.remove(name)
        start, end = pieces(name, *self.lengths)
        self._count_pairs((start, end), -1)
        for piece in (*start, *end):
            left = self.inside[piece] - 1
            if left:
                self.inside[piece] = left
                carriers = self._carriers.get(piece)
                if carriers is not None:
                    del carriers[name]
            else:
                del self.inside[piece]
                self._carriers.pop(piece, None)

    def dump(self) -> list[Any]:
        return [self.now, [[ts, name] for ts, name in self.rows], self.runs.dump()]

    def load(self, data: list[Any]) -> None:
        """Restore a ``dump`` (one written before runs, without their rows: the runs'
        window starts empty)."""
        self._reset()
        for ts, name in data[1]:
            self._enter(str(name), float(ts), pieces(str(name), *self.lengths))
        self.now = float(data[0])
        self.runs.load(data[2] if len(data) > 2 else [], self.now)


__all__ = ["BurstMemory"]

"""Runs: one popular name glued to other letters again and again.

A burst (``detector.names.bursts``) is a generator's day of names sharing both ends. Some
attacks glue ONE popular name to many different rests instead: on 2023-02-09, sixteen
typos of the unpopular `cryptocompare` and `cryptofeed` (`cryptocomapre`, `cryptofed`:
`crypto` glued to the rest); in the week of 2023-02-20, `controllib`, `intcontrol`,
`py-revercontrol`, `py-getpepstring`, whose other end their window did not share beyond
chance; slower ones come back to one popular name for weeks (`httpxgetter`,
`httpxmodifier`, `httpxrequester`, `httpxboost`, a few a week in early 2023). Each holds a
popular name whole at one end, glued to other letters (``Brands.glued``), which no name
check scores.

**The rule.** A name holding a popular name glued at one end is raised when at least
``run_min_names`` other names of the last ``run_window_days`` glue the same popular name
and that many would come with a probability below ``run_significance`` were the
window's names to glue it at ``run_ratio`` times the share of live names that do
(``PieceCounts.glued_share``, shipped in ``data/name_pieces.npz``; Poisson,
``bursts.significant``). Before 2023, 1,267 of 301,545 live names glued `tools` and 221
`django`: two weeks of registrations (about 5,600 names at the rate of the later live
names) expect dozens and several; `httpx` was glued by fewer than three
(``MIN_GLUED_NAMES``), 0.06 expected in two weeks, and six others are then beyond chance
even at three times that. The name's logit gains as for a burst (``burst_boost``,
``burst_half_names``) from at least ``burst_glued_floor``. A name raised by a burst and a
run takes the stronger of the two.

**Windows.** With times, the names at most ``run_window_days`` before a name or at the
same time; without, the whole batch (one window, as for bursts). Two weeks was chosen
on the forward split scored in windows shared with the later live names (a longer
window holds more of them, so a run needs more names; docs/names.md, "Runs"); there, a
few names a week (`httpx...`) stay within chance, and what runs raise are a day's
dozens. Every name of the window counts in its size, members or not.

**The registry's own past.** Chance is the higher of the live share and the share of
the names of the ``run_baseline_days`` before the window that glue the popular name
(``Past``): a registry whose names glue `azure` or `postgres` every week has that as its
usual rate. (The simulated streams of ``bench/bench_crowds.py`` glue a small vocabulary
of popular words far more often than live names do: with live shares alone, runs
raised their benign events flagged from 0.191% to 0.293%; with the past, 0.199%. On the
forward split it changes nothing in windows shared with the live names and costs a point
apart, where a window's past is the same attackers' earlier names.)

A stream keeps the window and its past in ``RunMemory`` (at most ``run_window_max_names``
names each), on the same test (``run_of``), so a stream and a timed batch answer alike.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from detector.names.bursts import (
    Brands,
    PieceCounts,
    Row,
    gained,
    load_pieces,
    shipped_brands,
    significant,
)
from detector.names.results import NameResult
from detector.policy import NamesPolicy
from detector.sweeps import listed_text, window_steps

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Run:
    """One name's place in a run: the popular name it glues, the others that glue it."""

    brand: str
    count: int  # other names of the window gluing it
    listed: tuple[str, ...]  # the first of them, earliest first
    individual: float  # the score before the run
    score: float
    window_days: float | None  # None: the whole batch was the window
    window_names: int
    expected: float  # names of such a window gluing it at its live share

    @property
    def reason(self) -> str:
        where = ("in this batch" if self.window_days is None
                 else f"in the {self.window_days:g} days before it")
        return (f"run: {self.count} other names {where} (of {self.window_names}) also hold"
                f" the popular name '{self.brand}' glued to other letters"
                f" ({listed_text(self.listed, self.count)}), where live names would give"
                f" {self.expected:.2g}; score {self.individual:.2f} before")

    def to_dict(self) -> dict[str, Any]:
        return {"brand": self.brand, "count": self.count, "names": list(self.listed),
                "individual_score": self.individual, "window_days": self.window_days,
                "window_names": self.window_names, "expected": round(self.expected, 6)}


def runs_on(cfg: NamesPolicy, stats: PieceCounts) -> bool:
    """Whether the policy and the statistics allow runs at all."""
    return (cfg.run_window_days > 0.0 and cfg.burst_boost > 0.0
            and cfg.burst_glued_floor > 0.0 and stats.names > 0)


class Past:
    """The names of the ``run_baseline_days`` before a window: how many, and how many
    glue each popular name (the registry's own recent share, ``run_of``)."""

    __slots__ = ("gluing", "names")

    def __init__(self) -> None:
        self.names = 0
        self.gluing: Counter[str] = Counter()

    def add(self, brand: str | None, step: int) -> None:
        self.names += step
        if brand is not None:
            self.gluing[brand] += step
            if not self.gluing[brand]:
                del self.gluing[brand]

    def share(self, brand: str) -> float:
        return self.gluing.get(brand, 0) / self.names if self.names else 0.0


def run_of(name: str, brand: str, gluing: Iterable[str], others: int, size: int,
           score: float, cfg: NamesPolicy, stats: PieceCounts, timed: bool,
           past: Past | None = None) -> Run | None:
    """The run of ``name`` (gluing ``brand``, scoring ``score`` so far) when ``others``
    other names of its window of ``size`` glue ``brand`` beyond chance; ``gluing``: the
    window's names gluing it, earliest first (``name`` is skipped); ``past``: the names
    before the window, whose share of ``brand`` is chance too when it is the higher."""
    if others < cfg.run_min_names:
        return None
    share = stats.glued_share(brand)
    if past is not None:
        share = max(share, past.share(brand))
    expected = size * share
    if not significant(others, cfg.run_ratio * expected, cfg.run_significance):
        return None
    listed: list[str] = []
    for other in gluing:
        if other != name:
            listed.append(other)
            if len(listed) == cfg.sweep_listed:
                break
    raised = gained(score, others, cfg, cfg.burst_glued_floor)
    return Run(brand, others, tuple(listed), score, raised,
               cfg.run_window_days if timed else None, size, expected)


def find_runs(rows: Sequence[Row], members: Mapping[int, NameResult], cfg: NamesPolicy,
              stats: PieceCounts, timed: bool, brands: Brands | None = None
              ) -> dict[int, Run]:
    """The runs of ``members`` (by position) among every name of the batch (``rows``: one
    per name, members among them; time 0 for all in a batch without times). O(n) in the
    batch plus a sort."""
    if not members or not runs_on(cfg, stats):
        return {}
    brands = brands or shipped_brands(cfg.combo_min_length)
    held = {position: brand for position, result in members.items()
            if result.normalized is not None
            and (brand := brands.glued(result.normalized)) is not None}
    if not held:
        return {}
    ordered = sorted(rows)
    times = [row[0] for row in ordered]
    window = cfg.run_window_days * DAY if timed else math.inf
    names: Counter[str] = Counter()  # name -> its rows inside the window
    gluing: dict[str, dict[str, int]] = {}  # brand -> its names inside, by rows, earliest first
    found: dict[int, Run] = {}
    # The rows of the run_baseline_days before the window: [past_low, past_high).
    past, past_low, past_high = Past(), 0, 0
    for index, entered, left in window_steps(times, window):
        if timed and cfg.run_baseline_days > 0.0:
            start = times[index] - window
            while past_high < len(times) and times[past_high] < start:
                past.add(held.get(ordered[past_high][2]), 1)
                past_high += 1
            while times[past_low] < start - cfg.run_baseline_days * DAY:
                past.add(held.get(ordered[past_low][2]), -1)
                past_low += 1
        for row in entered:
            _, name, position = ordered[row]
            names[name] += 1
            if position in held:
                group = gluing.setdefault(held[position], {})
                group[name] = group.get(name, 0) + 1
        for row in left:
            _, name, position = ordered[row]
            names[name] -= 1
            if not names[name]:
                del names[name]
            if position in held:
                group = gluing[held[position]]
                group[name] -= 1
                if not group[name]:
                    del group[name]
        _, name, position = ordered[index]
        brand = held.get(position)
        if brand is None:
            continue
        group = gluing[brand]
        run = run_of(name, brand, group, len(group) - (name in group), len(names),
                     members[position].score, cfg, stats, timed, past)
        if run is not None:
            found[position] = run
    return found


def with_run(result: NameResult, run: Run, cfg: NamesPolicy) -> NameResult:
    """``result`` with its score raised, its flag renewed and the run's reason added."""
    return result.raised(run.score, run.reason, {**(result.sweep or {}), "run": run.to_dict()},
                         cfg.flag_threshold)


class RunMemory:
    """The names of the last ``run_window_days`` and of the ``run_baseline_days`` before
    them (``Past``), with the popular name each glues, for a stream (``BurstMemory`` holds
    one). Times, late events, releases and ties as in ``BurstMemory``; at most
    ``run_window_max_names`` names in each, the oldest moved on (or dropped) early."""

    def __init__(self, cfg: NamesPolicy, stats: PieceCounts | None = None,
                 brands: Brands | None = None) -> None:
        self.cfg = cfg
        self.stats = stats if stats is not None else load_pieces()
        self.brands = brands or shipped_brands(cfg.combo_min_length)
        self.on = runs_on(cfg, self.stats)
        self.window = cfg.run_window_days * DAY
        self._reset()

    def _reset(self) -> None:
        self.now = -math.inf
        self.rows: deque[tuple[float, str, str | None]] = deque()  # (time, name, brand)
        self.held: set[str] = set()
        self.gluing: dict[str, dict[str, None]] = {}  # brand -> its names, earliest first
        # The names of the run_baseline_days before the window, oldest first.
        self.before: deque[tuple[float, str, str | None]] = deque()
        self.past = Past()

    def __len__(self) -> int:
        return len(self.rows)

    def observe(self, name: str, ts: float, score: float | None = None,
                register: bool = True) -> Run | None:
        """Record canonical ``name`` at ``ts`` (unless not ``register``); its run when it
        is a member (``score`` its score so far) gluing a popular name, else None."""
        if not self.on:
            return None
        ts = max(ts, self.now)
        self.now = ts
        self._expire(ts)
        known = name in self.held
        brand = self.brands.glued(name)
        if register and not known:
            self._enter(name, ts, brand)
            known = True
        if score is None or brand is None:
            return None
        group = self.gluing.get(brand, {})
        return run_of(name, brand, group, len(group) - (name in group),
                      len(self.rows) + (not known), score, self.cfg, self.stats, timed=True,
                      past=self.past)

    def _expire(self, now: float) -> None:
        oldest = now - self.window
        while self.rows and self.rows[0][0] < oldest:
            self._leave()
        oldest -= self.cfg.run_baseline_days * DAY
        while self.before and (self.before[0][0] < oldest
                               or len(self.before) > self.cfg.run_window_max_names):
            _, _, brand = self.before.popleft()
            self.past.add(brand, -1)

    def _enter(self, name: str, ts: float, brand: str | None) -> None:
        self.rows.append((ts, name, brand))
        self.held.add(name)
        if brand is not None:
            self.gluing.setdefault(brand, {})[name] = None
        while len(self.rows) > self.cfg.run_window_max_names:
            self._leave()

    def _leave(self) -> None:
        """The oldest name of the window leaves it for the past (``run_baseline_days``)."""
        row = self.rows.popleft()
        _, name, brand = row
        self.held.discard(name)
        if brand is not None:
            group = self.gluing[brand]
            del group[name]
            if not group:
                del self.gluing[brand]
        if self.cfg.run_baseline_days > 0.0:
            self.before.append(row)
            self.past.add(brand, 1)

    def dump(self) -> list[list[Any]]:
        """The (time, name) rows of the past and the window, oldest first."""
        return [[ts, name] for ts, name, _ in (*self.before, *self.rows)]

    def load(self, rows: list[Any], now: float) -> None:
        self._reset()
        for ts, name in rows:
            self._enter(str(name), float(ts), self.brands.glued(str(name)))
        self._expire(now)
        self.now = now


__all__ = ["Past", "Run", "RunMemory", "find_runs", "run_of", "runs_on", "with_run"]

"""Runs: one popular name glued to new letters again and again, over weeks.

A burst (``detector.names.bursts``) is a generator's day: hundreds of names sharing
pieces. An attacker who keeps coming back to one popular name is slower: `httpxfaster`,
`httpxgetter`, `httpxmodifier`, `httpxrequester`, `httpxontop`, `httpxboost` over eight
weeks of 2023; `pypackagescraper`, `pypackscraper`, `pypackscate`, `pypackagescraping`,
`pypackagehelp` in three; `ethertoolz`, `myethertoolz`, `web3toolz` in days. Each holds a
popular name whole at one end, glued to other letters (``Brands.glued``), which no name
check scores, and the window of a sweep (a day) never holds more than two of them.

**The rule.** A name holding a popular name glued at one end is raised when at least
``run_min_names`` other names of the last ``run_window_days`` glue the same popular name
and that many would come with a probability below ``run_significance`` were the
window's names to glue it at ``run_ratio`` times the share of live names that do
(``PieceCounts.glued_share``, shipped in ``data/name_pieces.npz``; Poisson,
``bursts.significant``). Live names glue `tools` (1,267 of 301,545 before 2023) or
`django` (221) often enough that a month's window expects several; `httpx` (glued by
fewer than three) expects a tenth of a name in a month of PyPI's registrations, so three
in a month is beyond chance. The name's logit gains as for a burst (``burst_boost``,
``burst_half_names``) from at least ``burst_glued_floor``. A name raised by a burst and a
run takes the stronger of the two.

**Windows.** With times, the names at most ``run_window_days`` before a name or at the
same time; without, the whole batch (one window, as for bursts). Every name of the
window counts in its size, members or not. A stream keeps the window in ``RunMemory``
(at most ``run_window_max_names`` names), on the same test (``run_of``), so a stream and
a timed batch answer alike.
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


def run_of(name: str, brand: str, gluing: Iterable[str], others: int, size: int,
           score: float, cfg: NamesPolicy, stats: PieceCounts, timed: bool) -> Run | None:
    """The run of ``name`` (gluing ``brand``, scoring ``score`` so far) when ``others``
    other names of its window of ``size`` glue ``brand`` beyond chance; ``gluing``: the
    window's names gluing it, earliest first (``name`` is skipped)."""
    if others < cfg.run_min_names:
        return None
    expected = size * stats.glued_share(brand)
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
    window = cfg.run_window_days * DAY if timed else math.inf
    names: Counter[str] = Counter()  # name -> its rows inside the window
    gluing: dict[str, dict[str, int]] = {}  # brand -> its names inside, by rows, earliest first
    found: dict[int, Run] = {}
    for index, entered, left in window_steps([row[0] for row in ordered], window):
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
                     members[position].score, cfg, stats, timed)
        if run is not None:
            found[position] = run
    return found


def with_run(result: NameResult, run: Run, cfg: NamesPolicy) -> NameResult:
    """``result`` with its score raised, its flag renewed and the run's reason added."""
    return NameResult(result.name, result.normalized, max(result.score, run.score),
                      result.flagged or run.score >= cfg.flag_threshold, result.matches,
                      [*result.reasons, run.reason], result.error,
                      {**(result.sweep or {}), "run": run.to_dict()})


class RunMemory:
    """The names of the last ``run_window_days`` and which popular name each glues, for a
    stream (``BurstMemory`` holds one). Times, late events, releases and ties as in
    ``BurstMemory``; at most ``run_window_max_names`` names, the oldest dropped early."""

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
        oldest = ts - self.window
        while self.rows and self.rows[0][0] < oldest:
            self._leave()
        known = name in self.held
        brand = self.brands.glued(name)
        if register and not known:
            self._enter(name, ts, brand)
            known = True
        if score is None or brand is None:
            return None
        group = self.gluing.get(brand, {})
        return run_of(name, brand, group, len(group) - (name in group),
                      len(self.rows) + (not known), score, self.cfg, self.stats, timed=True)

    def _enter(self, name: str, ts: float, brand: str | None) -> None:
        self.rows.append((ts, name, brand))
        self.held.add(name)
        if brand is not None:
            self.gluing.setdefault(brand, {})[name] = None
        while len(self.rows) > self.cfg.run_window_max_names:
            self._leave()

    def _leave(self) -> None:
        _, name, brand = self.rows.popleft()
        self.held.discard(name)
        if brand is not None:
            group = self.gluing[brand]
            del group[name]
            if not group:
                del self.gluing[brand]

    def dump(self) -> list[list[Any]]:
        return [[ts, name] for ts, name, _ in self.rows]

    def load(self, rows: list[Any], now: float) -> None:
        self._reset()
        for ts, name in rows:
            self._enter(str(name), float(ts), self.brands.glued(str(name)))
        self.now = now


__all__ = ["Run", "RunMemory", "find_runs", "run_of", "runs_on", "with_run"]

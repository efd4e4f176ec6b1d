"""Echoes: a look-alike one edit away from a name flagged in the same window.

Attackers upload variants of their own squat beside it, a letter or a separator apart:
`tgrequests` and `tgrequest`, `http3client` and `http3-client`. The flagged one is a
clear look-alike of a popular name; its variant often reaches a different target, or the
same one by a longer way, and scores low alone (`tgrequest` is two edits from
`grequests`: 0.07). Sweeps miss it (another target, or not an edit-based match) and so do
bursts (two names share nothing beyond chance).

**The rule.** A name that comes within reach of a popular name (it has a match) and
scores below ``flag_threshold`` (after its own sweep, burst, run, grid or pair) is raised
to the score of a *twin*: another name of its window (``sweep_window_hours``, at
most that long before it or at the same time; a batch without times is one window, up
to ``sweep_batch_names``) scoring at least ``echo_min_score`` (after its own sweep,
burst, run, grid or pair, never after an echo: echoes do not chain), whose spelling
without separators is one edit (optimal string alignment: a letter added, left out,
changed, or two neighbours swapped) from the name's. Both spellings hold at least
``echo_name_min`` characters: shorter names are one edit from too many others. Of
several twins the highest-scoring (then the earliest, then the first by name) is named.
``echo_min_score = 0`` turns echoes off.

**What it costs.** On the forward split, echoes raise 1 of the 569,785 later live names
arriving at random; with each month's live names spread over it sorted by name or by
reversed name (a family's names together: `aibp-sdk`, `aivp-sdk`), 10 and 18. They lift 2
later typosquats above the 1% line and 4 above the 0.3% line (docs/names.md, "Echoes").

**Search.** Twins are indexed by their deletion keys (the spelling and each spelling
with one character left out): two spellings one edit apart share a key, so a name looks
up its own keys, about its length of dictionary lookups, and confirms each hit with
``rapidfuzz``'s OSA distance. A stream keeps at most ``burst_window_max_names`` twins
(the oldest leave early in a flood).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz.distance import OSA

from detector.names.results import NameResult
from detector.policy import NamesPolicy
from detector.sweeps import HOUR, window_text


def spelling(name: str) -> str:
    """A canonical name without its separators: what twins are compared by."""
    return name.replace("-", "")


def deletion_keys(spelled: str) -> set[str]:
    """``spelled`` and ``spelled`` with each one character left out."""
    keys = {spelled}
    for i in range(len(spelled)):
        keys.add(spelled[:i] + spelled[i + 1:])
    return keys


def echoes_on(cfg: NamesPolicy) -> bool:
    return cfg.echo_min_score > 0.0


def is_twin(name: str, score: float, cfg: NamesPolicy) -> bool:
    """Whether canonical ``name`` scoring ``score`` (before any echo) may be a twin."""
    return score >= cfg.echo_min_score and len(spelling(name)) >= cfg.echo_name_min


def is_echo_candidate(result: NameResult, cfg: NamesPolicy) -> bool:
    """Whether ``result`` may be raised as an echo: a valid name with a match, long
    enough."""
    return (echoes_on(cfg) and result.error is None and result.normalized is not None
            and bool(result.matches) and len(spelling(result.normalized)) >= cfg.echo_name_min)


@dataclass(frozen=True, slots=True)
class Echo:
    """One name's twin: the flagged name of its window one edit away."""

    twin: str
    twin_score: float
    individual: float  # the name's score before
    window_hours: float | None  # None: the whole batch was the window

    @property
    def score(self) -> float:
        return max(self.twin_score, self.individual)

    @property
    def reason(self) -> str:
        return (f"echo: one edit from '{self.twin}' (score {self.twin_score:.2f})"
                f" {window_text(self.window_hours)}, as a campaign's variants of its own"
                f" squat are; score {self.individual:.2f} before")

    def to_dict(self) -> dict[str, Any]:
        return {"twin": self.twin, "twin_score": self.twin_score,
                "individual_score": self.individual, "window_hours": self.window_hours}


def with_echo(result: NameResult, echo: Echo, cfg: NamesPolicy) -> NameResult:
    """``result`` with its score raised to its twin's, its flag renewed, the reason added."""
    return result.raised(echo.score, echo.reason,
                         {**(result.sweep or {}), "echo": echo.to_dict()}, cfg.flag_threshold)


class TwinIndex:
    """Names scoring at least ``echo_min_score``, by deletion key, for the lookups."""

    def __init__(self) -> None:
        self._keys: dict[str, set[str]] = {}
        # name -> (time, score), in the order added: time order in a stream.
        self.twins: dict[str, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self.twins)

    def add(self, name: str, ts: float, score: float) -> None:
        """Index ``name``; a name indexed already keeps its first time and its best score."""
        held = self.twins.get(name)
        if held is not None:
            self.twins[name] = (held[0], max(held[1], score))
            return
        self.twins[name] = (ts, score)
        for key in deletion_keys(spelling(name)):
            self._keys.setdefault(key, set()).add(name)

    def remove(self, name: str) -> None:
        if self.twins.pop(name, None) is None:
            return
        for key in deletion_keys(spelling(name)):
            names = self._keys[key]
            names.discard(name)
            if not names:
                del self._keys[key]

    def near(self, name: str) -> Iterator[str]:
        """The indexed names other than ``name`` whose spelling is one edit from its."""
        spelled = spelling(name)
        seen: set[str] = set()
        for key in deletion_keys(spelled):
            for other in self._keys.get(key, ()):
                if other != name and other not in seen:
                    seen.add(other)
                    if OSA.distance(spelled, spelling(other), score_cutoff=1) <= 1:
                        yield other

    def twin_of(self, name: str, score: float, low: float, high: float) -> str | None:
        """The best twin of ``name`` indexed with a time in [low, high] and a score above
        ``score``: the highest-scoring, then the earliest, then the first by name."""
        best: tuple[float, float, str] | None = None
        for other in self.near(name):
            ts, twin_score = self.twins[other]
            if low <= ts <= high and twin_score > score:
                rank = (-twin_score, ts, other)
                if best is None or rank < best:
                    best = rank
        return None if best is None else best[2]


def find_echoes(rows: Sequence[tuple[float, str, int]], results: Mapping[int, NameResult],
                candidates: set[int], cfg: NamesPolicy, timed: bool) -> dict[int, Echo]:
    """The echoes of a batch: ``rows`` (time, canonical name, position) of the names
    ``results`` holds by position, as scored so far (sweeps, bursts, runs, grids and
    pairs applied); ``candidates`` the positions that may be raised
    (``is_echo_candidate``). Without times (``timed`` False) the batch is one window.
    O(n) dictionary lookups in the names' lengths."""
    if not echoes_on(cfg):
        return {}
    index = TwinIndex()
    for ts, name, position in rows:
        if is_twin(name, score := results[position].score, cfg):
            index.add(name, ts, score)
    if not index:
        return {}
    window = cfg.sweep_window_hours * HOUR if timed else float("inf")
    found: dict[int, Echo] = {}
    for ts, name, position in rows:
        if position not in candidates:
            continue
        score = results[position].score
        if score >= cfg.flag_threshold:
            continue  # flagged already
        twin = index.twin_of(name, score, ts - window, ts if timed else float("inf"))
        if twin is not None:
            found[position] = Echo(twin, index.twins[twin][1], score,
                                   cfg.sweep_window_hours if timed else None)
    return found


class EchoMemory:
    """The twins of the last window, for a stream (events arrive in time order): part of
    the stream scorer's state, checkpointed with it (``dump``/``load``). A name sees the
    twins that arrived before it (at most the window before), as a timed batch sees
    those before it or at its time."""

    def __init__(self, cfg: NamesPolicy) -> None:
        self.cfg = cfg
        self.on = echoes_on(cfg)
        self.window = cfg.sweep_window_hours * HOUR
        self.index = TwinIndex()

    def __len__(self) -> int:
        return len(self.index)

    def observe(self, name: str, ts: float, score: float, candidate: bool,
                register: bool = True) -> Echo | None:
        """The echo of canonical ``name`` at ``ts`` scoring ``score`` so far (if
        ``candidate``: ``is_echo_candidate``, and below ``flag_threshold``); then ``name``
        is kept as a twin if it scores at least ``echo_min_score`` (unless not
        ``register``: a release's name)."""
        if not self.on:
            return None
        twins = self.index.twins
        # Twins are held in time order: the oldest leave first, at the window's edge or
        # early in a flood (at most burst_window_max_names).
        while twins and twins[oldest := next(iter(twins))][0] < ts - self.window:
            self.index.remove(oldest)
        echo = None
        if candidate and twins and score < self.cfg.flag_threshold:
            twin = self.index.twin_of(name, score, ts - self.window, ts)
            if twin is not None:
                echo = Echo(twin, twins[twin][1], score, self.cfg.sweep_window_hours)
        if register and is_twin(name, score, self.cfg):
            self.index.add(name, ts, score)
            while len(twins) > self.cfg.burst_window_max_names:
                self.index.remove(next(iter(twins)))
        return echo

    def dump(self) -> list[Any]:
        return [[ts, name, score] for name, (ts, score) in self.index.twins.items()]

    def load(self, data: list[Any]) -> None:
        self.index = TwinIndex()
        for ts, name, score in data:
            self.index.add(str(name), float(ts), float(score))


__all__ = ["Echo", "EchoMemory", "TwinIndex", "deletion_keys", "echoes_on", "find_echoes",
           "is_echo_candidate", "is_twin", "spelling", "with_echo"]

"""Sweeps: several names imitating one popular target, registered close together.

Attack tools register many variants of one target within hours (`reqeusts`, `requets`,
`rquests`, ...). Each variant alone may score below the name threshold; together they
are far less likely to be chance. This module is the one rule for all three places that
see names together: a batch (`warden check-name --file`, ``detector.names.sweeps``), and
a stream (`warden score` and the service, through ``SweepMemory`` in the stream state).

**Who is a member.** A sweep is a group of names sharing a target, the target being the
name checker's own best match (even below the flag threshold). A name is a member only
when that match is itself evidence of imitation (``SWEEP_KINDS``: a typo kind, a
look-alike, other separators, two edits, an affix on top of a typo) and scores at least
``[names] sweep_min_score`` alone. Brand-plus-word matches (``affix``, ``combosquat``,
``dropped-words``, ``word-reorder``, ``plural``, ``version-suffix``, ``digit-change``)
never make a sweep: an organisation releasing `acme-core`, `acme-cli`, `acme-utils` is a
legitimate family (and the target's own owner registers exactly such names), whereas
nobody legitimately registers five misspellings of one name.

**The boost.** A member with ``k`` distinct siblings gains, on the logit of its own
score, ``sweep_boost * k / (k + sweep_half_siblings)``: it grows with the siblings and
saturates at ``sweep_boost`` (a logistic model's feature, added to the score's log-odds,
so it lifts a 0.3 typo further than a 0.05 one). The match scores are left as they were;
the name's score, its flag and an added reason (naming the target and, capped at
``sweep_listed``, the siblings) carry the sweep.

**Which siblings count (order independence and "later ones score higher").**

- With times (a stream; a batch whose names carry times): a member's siblings are the
  other names of its group that arrived at most ``sweep_window_hours`` before it, or at
  the same time. The first of a sweep gains nothing from those that follow it; each
  later one sees more siblings and scores higher. The rule depends only on the times, so
  a batch with times gives the same answer in any order, and a stream, which sees names
  in time order, gives the same answer as that batch (names at exactly the same time are
  each other's siblings in a batch; in a stream the one that arrived first cannot see
  the one after it).
- In a stream, only new projects (``project.created``) join a sweep. A release of an
  existing project is raised by the sweep its name belongs to but does not join it:
  thousands of existing projects release every day, and their names were not chosen
  in the window.
- Without times (a file of names): the batch is one window, and every member's siblings
  are all the other distinct names of its group in the batch. Every member of a sweep
  is raised alike; the answer depends on the set of names, never on their order. A batch
  of more than ``sweep_batch_names`` names without times is not one window (it cannot
  stand for names registered together) and gets no sweeps.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from detector.policy import NamesPolicy
from detector.vocab import NameKind

M = TypeVar("M")  # what a caller holds for each member (``found_in_windows``)
F = TypeVar("F")  # what it finds for one

HOUR = 3600.0

# Best-match kinds that are evidence of imitation on their own (see the module docstring).
SWEEP_KINDS = frozenset({
    NameKind.SWAPPED_CHARACTERS, NameKind.REPEATED_CHARACTER, NameKind.OMITTED_CHARACTER,
    NameKind.EXTRA_CHARACTER, NameKind.KEYBOARD_TYPO, NameKind.HOMOGLYPH, NameKind.BIT_FLIP,
    NameKind.SUBSTITUTION, NameKind.EDIT_DISTANCE_2, NameKind.SEPARATOR,
})
# An affix match two edits away is an affix on top of a typo (`reqeusts-py`, `openvc`).
TYPO_AFFIX_DISTANCE = 2
# Scores are kept off 0 and 1 before taking their logit.
_EPSILON = 1e-4


def is_member_match(kind: str, distance: int, score: float, cfg: NamesPolicy) -> bool:
    """Whether a best match of this kind, distance and score makes its name a sweep member."""
    if cfg.sweep_boost <= 0.0 or score < cfg.sweep_min_score:
        return False
    return kind in SWEEP_KINDS or (kind == NameKind.AFFIX and distance >= TYPO_AFFIX_DISTANCE)


def logit_raised(score: float, gain: float, floor: float = 0.0) -> float:
    """``score`` (or ``floor``, if higher) with ``gain`` added to its log-odds, never
    below ``score``: how every window rule raises a name (a logistic model's feature)."""
    p = min(max(score, floor, _EPSILON), 1.0 - _EPSILON)
    return max(round(1.0 / (1.0 + math.exp(-(math.log(p / (1.0 - p)) + gain))), 4), score)


def boosted(score: float, siblings: int, cfg: NamesPolicy) -> float:
    """``score`` raised for ``siblings`` distinct siblings (unchanged for none)."""
    if siblings <= 0 or cfg.sweep_boost <= 0.0:
        return score
    return logit_raised(score, cfg.sweep_boost * siblings / (siblings + cfg.sweep_half_siblings))


@dataclass(frozen=True, slots=True)
class Sweep:
    """One name's place in a sweep: its target, its siblings, and its score before and after."""

    target: str
    count: int  # distinct siblings
    listed: tuple[str, ...]  # the first of them (earliest, or by name), at most sweep_listed
    individual: float  # the name's own score
    score: float  # after the boost
    window_hours: float | None  # None: the whole batch was the window

    @property
    def reason(self) -> str:
        shown, where = listed_text(self.listed, self.count), window_text(self.window_hours)
        others = f"{self.count} other name{'s' if self.count != 1 else ''}"
        return (f"sweep: {others} imitating '{self.target}' {where} ({shown}); "
                f"score {self.individual:.2f} alone")

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "siblings": list(self.listed), "count": self.count,
                "individual_score": self.individual,
                "window_hours": self.window_hours}


def window_steps(times: Sequence[float], window: float) -> Iterator[tuple[int, range, range]]:
    """A window of ``window`` seconds sliding over rows sorted by time: for each row, in
    order, the rows that enter the window ending at its time (every row not yet in, up
    to its time, ties included) and the rows that leave it (older than its time minus
    the window), as index ranges. After a step the window is rows ``left.stop`` to
    ``entered.stop``. O(n) in all."""
    low = high = 0
    for index, ts in enumerate(times):
        first_in = high
        while high < len(times) and times[high] <= ts:
            high += 1
        first_out = low
        while times[low] < ts - window:
            low += 1
        yield index, range(first_in, high), range(first_out, low)


class DistinctNames:
    """The distinct names of a window sliding over rows sorted by time (``window_steps``),
    for rules that count a name once however often it comes: ``inside`` maps each name in
    the window to its rows there, in the order the names entered (earliest first)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.row_names = names  # one per row
        self.inside: Counter[str] = Counter()

    def slide(self, times: Sequence[float], window: float
              ) -> Iterator[tuple[int, list[int], list[int], range, range]]:
        """Each row in time order with the window ending at it: (row, the rows whose name
        entered the window, the rows whose name left it, the rows entered, the rows
        left; as ``window_steps``)."""
        inside, names = self.inside, self.row_names
        for index, entered, left in window_steps(times, window):
            first = []
            for row in entered:
                inside[names[row]] += 1
                if inside[names[row]] == 1:
                    first.append(row)
            last = []
            for row in left:
                name = names[row]
                inside[name] -= 1
                if not inside[name]:
                    del inside[name]
                    last.append(row)
            yield index, first, last, entered, left


def found_in_windows(rows: Sequence[tuple[float, str, int]], members: Mapping[int, M],
                     window: float, enter: Callable[[str], None],
                     leave: Callable[[str], None],
                     judge: Callable[[str, M], F | None]) -> dict[int, F]:
    """What ``judge`` finds for each member of ``rows`` (sorted (time, canonical name,
    position)), by position, with the window of ``window`` seconds ending at it: ``enter``
    and ``leave`` have been called for each distinct name as it entered and left (ties
    included), the grids' and pairs' indexes kept up to date this way
    (``detector.names.grids``, ``detector.names.pairs``). O(n) in the rows."""
    found: dict[int, F] = {}
    distinct = DistinctNames([name for _, name, _ in rows])
    for index, entered, left, _, _ in distinct.slide([row[0] for row in rows], window):
        for row in entered:
            enter(rows[row][1])
        for row in left:
            leave(rows[row][1])
        _, name, position = rows[index]
        member = members.get(position)
        if member is not None and (got := judge(name, member)) is not None:
            found[position] = got
    return found


def listed_text(listed: Sequence[str], count: int) -> str:
    """The names a reason shows, and how many more there are: `'a', 'b' and 3 more`."""
    shown = ", ".join(f"'{name}'" for name in listed)
    more = count - len(listed)
    return shown + (f" and {more} more" if more > 0 else "")


def window_text(window_hours: float | None) -> str:
    """Where the other names of a reason were seen: the batch, or the hours before."""
    return "in this batch" if window_hours is None else f"in the {window_hours:g} h before it"


def make_sweep(target: str, listed: Iterator[str] | list[str], count: int, score: float,
               cfg: NamesPolicy, timed: bool) -> Sweep:
    return Sweep(target, count, tuple(islice(listed, cfg.sweep_listed)), score,
                 boosted(score, count, cfg), cfg.sweep_window_hours if timed else None)


class SweepMemory:
    """The recent members of each target, for a stream (events arrive in time order).

    Part of the stream scorer's state: checkpointed with it (``dump``/``load``) and
    rebuilt identically by a replay. Holds only members seen within the window, so its
    size is the number of imitating names registered in one window.
    """

    def __init__(self, cfg: NamesPolicy) -> None:
        self.cfg = cfg
        self.window = cfg.sweep_window_hours * HOUR
        # target -> name -> when first seen (insertion order is time order).
        self.targets: dict[str, dict[str, float]] = {}
        self._pruned_at = -math.inf

    def observe(self, name: str, target: str, score: float, ts: float,
                register: bool = True) -> Sweep | None:
        """Record member ``name`` of ``target``'s group at ``ts`` (unless not ``register``:
        a release of an existing project is raised by a sweep but does not join one);
        its sweep, if any."""
        members = self.targets.get(target)
        if members is None:
            if not register:
                return None
            members = self.targets[target] = {}
        else:
            self._expire(members, ts)
        known = name in members
        count = len(members) - known
        if register and not known:
            members[name] = ts
        if ts - self._pruned_at > self.window:
            self.prune(ts)
        if count == 0:
            return None
        others = (other for other in members if other != name)
        return make_sweep(target, others, count, score, self.cfg, timed=True)

    def _expire(self, members: dict[str, float], now: float) -> None:
        oldest = now - self.window
        while members:
            first = next(iter(members))
            if members[first] >= oldest:
                return
            del members[first]

    def prune(self, now: float) -> None:
        """Forget every member older than the window (and targets left empty)."""
        self._pruned_at = now
        for target in list(self.targets):
            members = self.targets[target]
            self._expire(members, now)
            if not members:
                del self.targets[target]

    def dump(self) -> list[Any]:
        return [self._pruned_at,
                [[target, list(members.items())] for target, members in self.targets.items()]]

    def load(self, data: list[Any]) -> None:
        self._pruned_at = float(data[0])
        self.targets = {str(target): {str(name): float(ts) for name, ts in members}
                        for target, members in data[1]}


__all__ = [
    "SWEEP_KINDS",
    "DistinctNames",
    "Sweep",
    "SweepMemory",
    "boosted",
    "found_in_windows",
    "is_member_match",
    "logit_raised",
    "make_sweep",
]

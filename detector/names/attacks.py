"""Recent attacks: a look-alike of a popular project that attackers squatted days ago.

Attackers come back to a target while its campaign runs: `readchar` was squatted by
`readychars` on 2023-04-04, `readycharz` on 04-06 and `readycher` on 04-08; `pproxy` by
`pyporoxy` and `pyproxyx` on 04-02 and `pkproxy` later. Each squat alone scores like the
legitimate look-alikes of a low-ranked target (0.14-0.17), and no window joins them: they
are days apart. What a registry knows by then is that the earlier ones were malicious: it
removed them, and feeds of malicious packages list them within a day.

**The rule.** A name whose best match is a popular project, scoring below
``flag_threshold`` after every other rule (sweeps, bursts, runs, grids, pairs and
echoes), gains ``attack_boost * n / (n + attack_half_names)`` on its log-odds, where ``n``
is the number of known malicious names that came within reach of that project in the
``attack_window_days`` before it and more than ``attack_lag_days`` before it (the time a feed
takes to list them). A name without a time is judged as of the log's last day. The log is
data: ``data/name_attack_log.json``, written by ``scripts/refresh_name_attacks.py`` from
dated malicious names (each counts once for each of the at most three popular projects
it comes within reach of). It names popular projects and days, never a malicious name.
``attack_boost = 0`` turns the rule off; a log older than the window says nothing.

**What it costs.** On the forward split it raises 137 of the 569,785 later live names
arriving at random above the 1% line and lifts 8 later typosquats above it (docs/names.md,
"Recent attacks"). Lookups are one dictionary lookup and two bisections per name.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from detector.names.results import NameResult
from detector.policy import NamesPolicy
from detector.resources import data_path
from detector.sweeps import logit_raised

SHIPPED_ATTACK_LOG = data_path("name_attack_log.json")
DAY = 86400.0
# How many popular projects one malicious name counts for (its best matches).
MATCHES_PER_NAME = 3


class AttackLogError(ValueError):
    """An attack log that cannot be read."""


def _day_start(day: str) -> float:
    return datetime.combine(date.fromisoformat(day[:10]), datetime.min.time(),
                            tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class AttackLog:
    """When each popular project was squatted: the day each known malicious name within
    reach of it was first seen, sorted (a day repeats for each name)."""

    as_of: str  # the last day the log covers (ISO date)
    days: dict[str, tuple[float, ...]]  # target -> day starts (UTC), sorted

    @classmethod
    def build(cls, events: Iterable[tuple[str, str]], as_of: str) -> AttackLog:
        """From (target, first_seen ISO date) pairs; events after ``as_of`` are left out."""
        end = _day_start(as_of)
        days: dict[str, list[float]] = {}
        for target, seen in events:
            when = _day_start(seen)
            if when <= end:
                days.setdefault(target, []).append(when)
        return cls(as_of, {target: tuple(sorted(found)) for target, found in sorted(days.items())})

    @property
    def end(self) -> float:
        """The end of the log's last day."""
        return _day_start(self.as_of) + DAY

    def count(self, target: str, ts: float, window_days: float, lag_days: float) -> int:
        """Squats of ``target`` first seen in the ``window_days`` before ``ts`` and more than
        ``lag_days`` before it (a day counts from its start)."""
        days = self.days.get(target)
        if not days:
            return 0
        high = bisect.bisect_left(days, ts - lag_days * DAY)
        return max(high - bisect.bisect_left(days, ts - window_days * DAY), 0)

    def to_json(self) -> str:
        """One line per target, so that a refresh reads as a diff."""
        rows = ",\n".join(
            f"  {json.dumps(target)}: "
            + json.dumps([datetime.fromtimestamp(day, UTC).date().isoformat() for day in days])
            for target, days in self.days.items())
        note = "written by scripts/refresh_name_attacks.py; do not edit by hand"
        return (f'{{"note": {json.dumps(note)},\n "as_of": {json.dumps(self.as_of)},\n'
                f' "targets": {{\n{rows}\n }}\n}}')

    @classmethod
    def from_json(cls, text: str, source: str = "attack log") -> AttackLog:
        """The log ``to_json`` wrote; ``AttackLogError`` naming ``source`` if damaged."""
        try:
            raw = json.loads(text)
            as_of = str(raw["as_of"])
            _day_start(as_of)
            events = [(str(target), str(day)) for target, found in raw["targets"].items()
                      for day in found]
            return cls.build(events, as_of)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AttackLogError(f"{source}: damaged attack log ({exc})") from exc


EMPTY_LOG = AttackLog("1970-01-01", {})


@lru_cache(maxsize=4)
def load_attack_log(path: str | None = None) -> AttackLog:
    """The shipped log (or the one at ``path``); an absent file is an empty log."""
    source = Path(path) if path else SHIPPED_ATTACK_LOG
    if not source.is_file():
        return EMPTY_LOG
    return AttackLog.from_json(source.read_text(encoding="utf-8"), str(source))


def attacks_on(cfg: NamesPolicy) -> bool:
    return cfg.attack_boost > 0.0


@dataclass(frozen=True, slots=True)
class RecentAttack:
    """A name's target and how often attackers squatted it just before."""

    target: str
    squats: int
    individual: float  # the name's score before
    score: float  # after the gain
    window_days: float
    until: str  # the last day counted (ISO date)

    @property
    def reason(self) -> str:
        plural = "s" if self.squats != 1 else ""
        return (f"attack: '{self.target}' was squatted by {self.squats} known malicious"
                f" name{plural} in the {self.window_days:g} days to {self.until}, as a"
                f" campaign returns to its target; score {self.individual:.2f} before")

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "squats": self.squats,
                "individual_score": self.individual, "window_days": self.window_days,
                "until": self.until}


class RecentAttacks:
    """The rule, with its log: what a batch and a stream ask (no state of its own)."""

    def __init__(self, cfg: NamesPolicy, log: AttackLog | None = None) -> None:
        self.cfg = cfg
        self.log = load_attack_log() if log is None else log
        self.on = attacks_on(cfg) and bool(self.log.days)

    def squats(self, result: NameResult, ts: float | None) -> int:
        """Recent squats of ``result``'s best match's target, at ``ts`` (None: the log's
        end); 0 without a match or with the rule off."""
        if not self.on or not result.matches or result.error is not None:
            return 0
        return self.target_squats(result.matches[0].target, ts)

    def moment(self, ts: float | None) -> float:
        """When a name at ``ts`` is judged: then, or without a time just late enough for
        the log's last day to count."""
        return self.log.end + self.cfg.attack_lag_days * DAY if ts is None else ts

    def target_squats(self, target: str, ts: float | None) -> int:
        cfg = self.cfg
        return self.log.count(target, self.moment(ts), cfg.attack_window_days,
                              cfg.attack_lag_days)

    def judge(self, target: str, squats: int, score: float, ts: float | None
              ) -> RecentAttack | None:
        """The raise of a name of ``target`` scoring ``score`` so far with ``squats``
        recent squats of it; None when there are none or it is flagged already."""
        cfg = self.cfg
        if squats <= 0 or score >= cfg.flag_threshold:
            return None
        last = self.moment(ts) - cfg.attack_lag_days * DAY - 1.0  # the last second counted
        until = datetime.fromtimestamp(last, UTC).date().isoformat()
        raised = logit_raised(score, cfg.attack_boost * squats
                              / (squats + cfg.attack_half_names))
        return RecentAttack(target, squats, score, raised, cfg.attack_window_days, until)


def with_attack(result: NameResult, attack: RecentAttack, cfg: NamesPolicy) -> NameResult:
    """``result`` raised by its recent attacks, its flag renewed, the reason added."""
    return result.raised(attack.score, attack.reason,
                         {**(result.sweep or {}), "attack": attack.to_dict()},
                         cfg.flag_threshold)


__all__ = ["EMPTY_LOG", "AttackLog", "AttackLogError", "RecentAttack", "RecentAttacks",
           "attacks_on", "load_attack_log", "with_attack"]

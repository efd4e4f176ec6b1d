"""The registration breaker: when to pause new accounts, new projects or uploads.

Pure: no I/O and no clock. The decision is a function of (state, new
observations, now); ``Breaker.step`` returns a new state, ``Breaker.advance``
updates one in place (the fast path for the stream scorer). State round-trips
through plain dicts so a service can persist it and add manual pauses on top.

Rules, all from the ``[breaker]`` table of the policy file:

* trip: a scope pauses when flagged registrations in a window reach a rule's
  count (e.g. 15 in 60 minutes, or 40 in 6 hours);
* hysteresis: an automatic pause ends only after ``min_pause_minutes`` and once
  flagged registrations in the last ``reset_window_minutes`` fall to
  ``reset_flagged`` or fewer; after a reset, counting starts afresh;
* expiry: any pause ends after ``expire_hours`` (a person can pause again);
* manual pauses end only by expiry or a manual resume.
"""

from __future__ import annotations

import copy
from bisect import bisect_left
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from detector.policy import section
from detector.stream.events import format_ts, parse_ts

SCOPES = ("account.created", "project.created", "release.uploaded")
_NOUNS = {
    "account.created": "new accounts",
    "project.created": "new projects",
    "release.uploaded": "uploads",
}


@dataclass(frozen=True, slots=True)
class TripRule:
    window_minutes: float
    flagged: int


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Thresholds of the breaker; ``from_policy`` reads them from the policy file."""

    trip_rules: tuple[TripRule, ...] = (TripRule(60, 15), TripRule(360, 40))
    reset_window_minutes: float = 60
    reset_flagged: int = 2
    min_pause_minutes: float = 240
    expire_hours: float = 24

    @classmethod
    def from_policy(cls, policy_path: str | None = None) -> BreakerPolicy:
        table = section("breaker", policy_path)
        rules = tuple(TripRule(float(r["window_minutes"]), int(r["flagged"]))
                      for r in table["trip_rules"])
        if not rules or any(r.window_minutes <= 0 or r.flagged <= 0 for r in rules):
            raise ValueError("[breaker] trip_rules needs positive window_minutes and flagged")
        return cls(
            trip_rules=rules,
            reset_window_minutes=float(table["reset_window_minutes"]),
            reset_flagged=int(table["reset_flagged"]),
            min_pause_minutes=float(table["min_pause_minutes"]),
            expire_hours=float(table["expire_hours"]),
        )

    @property
    def horizon(self) -> float:
        """Seconds of flagged observations the state must remember."""
        return 60 * max([r.window_minutes for r in self.trip_rules] + [self.reset_window_minutes])


@dataclass(frozen=True, slots=True)
class Observation:
    """One scored registration as the breaker sees it."""

    scope: str
    ts: float
    flagged: bool
    campaign: str | None = None


@dataclass(slots=True)
class ScopeState:
    state: str = "open"
    since: float | None = None
    expires_at: float | None = None
    reason: str | None = None
    manual: bool = False
    counting_from: float | None = None
    flagged: list[tuple[float, str | None]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "since": None if self.since is None else format_ts(self.since),
            "expires_at": None if self.expires_at is None else format_ts(self.expires_at),
            "reason": self.reason,
            "manual": self.manual,
            "counting_from": None if self.counting_from is None else format_ts(self.counting_from),
            "flagged": [[format_ts(ts), campaign] for ts, campaign in self.flagged],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScopeState:
        def ts(value: str | None) -> float | None:
            return None if value is None else parse_ts(value)

        if data.get("state", "open") not in ("open", "paused"):
            raise ValueError(f"breaker state must be 'open' or 'paused', not {data['state']!r}")
        return cls(
            state=data.get("state", "open"),
            since=ts(data.get("since")),
            expires_at=ts(data.get("expires_at")),
            reason=data.get("reason"),
            manual=bool(data.get("manual", False)),
            counting_from=ts(data.get("counting_from")),
            flagged=[(parse_ts(t), c) for t, c in data.get("flagged", [])],
        )


@dataclass(slots=True)
class BreakerState:
    scopes: dict[str, ScopeState] = field(
        default_factory=lambda: {scope: ScopeState() for scope in SCOPES})

    def to_dict(self) -> dict[str, Any]:
        return {scope: state.to_dict() for scope, state in self.scopes.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BreakerState:
        unknown = set(data) - set(SCOPES)
        if unknown:
            raise ValueError(f"unknown breaker scope {sorted(unknown)[0]!r}")
        state = cls()
        for scope, value in data.items():
            state.scopes[scope] = ScopeState.from_dict(value)
        return state


def _transition(scope: str, state: ScopeState, now: float) -> dict[str, Any]:
    line: dict[str, Any] = {"scope": scope, "state": state.state, "at": format_ts(now),
                            "reason": state.reason}
    if state.state == "paused":
        line["expires_at"] = format_ts(state.expires_at) if state.expires_at else None
    return line


class Breaker:
    """Applies a ``BreakerPolicy`` to a ``BreakerState``."""

    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        self.policy = policy or BreakerPolicy()
        self._horizon = self.policy.horizon

    def step(self, state: BreakerState, observations: list[Observation], now: float
             ) -> tuple[BreakerState, list[dict[str, Any]]]:
        """Pure form of ``advance``: returns a new state and the transitions."""
        new_state = copy.deepcopy(state)
        return new_state, self.advance(new_state, observations, now)

    def advance(self, state: BreakerState, observations: list[Observation], now: float
                ) -> list[dict[str, Any]]:
        """Record observations, then trip, reset or expire scopes as of ``now``."""
        fresh = set()
        for obs in observations:
            if obs.scope not in state.scopes:
                raise ValueError(f"unknown breaker scope {obs.scope!r}")
            if obs.flagged:
                state.scopes[obs.scope].flagged.append((obs.ts, obs.campaign))
                fresh.add(obs.scope)
        return self._settle(state, fresh, now)

    def advance_one(self, state: BreakerState, scope: str, ts: float, flagged: bool,
                    campaign: str | None, now: float) -> list[dict[str, Any]]:
        """``advance`` with one observation given by its fields (the stream scorer's
        per-event call, spared building an ``Observation``)."""
        scope_state = state.scopes.get(scope)
        if scope_state is None:
            raise ValueError(f"unknown breaker scope {scope!r}")
        if flagged:
            scope_state.flagged.append((ts, campaign))
            return self._settle(state, (scope,), now)
        return self._settle(state, (), now)

    def _settle(self, state: BreakerState, fresh: Collection[str], now: float
                ) -> list[dict[str, Any]]:
        """Trip, reset or expire scopes as of ``now``; ``fresh``: scopes just given
        flagged observations."""
        transitions = []
        horizon = now - self._horizon
        for scope, scope_state in state.scopes.items():
            flagged = scope_state.flagged
            if flagged and flagged[0][0] < horizon:
                scope_state.flagged = [item for item in flagged if item[0] >= horizon]
            # Counts only grow with new flagged observations: an open scope needs no
            # check otherwise. Paused scopes are checked as time passes.
            if scope_state.state == "paused" or scope in fresh:
                transitions.extend(self._update(scope, scope_state, now))
        return transitions

    def _count(self, scope_state: ScopeState, now: float, minutes: float
               ) -> tuple[int, Counter[str]]:
        cutoff = now - minutes * 60
        if scope_state.counting_from is not None:
            cutoff = max(cutoff, scope_state.counting_from)
        flagged = scope_state.flagged
        lo = bisect_left(flagged, cutoff, key=lambda item: item[0])
        recent = [c for ts, c in flagged[lo:] if ts <= now]
        return len(recent), Counter(c for c in recent if c)

    def _update(self, scope: str, s: ScopeState, now: float) -> list[dict[str, Any]]:
        p = self.policy
        noun = _NOUNS.get(scope, scope)
        out = []
        if s.state == "paused":
            if s.expires_at is not None and now >= s.expires_at:
                hours = (now - (s.since or now)) / 3600
                self._open(s, now, f"pause expired after {hours:.0f} h; counting starts afresh")
                out.append(_transition(scope, s, now))
            elif not s.manual and s.since is not None and \
                    now - s.since >= p.min_pause_minutes * 60:
                count, _ = self._count(s, now, p.reset_window_minutes)
                if count <= p.reset_flagged:
                    self._open(s, now, f"quiet again: {count} flagged {noun} in the last "
                                       f"{p.reset_window_minutes:.0f} min")
                    out.append(_transition(scope, s, now))
            return out
        for rule in p.trip_rules:
            count, campaigns = self._count(s, now, rule.window_minutes)
            if count >= rule.flagged:
                reason = (f"{count} flagged {noun} in {rule.window_minutes:.0f} min "
                          f"(threshold {rule.flagged})")
                if campaigns:
                    top, n = campaigns.most_common(1)[0]
                    reason += f"; {n} of them from campaign {top}"
                s.state, s.since, s.reason, s.manual = "paused", now, reason, False
                s.expires_at = now + p.expire_hours * 3600
                out.append(_transition(scope, s, now))
                break
        return out

    @staticmethod
    def _open(s: ScopeState, now: float, reason: str) -> None:
        s.state, s.since, s.expires_at, s.reason, s.manual = "open", now, None, reason, False
        s.counting_from = now

    def pause(self, state: BreakerState, scope: str, reason: str, now: float,
              expires_in_minutes: float | None = None) -> dict[str, Any]:
        """A manual pause; it ends only by expiry or ``resume``."""
        if scope not in state.scopes:
            raise ValueError(f"unknown breaker scope {scope!r}")
        s = state.scopes[scope]
        minutes = expires_in_minutes if expires_in_minutes else self.policy.expire_hours * 60
        s.state, s.since, s.reason, s.manual = "paused", now, reason, True
        s.expires_at = now + minutes * 60
        return _transition(scope, s, now)

    def resume(self, state: BreakerState, scope: str, reason: str, now: float
               ) -> dict[str, Any]:
        if scope not in state.scopes:
            raise ValueError(f"unknown breaker scope {scope!r}")
        s = state.scopes[scope]
        self._open(s, now, reason)
        return _transition(scope, s, now)

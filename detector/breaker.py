"""The registration breaker: when to pause new accounts, new projects or uploads.

The one state machine of the breaker, for ``warden score``/``replay``, the notebooks
and the service alike: every transition is decided here. Pure: no I/O and no clock.
``Breaker.advance`` records observations and settles the scopes as of ``now``;
``pause``, ``resume`` and ``confirm`` are the moderators' actions; ``adopt`` takes a
scope's state as another process persisted it. State round-trips through plain JSON
(``BreakerState.to_dict``), so a service can store it.

Rules, all from the ``[breaker]`` table of the policy file:

* trip: a scope pauses when flagged registrations in a window reach a rule's count
  (e.g. 15 in 60 minutes, or 40 in 6 hours): an *automatic* pause;
* lapse: an automatic pause nobody confirmed ends after ``auto_trip_minutes``;
* hysteresis: an unconfirmed automatic pause also ends once ``min_pause_minutes``
  have passed and flagged registrations in the last ``reset_window_minutes`` are at
  most ``reset_flagged`` (it matters only when ``min_pause_minutes`` is shorter than
  ``auto_trip_minutes``);
* confirm: a moderator keeps a pause until a new expiry (default
  ``manual_pause_default_minutes``, at most ``manual_pause_max_minutes``); quiet traffic
  no longer ends it;
* manual pause: a moderator pauses a scope with a reason and an expiry (same limits);
  it ends by expiry or resume;
* re-arm: whenever a scope opens (lapse, reset, expiry or resume) counting starts
  afresh from that moment, so a wave that goes on trips again within the trip rule's
  own window;
* cohort scopes (``detector.breaker_scope``): a scope may also be one cohort of an
  event type (``account.created|email_domain:x.edu``). When an event type trips, the
  breaker pauses the cohort that holds the wave (``breaker_scope.choose`` over the
  flagged registrations that tripped and each cohort's traffic in the window) instead
  of the whole type, when there is one; the cohort's flagged registrations then count
  towards it, not the type, so a wave that leaves the cohort trips the type. A cohort
  pause has the same lapse, reset, expiry, confirmation, manual pause and resume as a
  type's. ``holds`` says which pause (if any) refuses a registration.
"""

from __future__ import annotations

import copy
import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from detector import breaker_scope as cohort
from detector.policy import BreakerPolicy, resolve
from detector.timestamps import format_ts, parse_ts
from detector.vocab import Scope, values

SCOPES = values(Scope)
_NOUNS: dict[str, str] = {Scope.ACCOUNT: "new accounts", Scope.PROJECT: "new projects",
                          Scope.RELEASE: "uploads"}
AUTOMATIC, MANUAL = "automatic", "manual"
# The control fields another process persists (``ScopeState.control`` less counting_from).
PERSISTED = ("state", "kind", "confirmed", "since", "expires_at", "reason", "actor")
DETECTOR, SYSTEM = "detector", "system"
# Cohort traffic (every observation, flagged or not) is counted per bucket of this many
# seconds: trip windows are measured to within one bucket.
TRAFFIC_BUCKET = 60.0
Flagged = tuple[float, str | None, tuple[str, ...]]  # time, campaign, cohorts


class BreakerError(ValueError):
    """An unknown scope, or an action that does not fit the policy or the current state."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One scored registration as the breaker sees it; ``cohorts``: the cohorts it
    belongs to (``detector.stream.scope.event_cohorts``)."""

    scope: str
    ts: float
    flagged: bool
    campaign: str | None = None
    cohorts: tuple[str, ...] = ()


def _ts(value: float | None) -> str | None:
    return None if value is None else format_ts(value)


def _parse(value: str | None) -> float | None:
    return None if value is None else parse_ts(value)


@dataclass(slots=True)
class ScopeState:
    """One scope. ``since``: when it last changed state; ``counting_from``: flagged
    registrations before this time no longer count towards a trip (re-arm)."""

    state: str = "open"
    kind: str | None = None  # automatic or manual, while paused
    confirmed: bool = False
    since: float | None = None
    expires_at: float | None = None
    reason: str | None = None
    actor: str | None = None
    counting_from: float | None = None
    flagged: list[Flagged] = field(default_factory=list)

    def control(self) -> dict[str, Any]:
        """Everything but the flagged observations: what a service persists per scope."""
        return {"state": self.state, "kind": self.kind, "confirmed": self.confirmed,
                "since": _ts(self.since), "expires_at": _ts(self.expires_at),
                "reason": self.reason, "actor": self.actor,
                "counting_from": _ts(self.counting_from)}

    def to_dict(self) -> dict[str, Any]:
        return {**self.control(),
                "flagged": [[format_ts(ts), campaign, list(cohorts)]
                            for ts, campaign, cohorts in self.flagged]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScopeState:
        state = data.get("state", "open")
        if state not in ("open", "paused"):
            raise ValueError(f"breaker state must be 'open' or 'paused', not {state!r}")
        kind = data.get("kind")
        if kind is None and state == "paused":  # written before kinds existed
            kind = MANUAL if data.get("manual") else AUTOMATIC
        if kind not in (None, AUTOMATIC, MANUAL):
            raise ValueError(f"breaker kind must be 'automatic' or 'manual', not {kind!r}")
        return cls(state=state, kind=kind if state == "paused" else None,
                   confirmed=bool(data.get("confirmed", False)),
                   since=_parse(data.get("since")), expires_at=_parse(data.get("expires_at")),
                   reason=data.get("reason"), actor=data.get("actor"),
                   counting_from=_parse(data.get("counting_from")),
                   flagged=[(parse_ts(item[0]), item[1],
                             tuple(item[2]) if len(item) > 2 else ())
                            for item in data.get("flagged", [])])


def _check_scope(scope: str) -> str | None:
    """The cohort of a scope (None for an event type); ``BreakerError`` when unknown."""
    try:
        return cohort.split_scope(scope)[1]
    except cohort.CohortError as exc:
        raise BreakerError(str(exc)) from None


@dataclass(slots=True)
class BreakerState:
    """Every scope (the three event types, and the cohort scopes that were paused and
    have not been forgotten), ``clock``: the newest observation time (event time), and
    ``traffic``: per cohort scope key, ``[bucket start, registrations]`` of the horizon."""

    scopes: dict[str, ScopeState] = field(
        default_factory=lambda: {scope: ScopeState() for scope in SCOPES})
    clock: float | None = None
    traffic: dict[str, list[list[float]]] = field(default_factory=dict)
    traffic_pruned_at: float = -math.inf

    def to_dict(self) -> dict[str, Any]:
        return {"scopes": {scope: state.to_dict() for scope, state in self.scopes.items()},
                "clock": _ts(self.clock),
                "traffic": {key: [list(b) for b in buckets]
                            for key, buckets in self.traffic.items()},
                "traffic_pruned_at": (None if self.traffic_pruned_at == -math.inf
                                      else self.traffic_pruned_at)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BreakerState:
        scopes = data.get("scopes", data)  # also the older form: scopes at the top level
        for scope in scopes:
            if scope not in ("clock", "traffic", "traffic_pruned_at"):
                try:
                    cohort.split_scope(scope)
                except cohort.CohortError:
                    raise ValueError(f"unknown breaker scope {scope!r}") from None
        state = cls(clock=_parse(data.get("clock")) if "scopes" in data else None)
        if "scopes" in data:
            state.traffic = {key: [list(b) for b in buckets]
                             for key, buckets in (data.get("traffic") or {}).items()}
            pruned = data.get("traffic_pruned_at")
            state.traffic_pruned_at = -math.inf if pruned is None else float(pruned)
        for scope, value in scopes.items():
            if scope not in ("clock", "traffic", "traffic_pruned_at"):
                state.scopes[scope] = ScopeState.from_dict(value)
        return state

    def scope(self, scope: str, create: bool = False) -> ScopeState:
        """A scope's state; a cohort scope not held yet is made (open) when ``create``."""
        found = self.scopes.get(scope)
        if found is None:
            if _check_scope(scope) is None or not create:
                raise BreakerError(f"unknown breaker scope {scope!r} "
                                   f"(expected one of {', '.join(SCOPES)}, or a paused "
                                   f"cohort scope)")
            found = self.scopes[scope] = ScopeState()
        return found

    def paused_cohorts(self, event_type: str) -> list[str]:
        """The cohort scopes of ``event_type`` paused now (as last settled)."""
        if len(self.scopes) == len(SCOPES):
            return []
        prefix = event_type + cohort.SEP
        return [key for key, s in self.scopes.items()
                if s.state == "paused" and key.startswith(prefix)]


def _noun(scope: str) -> str:
    """What a scope holds: ``new accounts``, ``new accounts of e-mail domain x.edu``."""
    event_type, _, which = scope.partition(cohort.SEP)
    noun = _NOUNS.get(event_type, event_type)
    return f"{noun} of {cohort.describe(which)}" if which else noun


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _rearm_time(now: float, clock: float | None) -> float:
    """Where counting starts again when a scope opens at ``now`` (see ``Breaker._open``)."""
    return now if clock is None or now <= clock else math.nextafter(clock, math.inf)


def _transition(scope: str, s: ScopeState, now: float, action: str, previous: str
                ) -> dict[str, Any]:
    """A transition line: the action and the scope's control state after it."""
    line: dict[str, Any] = {"scope": scope, "state": s.state, "at": format_ts(now),
                            "reason": s.reason, "action": action, "actor": s.actor,
                            "previous": previous}
    if s.state == "paused":
        line["kind"] = s.kind
        line["confirmed"] = s.confirmed
        line["expires_at"] = _ts(s.expires_at)
    return line


class Breaker:
    """Applies a ``BreakerPolicy`` to a ``BreakerState``."""

    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        self.policy = policy or resolve(None).breaker
        self._horizon = self.policy.horizon
        self._kinds = tuple(str(kind) for kind in self.policy.cohort_kinds)
        self._kind_set = frozenset(self._kinds)
        self._prune_every = max(10 * TRAFFIC_BUCKET, self._horizon / 4)

    def pause_minutes(self, asked: float | None) -> float:
        """The length of a manual pause or confirmation: ``asked``, or the default."""
        minutes = self.policy.manual_pause_default_minutes if asked is None else float(asked)
        if not (minutes > 0 and math.isfinite(minutes)):
            raise BreakerError("expires_in_minutes must be a positive number")
        if minutes > self.policy.manual_pause_max_minutes:
            raise BreakerError(f"expires_in_minutes must be at most "
                               f"{self.policy.manual_pause_max_minutes:g}")
        return minutes

    # -- observations and time -------------------------------------------------------------

    def step(self, state: BreakerState, observations: list[Observation], now: float
             ) -> tuple[BreakerState, list[dict[str, Any]]]:
        """Pure form of ``advance``: returns a new state and the transitions."""
        new_state = copy.deepcopy(state)
        return new_state, self.advance(new_state, observations, now)

    def advance(self, state: BreakerState, observations: list[Observation], now: float
                ) -> list[dict[str, Any]]:
        """Record observations, then trip, lapse, reset or expire scopes as of ``now``."""
        fresh = set()
        for obs in observations:
            if _check_scope(obs.scope) is not None:
                raise BreakerError(f"an observation's scope is an event type, "
                                   f"not {obs.scope!r}")
            state.scope(obs.scope)
            state.clock = obs.ts if state.clock is None else max(state.clock, obs.ts)
            if obs.cohorts and self._kinds:
                self._count_traffic(state, obs.scope, obs.cohorts, obs.ts)
            if obs.flagged:
                target = self._target(state, obs.scope, obs.cohorts)
                state.scopes[target].flagged.append((obs.ts, obs.campaign, obs.cohorts))
                fresh.add(target)
        return self._settle(state, fresh, now)

    def advance_one(self, state: BreakerState, scope: str, ts: float, flagged: bool,
                    campaign: str | None, now: float, cohorts: tuple[str, ...] = ()
                    ) -> list[dict[str, Any]]:
        """``advance`` with one observation given by its fields (the stream scorer's
        per-event call, spared building an ``Observation``)."""
        state.scope(scope)
        if state.clock is None or ts > state.clock:
            state.clock = ts
        if cohorts and self._kinds:
            self._count_traffic(state, scope, cohorts, ts)
        if flagged:
            target = self._target(state, scope, cohorts)
            state.scopes[target].flagged.append((ts, campaign, cohorts))
            return self._settle(state, (target,), now)
        return self._settle(state, (), now)

    @staticmethod
    def holds(state: BreakerState, event_type: str, cohorts: tuple[str, ...] = ()
              ) -> str | None:
        """The pause that refuses a registration of ``event_type`` with ``cohorts`` now
        (the type's own, else a paused cohort of it it belongs to), or None: open."""
        if state.scope(event_type).state == "paused":
            return event_type
        for key in state.paused_cohorts(event_type):
            if cohort.matches(key.partition(cohort.SEP)[2], cohorts):
                return key
        return None

    @staticmethod
    def _target(state: BreakerState, scope: str, cohorts: tuple[str, ...]) -> str:
        """Where a flagged registration counts: a paused cohort holding it, else its type."""
        if state.scopes[scope].state != "paused":
            for key in state.paused_cohorts(scope):
                if cohort.matches(key.partition(cohort.SEP)[2], cohorts):
                    return key
        return scope

    def _count_traffic(self, state: BreakerState, scope: str, cohorts: tuple[str, ...],
                       ts: float) -> None:
        bucket = ts - ts % TRAFFIC_BUCKET
        traffic, kinds = state.traffic, self._kind_set
        for item in cohorts:
            if item.partition(":")[0] not in kinds:
                continue
            key = scope + cohort.SEP + item
            buckets = traffic.get(key)
            if buckets is None:
                traffic[key] = [[bucket, 1]]
            elif buckets[-1][0] >= bucket:
                buckets[-1][1] += 1
            else:
                buckets.append([bucket, 1])

    @staticmethod
    def _traffic(state: BreakerState, key: str, since: float) -> int:
        return int(sum(n for start, n in state.traffic.get(key, ())
                       if start + TRAFFIC_BUCKET > since))

    def _prune_traffic(self, state: BreakerState, now: float) -> None:
        """Forget traffic older than the horizon, every quarter horizon of event time:
        keys quiet since, and the old buckets of keys holding many (counts only read
        the window's buckets, so a few old ones cost nothing)."""
        if now - state.traffic_pruned_at < self._prune_every:
            return
        state.traffic_pruned_at = now
        cutoff = now - self._horizon - TRAFFIC_BUCKET
        stale = []
        for key, buckets in state.traffic.items():
            if buckets[-1][0] < cutoff:
                stale.append(key)
            elif len(buckets) > 64 and buckets[0][0] < cutoff:
                buckets[:] = [b for b in buckets if b[0] >= cutoff]
        for key in stale:
            del state.traffic[key]

    def tick(self, state: BreakerState, now: float) -> list[dict[str, Any]]:
        """Time passes with nothing observed (the service's sweeper): lapses, resets,
        expiries due by ``now``."""
        return self._settle(state, (), now)

    def _settle(self, state: BreakerState, fresh: Collection[str], now: float
                ) -> list[dict[str, Any]]:
        """Trip, lapse, reset or expire scopes as of ``now``; ``fresh``: scopes just
        given flagged observations."""
        transitions = []
        horizon = now - self._horizon
        forget = []
        for scope, scope_state in list(state.scopes.items()):
            flagged = scope_state.flagged
            if flagged and flagged[0][0] < horizon:
                scope_state.flagged = [item for item in flagged if item[0] >= horizon]
            # Counts only grow with new flagged observations: an open scope needs no
            # check otherwise. Paused scopes are checked as time passes.
            if scope_state.state == "paused" or scope in fresh:
                transitions.extend(self._update(state, scope, scope_state, now))
            if scope_state.state == "open" and scope not in SCOPES:
                forget.append(scope)  # an open cohort is not held (only pauses are)
        for scope in forget:
            del state.scopes[scope]
        if state.traffic:
            self._prune_traffic(state, now)
        return transitions

    def _count(self, scope_state: ScopeState, now: float, minutes: float
               ) -> tuple[int, Counter[str]]:
        cutoff = now - minutes * 60
        if scope_state.counting_from is not None:
            cutoff = max(cutoff, scope_state.counting_from)
        flagged = scope_state.flagged
        lo = bisect_left(flagged, cutoff, key=lambda item: item[0])
        recent = [item[1] for item in flagged[lo:] if item[0] <= now]
        return len(recent), Counter(c for c in recent if c)

    def _update(self, state: BreakerState, scope: str, s: ScopeState, now: float
                ) -> list[dict[str, Any]]:
        p = self.policy
        noun = _noun(scope)
        if s.state == "paused":
            unconfirmed = s.kind == AUTOMATIC and not s.confirmed
            if s.expires_at is not None and now >= s.expires_at:
                lasted = _duration(now - (s.since or now))
                if unconfirmed:
                    action = "lapse"
                    why = (f"automatic pause lapsed unconfirmed after {lasted}; "
                           f"counting starts afresh")
                else:
                    action = "expire"
                    why = f"pause expired after {lasted}; counting starts afresh"
                return [self._open(state, scope, now, why, SYSTEM, action)]
            if unconfirmed and s.since is not None and now - s.since >= p.min_pause_minutes * 60:
                count, _ = self._count(s, now, p.reset_window_minutes)
                if count <= p.reset_flagged:
                    why = (f"quiet again: {count} flagged {noun} in the last "
                           f"{p.reset_window_minutes:.0f} min")
                    return [self._open(state, scope, now, why, DETECTOR, "reset")]
            return []
        for rule in p.trip_rules:
            count, campaigns = self._count(s, now, rule.window_minutes)
            if count >= rule.flagged:
                reason = (f"{count} flagged {noun} in {rule.window_minutes:.0f} min "
                          f"(threshold {rule.flagged})")
                if campaigns:
                    top, n = campaigns.most_common(1)[0]
                    reason += f"; {n} of them from campaign {top}"
                if self._kinds and scope in SCOPES:
                    narrow = self._narrow(state, scope, s, now, rule.window_minutes, reason)
                    if narrow is not None:
                        return narrow
                s.state, s.kind, s.confirmed = "paused", AUTOMATIC, False
                s.since, s.reason, s.actor = now, reason, DETECTOR
                s.expires_at = now + p.auto_trip_minutes * 60
                return [_transition(scope, s, now, "trip", "open")]
        return []

    def _narrow(self, state: BreakerState, scope: str, s: ScopeState, now: float,
                minutes: float, reason: str) -> list[dict[str, Any]] | None:
        """Trip the cohort of ``scope`` that holds the wave (``breaker_scope.choose``), or
        None when no cohort does. The wave's flagged registrations in that cohort move to
        the cohort scope: they no longer count towards the whole type."""
        p = self.policy
        cutoff = now - minutes * 60
        if s.counting_from is not None:
            cutoff = max(cutoff, s.counting_from)
        lo = bisect_left(s.flagged, cutoff, key=lambda item: item[0])
        wave = [item[2] for item in s.flagged[lo:] if item[0] <= now]
        since = cutoff
        choice = cohort.choose(
            wave, lambda c: self._traffic(state, scope + cohort.SEP + c, since),
            self._kinds, p.cohort_min_share, p.cohort_max_bystander_share)
        if choice is None:
            return None
        key = cohort.scope_key(scope, choice.cohort)
        c = state.scope(key, create=True)
        held = [item for item in s.flagged if cohort.matches(choice.cohort, item[2])]
        s.flagged = [item for item in s.flagged if not cohort.matches(choice.cohort, item[2])]
        c.flagged = sorted(c.flagged + held, key=lambda item: item[0])
        if c.state == "paused":  # already paused (by hand): its registrations count there
            return []
        c.state, c.kind, c.confirmed = "paused", AUTOMATIC, False
        c.since, c.reason, c.actor = now, f"{reason}; {choice.reason()}", DETECTOR
        c.expires_at = now + p.auto_trip_minutes * 60
        c.counting_from = None
        return [_transition(key, c, now, "trip", "open")]

    @staticmethod
    def _open(state: BreakerState, scope: str, now: float, reason: str, actor: str,
              action: str) -> dict[str, Any]:
        """Open a scope and re-arm it: flagged registrations count again from ``now``,
        or, when ``now`` is past every observation (a moderator's action, the sweeper),
        from just after the newest one, so that events scored later at that time count."""
        s = state.scopes[scope]
        previous = s.state
        s.state, s.kind, s.confirmed, s.since = "open", None, False, now
        s.expires_at, s.reason, s.actor = None, reason, actor
        s.counting_from = _rearm_time(now, state.clock)
        return _transition(scope, s, now, action, previous)

    # -- moderators' actions ---------------------------------------------------------------

    def pause(self, state: BreakerState, scope: str, reason: str, now: float,
              minutes: float | None = None, actor: str | None = None) -> dict[str, Any]:
        """A manual pause (or a new expiry for a running one); ends by expiry or resume."""
        minutes = self.pause_minutes(minutes)
        s = state.scope(scope, create=True)
        previous = s.state
        s.state, s.kind, s.confirmed, s.since = "paused", MANUAL, True, now
        s.reason, s.actor, s.expires_at = reason, actor, now + minutes * 60
        return _transition(scope, s, now, "pause", previous)

    def resume(self, state: BreakerState, scope: str, reason: str, now: float,
               actor: str | None = None) -> dict[str, Any]:
        """Open a scope now, whatever paused it; detection re-arms at once."""
        state.scope(scope, create=True)
        return self._open(state, scope, now, reason, actor or SYSTEM, "resume")

    def confirm(self, state: BreakerState, scope: str, reason: str, now: float,
                minutes: float | None = None, actor: str | None = None) -> dict[str, Any]:
        """Keep a running pause until now + ``minutes``: it no longer lapses or resets."""
        s = state.scopes.get(scope) or state.scope(scope, create=True)
        if s.state != "paused":
            if scope not in SCOPES:
                del state.scopes[scope]
            raise BreakerError(f"{scope} is not paused; nothing to confirm")
        minutes = self.pause_minutes(minutes)
        s.confirmed, s.expires_at, s.actor = True, now + minutes * 60, actor
        s.reason = f"{s.reason} — confirmed: {reason}"
        return _transition(scope, s, now, "confirm", "paused")

    def adopt(self, state: BreakerState, scope: str, control: Mapping[str, Any]) -> bool:
        """Take a scope's control state as persisted elsewhere (another process decided
        it); keeps this state's observations. True when it changed anything. A scope
        that opened there re-arms here, counting from the time it opened."""
        if scope not in state.scopes and _check_scope(scope) is not None \
                and control.get("state") != "paused":
            return False  # an open cohort: nothing to hold
        s = state.scope(scope, create=True)
        mine = s.control()
        if all(mine[key] == control.get(key) for key in PERSISTED):
            return False
        new = ScopeState.from_dict(control)
        if new.state == "open" and new.since is not None:
            opened = _rearm_time(new.since, state.clock)
            new.counting_from = max(opened, s.counting_from or opened)
        elif new.state == "open":
            new.counting_from = s.counting_from
        new.flagged = s.flagged
        state.scopes[scope] = new
        return True

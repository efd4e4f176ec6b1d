"""The one place the service calls the detector.

The detector's ``StreamScorer`` keeps the account, cohort, campaign and breaker state of
the stream. The service feeds it events with the server clock (``process(event, now)``:
events outside the accepted time range are refused, late ones are scored at the newest
time seen; see ``detector.stream.clock``), and drives its breaker with the moderators'
actions and the sweeper (``service.actions``).

The state is committed with the events, or rolled back with them. Everything that
changes it runs inside ``transaction()`` (one lock): the writer's whole group commit,
an action, a sweep. When a transaction fails after the state moved (the database
refused the commit, the detector raised half-way), the state is marked stale and is
rebuilt from what the database holds (``rebuild``, via ``loader``) before anything else
is scored, exactly as at start: so a retried event is scored once, never twice.

Events whose files are too big to scan before answering are scored without their files
first; ``complete`` later adds the code signal through the detector's own decision
function (``detector.decision.decide``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from detector.breaker import Breaker, BreakerState
from detector.decision import Signal, code_signal, decide, stricter
from detector.policy import section
from detector.stream import StreamScorer
from detector.stream.clock import check_event_time
from detector.stream.events import EventError, parse_event
from detector.stream.signals import CodeSignal, check_names, scan_files

# What a rebuild needs: the stored events to replay (oldest first) and every scope's
# stored breaker control state.
Loaded = tuple[Iterable[dict[str, Any]], Mapping[str, Mapping[str, Any]]]


class ScoringError(ValueError):
    """The detector refused an event (the message says why)."""


@dataclass
class Outcome:
    """The detector's answer for one event and the breaker transitions it caused."""

    decision: dict[str, Any]
    breaker: list[dict[str, Any]] = field(default_factory=list)


class Scorer:
    """Thread-safe owner of the detector's stream scorer (see the module docstring)."""

    def __init__(self, policy_path: str | None = None) -> None:
        self._policy_path = policy_path
        self._stream_cfg = section("stream", policy_path)
        self._lock = threading.RLock()
        self._stream = StreamScorer(policy_path=policy_path)
        self.stale = False
        self._moved = False  # an event was scored in the current transaction
        self.loader: Callable[[], Loaded] | None = None

    # -- the state and its lock -----------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Scorer]:
        """Hold the state for a unit of work that commits to the database; an exception
        leaves the state marked stale (to be rebuilt from the database)."""
        with self._lock:
            self._moved = False
            try:
                yield self
            except BaseException:
                if self._moved:
                    self.stale = True
                raise

    @contextmanager
    def locked(self) -> Iterator[Scorer]:
        """Hold the state for a change whose caller restores it on failure (an action)."""
        with self._lock:
            yield self

    def ensure_fresh(self) -> None:
        """Rebuild a stale state from the database (``loader``) before it is used."""
        with self._lock:
            if self.stale and self.loader is not None:
                events, stored = self.loader()
                self.rebuild(events, stored)

    @property
    def breaker(self) -> Breaker:
        return self._stream.breaker

    @property
    def breaker_state(self) -> BreakerState:
        """The live breaker state; read or change it only inside ``transaction()``."""
        return self._stream.breaker_state

    def adopt(self, stored: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Take the stored control state of each scope (decided by another replica, or
        the truth after a failed commit); returns the scopes that changed here."""
        with self._lock:
            return [scope for scope, control in stored.items()
                    if self.breaker.adopt(self.breaker_state, scope, control)]

    def warm_up(self) -> None:
        """Load what the first events would otherwise wait for (the name index, the code
        scanner and its model): done at start, before the service says it is ready."""
        check_names(["warden-warm-up"], self._policy_path)
        scan_files({"setup.py": "from setuptools import setup\nsetup()\n"}, self._policy_path)

    # -- events -----------------------------------------------------------------------------

    def validate(self, event: dict[str, Any], now: float) -> None:
        """The detector's own validation and the server clock's range, touching no state."""
        try:
            ev = parse_event(event)
            check_event_time(ev.ts, now, self._stream.time, ev.ts_text, ev.id)
        except EventError as exc:
            named = f"event {exc.event_id[:80]!r}: {exc}" if exc.event_id else str(exc)
            raise ScoringError(named) from None

    def prime(self, events: Iterable[dict[str, Any]]) -> None:
        """Check the project names of a group's events in one batch before they are scored
        one by one (the name check is pure, so the decisions are unchanged; a batch of 20
        costs about a quarter of 20 single checks)."""
        with self._lock:
            self._stream.prime_names(events)

    def process(self, event: dict[str, Any], now: float | None = None) -> Outcome:
        """Score one event at the server clock ``now`` (default: the wall clock)."""
        with self._lock:
            self._moved = True
            try:
                lines = self._stream.process(event, time.time() if now is None else now)
            except EventError as exc:
                raise ScoringError(str(exc)) from None
        decision = next(line for line in lines if "breaker" not in line)
        return Outcome(decision, [line["breaker"] for line in lines if "breaker" in line])

    def complete(self, decision: dict[str, Any], files: dict[str, str],
                 code: CodeSignal | None = None) -> dict[str, Any]:
        """Fold a deferred code scan into a decision made without the files.

        The code signal joins the decision's other signals in the detector's decision
        function (the same weights and thresholds as an inline scan); a deferred scan
        never lowers a decision. ``code``: the scan already made elsewhere (the service's
        isolated worker process, ``service.worker``); else the files are scanned here.
        """
        cfg = self._stream_cfg
        if code is None:
            code = scan_files(files, self._policy_path)
        merged = dict(decision)
        merged["findings"] = list(decision.get("findings") or []) + (
            code.findings if code is not None else [])
        found = code_signal(code, cfg)
        if found is not None:
            signals = [Signal.from_dict(s) for s in decision.get("signals") or []]
            result = decide([*signals, found], cfg, campaign=bool(decision.get("campaign")))
            merged["decision"] = stricter(result.decision, str(decision["decision"]))
            merged["score"] = round(max(result.score, float(decision["score"])), 4)
            merged["reasons"] = result.reasons
            merged["signals"] = [s.to_dict() for s in result.signals]
        if code is not None and code.error:
            merged["scan_error"] = code.error
        return merged

    def rebuild(self, events: Iterable[dict[str, Any]],
                stored: Mapping[str, Mapping[str, Any]] | None = None,
                now: float | None = None) -> int:
        """A fresh state from stored events (oldest first) and the stored breaker state:
        at start, and after a failed transaction. The name and code caches are kept
        (they are pure). Transitions the replay produces are not re-applied: the stored
        breaker state is the truth, and is adopted last."""
        now = time.time() if now is None else now
        with self._lock:
            old = self._stream
            self._stream = StreamScorer(policy_path=self._policy_path)
            self._stream.names, self._stream.code = old.names, old.code
            self._stream.signal_times = old.signal_times
            count = 0
            for event in events:
                try:
                    self._stream.process(event, now)
                except EventError:
                    continue
                count += 1
            if stored:
                self.adopt(stored)
            self.stale = False
        return count

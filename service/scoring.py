"""The one place the service calls the detector.

The detector's ``StreamScorer`` keeps the account, cohort, campaign and breaker state of
the stream. The service feeds it events with the server clock (``process(event, now)``:
events outside the accepted time range are refused, late ones are scored at the newest
time seen; see ``detector.stream.clock``), and drives its breaker with the moderators'
actions and the sweeper (``service.actions``).

The state is the state after a prefix of the one stream every replica scores
(``service.stream_log``): ``seq`` is the log position it has seen. A group commit replays
the log after it (``catch_up``) before scoring its own events, numbered from there.

The state is committed with the events, or rolled back with them. Everything that
changes it runs inside ``transaction()`` (one lock): the writer's whole group commit,
an action, a sweep. When a transaction fails after the state moved (the database
refused the commit, the detector raised half-way), the state is marked stale and is
reset to the newest stored checkpoint (``reset``, via ``loader``) before anything else
is scored; the next group replays the log from there, exactly as at start: so a retried
event is scored once, never twice.

Events whose files are too big to scan before answering are scored without their files
first; ``complete`` later adds the code signal through the detector's own decision
function (``detector.decision.decide``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from detector.breaker import Breaker, BreakerState
from detector.decision import Signal, code_signal, decide, stricter
from detector.policy import Policy, resolve
from detector.stream import StreamScorer, checkpoint
from detector.stream.clock import check_event_time
from detector.stream.events import EventError, parse_event
from detector.stream.signals import CodeSignal, check_names, scan_files
from service.logs import log
from service.stream_log import MARK

# What a reset needs: the newest stored checkpoint (log position, state), if any.
Loaded = tuple[int, bytes] | None


# the checkpoint format this build writes and reads (detector.stream.checkpoint)
CHECKPOINT_VERSION = checkpoint.VERSION


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _apply_mark(stream: StreamScorer, mark: Mapping[str, Any]) -> int:
    """Apply a stored mark to the stream state; returns how many accounts it unlinked."""
    if mark.get(MARK) != "clear":
        log.warning("unknown stream mark ignored", extra={"mark": str(mark.get(MARK))})
        return 0
    unlinked = 0
    campaign = mark.get("campaign")
    if campaign:
        with suppress(KeyError):
            unlinked += stream.clear(campaign=str(campaign))
    return unlinked + stream.clear(accounts=[str(a) for a in mark.get("accounts") or ()])


class ScoringError(ValueError):
    """The detector refused an event (the message says why)."""


@dataclass
class Outcome:
    """The detector's answer for one event and the breaker transitions it caused."""

    decision: dict[str, Any]
    breaker: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0  # the event's log position
    # earlier events that joined a campaign (event id -> campaign id), campaign ids merged
    # into another (old -> new): see StreamScorer.relabels
    moved: dict[str, str] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)


class Scorer:
    """Thread-safe owner of the detector's stream scorer (see the module docstring)."""

    def __init__(self, policy: Policy | None = None) -> None:
        self._policy = policy = resolve(policy)
        self._stream_cfg = policy.stream
        self._lock = threading.RLock()
        self._stream = StreamScorer(policy)
        self.stale = False
        self._moved = False  # an event was scored in the current transaction
        self.loader: Callable[[], Loaded] | None = None
        self.seq = 0  # the log position the committed state has seen
        self._head = 0  # ... and the state in the current transaction
        self.checkpointed = 0  # the newest checkpoint this replica knows is stored
        self._in_transaction = False

    # -- the state and its lock -----------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Scorer]:
        """Hold the state for a unit of work that commits to the database; an exception
        leaves the state marked stale (to be rebuilt from the database)."""
        with self._lock:
            self._moved = False
            self._head = self.seq
            self._in_transaction = True
            try:
                yield self
            except BaseException:
                if self._moved:
                    self.stale = True
                raise
            finally:
                self._in_transaction = False
            self.seq = self._head

    @contextmanager
    def locked(self) -> Iterator[Scorer]:
        """Hold the state for a change whose caller restores it on failure (an action)."""
        with self._lock:
            yield self

    def ensure_fresh(self) -> None:
        """Reset a stale state to the newest stored checkpoint (``loader``) before it is
        used; the next ``catch_up`` replays the log after it."""
        with self._lock:
            if self.stale and self.loader is not None:
                self.reset(self.loader())

    def reset(self, loaded: Loaded) -> None:
        """The state of a stored checkpoint (or the empty state at log position 0, when
        there is none or it is of another version). The name and code caches are kept
        (they are pure)."""
        with self._lock:
            fresh = None
            if loaded is not None:
                try:
                    fresh = checkpoint.decode(loaded[1], self._policy)
                except checkpoint.CheckpointError as exc:
                    log.warning("scorer checkpoint refused; replaying the whole log",
                                extra={"error": str(exc)})
            if fresh is None:
                fresh, seq = StreamScorer(self._policy), 0
            else:
                seq = loaded[0] if loaded is not None else 0
                self.checkpointed = max(self.checkpointed, seq)
            old = self._stream
            fresh.names, fresh.code = old.names, old.code
            fresh.signal_times = old.signal_times
            self._stream = fresh
            self.seq = self._head = seq
            self.stale = False

    def catch_up(self, events: Iterable[tuple[int, dict[str, Any], float]]) -> int:
        """Replay the log after ``seq``: (seq, the event as it was scored, the server
        clock it was scored at). Their answers and breaker transitions were stored by
        whoever scored them first; only the state moves here. Returns how many."""
        count = 0
        with self._lock:
            stream = self._stream
            try:
                for batch in _batches(events, 500):
                    # their project names checked in one batch first (a quarter of the
                    # cost of one check each; pure, so the state is the same)
                    stream.prime_names(event for seq, event, _ in batch
                                       if seq > self._head and MARK not in event)
                    for seq, event, clock in batch:
                        if seq <= self._head:
                            continue  # read before another caller moved the state past it
                        self._moved = True
                        if MARK in event:  # a verdict stored in the log (stream_log)
                            _apply_mark(stream, event)
                        else:
                            with suppress(EventError):  # refused when first scored
                                stream.process(event, clock)
                        self._head = seq
                        count += 1
            except BaseException:
                self.stale = True  # half-way through (the database failed): reset
                raise
            if not self._in_transaction:
                self.seq = self._head
        return count

    def clear(self, campaign: str | None, accounts: list[str]) -> tuple[int, int]:
        """A benign verdict: unlink ``campaign`` and ``accounts`` in the stream state
        (``StreamScorer.clear``); the caller stores the mark at the returned log position,
        in the transaction holding the stream lock. Returns (position, accounts unlinked).
        A campaign the state does not hold (merged away, never raised here) clears
        nothing but its accounts."""
        with self._lock:
            self._moved = True
            unlinked = _apply_mark(self._stream, {MARK: "clear", "campaign": campaign,
                                                  "accounts": accounts})
            self._head += 1
            return self._head, unlinked

    def encode(self) -> tuple[int, bytes]:
        """(log position, checkpoint) of the committed state."""
        with self._lock:
            return self.seq, checkpoint.encode(self._stream)

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
        check_names(["warden-warm-up"], self._policy)
        scan_files({"setup.py": "from setuptools import setup\nsetup()\n"}, self._policy)

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

    def prime_code(self, scans: Mapping[str, CodeSignal | None]) -> None:
        """Code signals computed elsewhere (the service's scans before scoring,
        ``service.prescan``), by the files' exact hash: ``process`` takes them from the
        code cache instead of scanning."""
        if scans:
            with self._lock:
                self._stream.code.store(dict(scans))

    def process(self, event: dict[str, Any], now: float | None = None) -> Outcome:
        """Score one event at the server clock ``now`` (default: the wall clock)."""
        with self._lock:
            self._moved = True
            try:
                lines = self._stream.process(event, time.time() if now is None else now)
            except EventError as exc:
                raise ScoringError(str(exc)) from None
            self._head += 1
            moved, renamed = self._stream.relabels()
            seq = self._head
        decision = next(line for line in lines if "breaker" not in line)
        return Outcome(decision, [line["breaker"] for line in lines if "breaker" in line],
                       seq, moved, renamed)

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
            code = scan_files(files, self._policy)
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
        """A fresh state from events (oldest first, all at the server clock ``now``) and
        the stored breaker state. Transitions the replay produces are not re-applied: the
        stored breaker state is the truth, and is adopted last."""
        now = time.time() if now is None else now
        with self._lock:
            self.reset(None)
            count = self.catch_up((i, event, now) for i, event in enumerate(events, 1))
            if stored:
                self.adopt(stored)
        return count

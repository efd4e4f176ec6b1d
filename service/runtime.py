"""Everything one running app holds: database, scorer, caches, metrics, background threads."""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from detector.code.isolated import IsolatedScanner
from detector.vocab import Scope
from service import actions, breaker, ingest, scoring, stream_log, worker
from service.config import Settings
from service.db import at_head, make_engine, migrate, session_factory, utc
from service.db import checkpoint as wal_checkpoint
from service.logs import log
from service.metrics import Metrics
from service.prescan import PreScanner
from service.scoring import Scorer
from service.tokens import TokenCache
from service.writer import Writer

SWEEP_SECONDS = 1.0
CHECKPOINT_SECONDS = 0.5
# Full garbage collections (the oldest generation) stop the interpreter for as long as it
# takes to walk every container object still alive; the stream state grows by about 8 per
# event. After start they are not left to CPython's allocation counters: the sweeper runs
# one when no event has been written for GC_IDLE_SECONDS (at most every GC_MIN_SECONDS),
# and at the latest every GC_MAX_SECONDS whatever the load. The two younger generations
# keep CPython's defaults; objects that die without a reference cycle are freed at once
# as always.
GC_IDLE_SECONDS = 1.0
GC_MIN_SECONDS = 60.0
GC_MAX_SECONDS = 600.0
GC_THRESHOLDS = (700, 10, 1_000_000_000)


def full_collection_due(now: float, last_full: float, last_write: float) -> bool:
    """Whether the sweeper should run a full garbage collection now (monotonic seconds)."""
    since = now - last_full
    return since >= GC_MAX_SECONDS or (since >= GC_MIN_SECONDS
                                       and now - last_write >= GC_IDLE_SECONDS)


class _GcThresholds:
    """GC_THRESHOLDS while at least one Runtime of this process runs (tests run several),
    the process's own thresholds again once the last one stops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: tuple[int, ...] = ()

    def take(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = gc.get_threshold()
                gc.set_threshold(*GC_THRESHOLDS)
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._saved:
                gc.set_threshold(*self._saved)


_GC = _GcThresholds()


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    scorer: Scorer
    tokens: TokenCache
    status: breaker.StatusCache
    metrics: Metrics
    writer: Writer = field(init=False)
    ready: bool = False
    rebuilt: int = 0
    _gc_taken: bool = False
    _last_full_gc: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    # deferred code scans run in its worker process (started at the first one)
    scanner: IsolatedScanner = field(init=False)
    # code scans before scoring run in their own worker processes (service.prescan)
    prescan: PreScanner = field(init=False)

    def __post_init__(self) -> None:
        self.writer = Writer(self.engine, self.scorer, self.settings,
                             after_group=self._checkpoint_if_due)
        self.scanner = worker.make_scanner(self.settings)
        self.prescan = PreScanner(self.settings)
        self.scorer.loader = self.stored_state

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        # SQLite checkpoints run in their own thread (see _checkpoint), never in a commit
        # that a request is waiting for
        engine = make_engine(settings.database_url, settings.sqlite_synchronous,
                             sqlite_autocheckpoint=0)
        sessions = session_factory(engine)
        return cls(settings, engine, sessions, Scorer(settings.policy),
                   TokenCache(sessions, settings.service.token_cache_seconds),
                   breaker.StatusCache(sessions, settings.service.status_cache_seconds), Metrics())

    def stored_state(self) -> scoring.Loaded:
        """What the detector's state is reset to: the newest stored checkpoint."""
        with self.engine.connect() as connection:
            return stream_log.newest_checkpoint(connection, scoring.CHECKPOINT_VERSION)

    def catch_up(self) -> int:
        """Replay the log after the scorer's position outside any group (at start, and
        every second from the sweeper, so a replica that receives little keeps up), then
        take the stored breaker state."""
        self.scorer.ensure_fresh()
        with self.engine.connect() as connection:
            count = self.scorer.catch_up(
                (seq, ingest.scored_form(raw, self.settings, deferred),
                 utc(received).timestamp())
                for seq, raw, received, deferred in stream_log.events_after(
                    connection, self.scorer.seq))
        with self.sessions() as session:
            self.scorer.adopt(breaker.controls(session))
        return count

    def save_checkpoint(self, force: bool = False) -> bool:
        """Store a checkpoint of the stream state when ``checkpoint_events`` events were
        scored since the newest one stored (by any replica), or whenever ``force`` and
        the state is ahead of it."""
        scorer = self.scorer
        due = scorer.seq - scorer.checkpointed
        if due <= 0 or (not force and due < self.settings.service.checkpoint_events):
            return False
        with self.engine.connect() as connection:
            scorer.checkpointed = max(scorer.checkpointed,
                                      stream_log.newest_checkpoint_seq(connection))
            connection.rollback()
            if scorer.seq - scorer.checkpointed <= 0 or (
                    not force and scorer.seq - scorer.checkpointed
                    < self.settings.service.checkpoint_events):
                return False
            seq, state = scorer.encode()
            try:
                stored = stream_log.save_checkpoint(connection, seq, scoring.CHECKPOINT_VERSION,
                                                    state)
            except IntegrityError:  # another replica stored the same position first
                stored = False
        scorer.checkpointed = max(scorer.checkpointed, seq)
        if stored:
            log.info("scorer checkpoint stored", extra={"seq": seq, "bytes": len(state)})
        return stored

    def start(self) -> None:
        """Migrate, rebuild the stream state from stored events, start the background threads."""
        migrate(self.engine)
        self.prescan.start()
        self.scorer.warm_up()
        self.scorer.reset(self.stored_state())
        self.rebuilt = self.catch_up()
        log.info("service started", extra={"rebuilt_events": self.rebuilt,
                                           "database": self.engine.url.get_backend_name()})
        self._sweep_once()
        self.freeze_heap()
        self.writer.start()
        loops = [(self._sweep, "breaker-sweeper"), (self._scan, "code-scanner")]
        if self.engine.dialect.name == "sqlite":
            loops.append((self._checkpoint, "wal-checkpoint"))
        for target, name in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.prescan.wait_started()
        self.ready = True

    def freeze_heap(self) -> None:
        """Move everything alive after start (detector models, name index, rebuilt stream
        state: ~2*10^5 containers) out of the garbage collector's reach, and take full
        collections off the allocation counters (see GC_THRESHOLDS). Measured before: a
        full collection walked all of it, 150-650 ms with the interpreter stopped, a few
        times a minute under load, which was the p99 of the event requests."""
        gc.collect()
        gc.freeze()
        if not self._gc_taken:
            _GC.take()
            self._gc_taken = True
        self._last_full_gc = time.monotonic()

    def _collect_if_due(self) -> None:
        now = time.monotonic()
        if full_collection_due(now, self._last_full_gc, self.writer.last_write):
            gc.collect()
            self._last_full_gc = time.monotonic()

    def _checkpoint_if_due(self) -> None:
        try:
            self.save_checkpoint()
        except Exception:  # a checkpoint is an optimisation: the log is the truth
            log.exception("storing a scorer checkpoint failed")

    def stop(self) -> None:
        self.ready = False
        self._stop.set()
        self._wake.set()
        self.writer.stop()
        self.prescan.stop()
        try:
            self.save_checkpoint(force=True)  # a restart then replays nothing
        except Exception:
            log.exception("storing a scorer checkpoint at shutdown failed")
        for thread in self._threads:
            thread.join(timeout=10)
        self.scanner.close()
        self.engine.dispose()
        if self._gc_taken:  # an app embedded in a longer-lived process (tests)
            _GC.release()
            self._gc_taken = False

    def wake_scanner(self) -> None:
        self._wake.set()

    def healthy_database(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return at_head(self.engine)
        except Exception:  # readiness reports any database failure as "not ready"
            return False

    def _sweep_once(self) -> None:
        """Store the breaker's lapses and expiries that are due, take what other replicas
        stored (`actions.sweep`), and refresh the breaker gauges."""
        state = actions.sweep(self)
        cohorts = Counter(p["type"] for p in self.status.cohorts())
        for scope in Scope:
            self.metrics.breaker.labels(scope).set(state[scope]["state"] == "paused")
            self.metrics.breaker_cohorts.labels(scope).set(cohorts[scope])

    def _sweep(self) -> None:
        while not self._stop.wait(SWEEP_SECONDS):
            try:
                self.catch_up()
            except Exception:
                log.exception("catching up with the stream log failed")
            try:
                self._sweep_once()
            except Exception:
                log.exception("breaker sweep failed")
            self._collect_if_due()

    def _checkpoint(self) -> None:
        while not self._stop.wait(CHECKPOINT_SECONDS):
            try:
                wal_checkpoint(self.engine)
            except Exception:
                log.exception("WAL checkpoint failed")

    def _scan(self) -> None:
        while not self._stop.is_set():
            try:
                done, left = worker.scan_pending(self.sessions, self.scorer, self.settings,
                                                 self.scanner)
                self.metrics.pending.set(left)
                if done:
                    continue
            except Exception:
                log.exception("code scan failed")
            self._wake.wait(SWEEP_SECONDS)
            self._wake.clear()

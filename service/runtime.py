"""Everything one running app holds: database, scorer, caches, metrics, background threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from service import breaker, ingest, worker
from service.config import SCOPES, Settings
from service.db import at_head, make_engine, migrate, now, session_factory
from service.logs import log
from service.metrics import Metrics
from service.scoring import Scorer
from service.tokens import TokenCache
from service.writer import Writer

SWEEP_SECONDS = 1.0


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
    _stop: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.writer = Writer(self.sessions, self.scorer, self.settings)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        sessions = session_factory(engine)
        return cls(settings, engine, sessions, Scorer(settings.policy_path),
                   TokenCache(sessions, settings.token_cache_seconds),
                   breaker.StatusCache(sessions, settings.status_cache_seconds), Metrics())

    def start(self) -> None:
        """Migrate, rebuild the stream state from stored events, start the background threads."""
        migrate(self.engine)
        since = now() - timedelta(hours=self.settings.rebuild_hours)
        with self.sessions() as session:
            self.rebuilt = self.scorer.rebuild(ingest.stored_payloads(session, since))
        log.info("service started", extra={"rebuilt_events": self.rebuilt,
                                           "database": self.engine.url.get_backend_name()})
        self._sweep_once()
        self.writer.start()
        for target, name in ((self._sweep, "breaker-sweeper"), (self._scan, "code-scanner")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.ready = True

    def stop(self) -> None:
        self.ready = False
        self._stop.set()
        self._wake.set()
        self.writer.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self.engine.dispose()

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
        """Reopen expired pauses and refresh the breaker gauges."""
        with self.sessions() as session:
            opened = breaker.expire(session)
            state = breaker.status(session)
        if opened:
            self.status.invalidate()
            self.metrics.breaker_changes.labels("expire").inc(len(opened))
        for scope in SCOPES:
            self.metrics.breaker.labels(scope).set(state[scope]["state"] == "paused")

    def _sweep(self) -> None:
        while not self._stop.wait(SWEEP_SECONDS):
            try:
                self._sweep_once()
            except Exception:
                log.exception("breaker sweep failed")

    def _scan(self) -> None:
        while not self._stop.is_set():
            try:
                done, left = worker.scan_pending(self.sessions, self.scorer, self.settings)
                self.metrics.pending.set(left)
                if done:
                    continue
            except Exception:
                log.exception("code scan failed")
            self._wake.wait(SWEEP_SECONDS)
            self._wake.clear()

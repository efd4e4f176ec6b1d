"""Background code scans for events whose files were too big to scan before answering.

Pending events live in the database (not in memory), so a restart or another replica
picks up whatever was left unscanned. Each replica claims the rows it scans, so no two
replicas scan the same event:

* PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` in the scanning transaction; the
  row locks end with it, so a replica that dies mid-scan frees its rows at once;
* SQLite (one writer at a time, no row locks): an ``UPDATE`` marks the rows with the
  replica's name and the time (``scan_claimed_by``, ``scan_claimed_at``) and is
  committed before scanning; a claim older than ``[service] scan_claim_seconds`` is
  taken over.

Each scan runs in a worker process
(`detector.code.isolated`) with a wall-time and a memory limit, so one crafted file
cannot hold the server's interpreter; each attempt is counted in the database before
it starts, and an event whose scan failed `scan_max_attempts` times (a file that kills
whatever scans it) is decided without its files: review, with the reason.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from detector.code.isolated import IsolatedScanner
from detector.code.scan import stopped_result
from detector.stream.signals import CodeSignal, code_signal_of
from service.config import Settings
from service.db import now
from service.ingest import signal_names
from service.models import Event
from service.scoring import Scorer

BATCH = 4


def process_claimer() -> str:
    """This replica's name on its claims (host and process id)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(session: Session, claimer: str, lease_seconds: float, limit: int = BATCH
          ) -> list[Event]:
    """Up to ``limit`` pending events, oldest first, that no other replica is scanning.

    On PostgreSQL the rows stay locked until ``session`` commits or rolls back; on
    SQLite the claim is committed here.
    """
    oldest_first = select(Event).where(Event.pending).order_by(Event.received_at)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        query = oldest_first.limit(limit).with_for_update(skip_locked=True)
        return list(session.scalars(query))
    taken = now()
    free = or_(Event.scan_claimed_at.is_(None),
               Event.scan_claimed_at < taken - timedelta(seconds=lease_seconds))
    ids = select(Event.id).where(Event.pending, free).order_by(Event.received_at).limit(limit)
    session.execute(update(Event).where(Event.id.in_(ids.scalar_subquery()))
                    .values(scan_claimed_by=claimer, scan_claimed_at=taken)
                    .execution_options(synchronize_session=False))
    session.commit()
    return list(session.scalars(oldest_first.where(Event.scan_claimed_by == claimer,
                                                   Event.scan_claimed_at == taken)))


def make_scanner(settings: Settings) -> IsolatedScanner:
    return IsolatedScanner(settings.policy, settings.service.scan_wall_seconds,
                           settings.service.scan_memory_bytes)


def _code(event_id: str, files: dict[str, Any], attempts: int, settings: Settings,
          scanner: IsolatedScanner | None) -> CodeSignal | None:
    """The code signal of a deferred scan; None: let the scorer scan in-process."""
    if not files:
        return None
    if attempts > settings.service.scan_max_attempts:
        return code_signal_of(stopped_result(
            event_id, f"code scan not retried: {attempts - 1} attempts ended without a "
            "result (the scan killed its worker or the server)", settings.policy))
    if scanner is None:
        return None
    return code_signal_of(scanner.scan(files, event_id))


def scan_pending(sessions: sessionmaker[Session], scorer: Scorer, settings: Settings,
                 scanner: IsolatedScanner | None = None, claimer: str | None = None
                 ) -> tuple[int, int]:
    """Claim and scan up to BATCH pending events; returns (scanned, still pending)."""
    with sessions() as session:
        rows = claim(session, claimer or process_claimer(),
                     settings.service.scan_claim_seconds)
        done = 0
        for row in rows:
            attempts = int((row.detail or {}).get("scan_attempts", 0)) + 1
            decision = {"id": row.id, "score": row.score, "decision": row.decision,
                        "reasons": list(row.reasons), "campaign": row.campaign,
                        **row.detail, "scan_attempts": attempts}
            files = (row.payload.get("project") or {}).get("files") or {}
            # Counted before the scan. SQLite: committed now, so a scan that takes the
            # server down still counts. PostgreSQL: committing would free the claim's row
            # locks, so the count commits with the result (the scan runs in its own
            # process, so it is the worker, not the server, that a hostile file kills).
            session.execute(update(Event).where(Event.id == row.id, Event.pending)
                            .values(detail={**row.detail, "scan_attempts": attempts})
                            .execution_options(synchronize_session=False))
            if session.get_bind().dialect.name != "postgresql":
                session.commit()
            code = _code(row.id, files, attempts, settings, scanner)
            merged = scorer.complete(decision, files, code)
            core = {"id", "score", "decision", "reasons", "campaign"}
            # Written only while still pending (a claim that outlived its lease may have
            # been finished by another replica meanwhile).
            result = session.execute(
                update(Event).where(Event.id == row.id, Event.pending)
                .values(score=float(merged["score"]), decision=str(merged["decision"]),
                        reasons=list(merged.get("reasons") or []),
                        signals=" ".join(signal_names(merged)),
                        detail={k: v for k, v in merged.items() if k not in core},
                        pending=False)
                .execution_options(synchronize_session=False))
            done += result.rowcount  # type: ignore[attr-defined]  # a CursorResult
        session.commit()
        left = session.scalar(select(func.count()).where(Event.pending)) or 0
    return done, left

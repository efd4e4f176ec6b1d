"""Background code scans for events whose files were too big to scan before answering.

Pending events live in the database (not in memory), so a restart or another
replica picks up whatever was left unscanned. The scan itself runs in a worker process
(`detector.code.isolated`) with a wall-time and a memory limit, so one crafted file
cannot hold the server's interpreter; each attempt is counted in the database before
it starts, and an event whose scan failed `scan_max_attempts` times (a file that kills
whatever scans it) is decided without its files: review, with the reason.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from detector.code.isolated import IsolatedScanner
from detector.code.scan import stopped_result
from detector.stream.signals import CodeSignal, code_signal_of
from service.config import Settings
from service.ingest import signal_names
from service.models import Event
from service.scoring import Scorer

BATCH = 4


def make_scanner(settings: Settings) -> IsolatedScanner:
    return IsolatedScanner(settings.policy_path, settings.scan_wall_seconds,
                           settings.scan_memory_bytes)


def _code(event_id: str, files: dict[str, Any], attempts: int, settings: Settings,
          scanner: IsolatedScanner | None) -> CodeSignal | None:
    """The code signal of a deferred scan; None: let the scorer scan in-process."""
    if not files:
        return None
    if attempts > settings.scan_max_attempts:
        return code_signal_of(stopped_result(
            event_id, f"code scan not retried: {attempts - 1} attempts ended without a "
            "result (the scan killed its worker or the server)", settings.policy_path))
    if scanner is None:
        return None
    return code_signal_of(scanner.scan(files, event_id))


def scan_pending(sessions: sessionmaker[Session], scorer: Scorer, settings: Settings,
                 scanner: IsolatedScanner | None = None) -> tuple[int, int]:
    """Scan up to BATCH pending events; returns (scanned, still pending)."""
    with sessions() as session:
        rows = list(session.scalars(
            select(Event).where(Event.pending).order_by(Event.received_at).limit(BATCH)))
        done = 0
        for row in rows:
            attempts = int((row.detail or {}).get("scan_attempts", 0)) + 1
            decision = {"id": row.id, "score": row.score, "decision": row.decision,
                        "reasons": list(row.reasons), "campaign": row.campaign,
                        **row.detail, "scan_attempts": attempts}
            files = (row.payload.get("project") or {}).get("files") or {}
            # counted before the scan: a scan that takes the server down still counts
            session.execute(update(Event).where(Event.id == row.id, Event.pending)
                            .values(detail={**row.detail, "scan_attempts": attempts})
                            .execution_options(synchronize_session=False))
            session.commit()
            code = _code(row.id, files, attempts, settings, scanner)
            merged = scorer.complete(decision, files, code)
            core = {"id", "score", "decision", "reasons", "campaign"}
            # Only the first replica to finish writes (the row must still be pending).
            result = session.execute(
                update(Event).where(Event.id == row.id, Event.pending)
                .values(score=float(merged["score"]), decision=str(merged["decision"]),
                        reasons=list(merged.get("reasons") or []),
                        signals=" ".join(signal_names(merged)),
                        detail={k: v for k, v in merged.items() if k not in core},
                        pending=False)
                .execution_options(synchronize_session=False))
            done += result.rowcount
        session.commit()
        left = session.scalar(select(func.count()).where(Event.pending)) or 0
    return done, left

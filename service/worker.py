"""Background code scans for events whose files were too big to scan before answering.

Pending events live in the database (not in memory), so a restart or another
replica picks up whatever was left unscanned.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.ingest import signal_names
from service.models import Event
from service.scoring import Scorer

BATCH = 4


def scan_pending(sessions: sessionmaker[Session], scorer: Scorer,
                 settings: Settings) -> tuple[int, int]:
    """Scan up to BATCH pending events; returns (scanned, still pending)."""
    with sessions() as session:
        rows = list(session.scalars(
            select(Event).where(Event.pending).order_by(Event.received_at).limit(BATCH)))
        done = 0
        for row in rows:
            decision = {"id": row.id, "score": row.score, "decision": row.decision,
                        "reasons": list(row.reasons), "campaign": row.campaign, **row.detail}
            files = (row.payload.get("project") or {}).get("files") or {}
            merged = scorer.complete(decision, files)
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
            done += result.rowcount  # type: ignore[attr-defined]  # a CursorResult
        session.commit()
        left = session.scalar(select(func.count()).where(Event.pending)) or 0
    return done, left

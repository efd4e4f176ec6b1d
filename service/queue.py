"""The triage queue, verdicts, campaigns and the labelled export."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from service.db import now, utc
from service.models import Event, Verdict


class NotFound(LookupError):
    """No stored event or campaign by that id."""


@dataclass
class QueueFilter:
    """Query parameters of `GET /v1/queue`; `status`: `open` (no verdict yet), `decided`, `all`."""

    decision: str | None = None
    signal: str | None = None
    campaign: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_score: float | None = None
    type: str | None = None
    status: str = "open"
    limit: int = 100
    offset: int = 0


def _filtered(f: QueueFilter) -> Select[Event]:
    query = select(Event)
    if f.decision:
        query = query.where(Event.decision == f.decision)
    else:
        query = query.where(Event.decision.in_(("review", "block")) | Event.pending)
    if f.status == "open":
        query = query.where(Event.verdict.is_(None))
    elif f.status == "decided":
        query = query.where(Event.verdict.is_not(None))
    if f.signal:
        query = query.where((" " + Event.signals + " ").contains(f" {f.signal} ", autoescape=True))
    if f.campaign:
        query = query.where(Event.campaign == f.campaign)
    if f.since:
        query = query.where(Event.ts >= f.since)
    if f.until:
        query = query.where(Event.ts <= f.until)
    if f.min_score is not None:
        query = query.where(Event.score >= f.min_score)
    if f.type:
        query = query.where(Event.type == f.type)
    return query


def item(row: Event) -> dict[str, Any]:
    return {"id": row.id, "type": row.type, "ts": utc(row.ts), "username": row.username,
            "project": row.project, "score": row.score, "decision": row.decision,
            "reasons": list(row.reasons), "campaign": row.campaign,
            "signals": row.signals.split(), "pending": row.pending, "verdict": row.verdict}


def list_queue(session: Session, f: QueueFilter) -> list[Event]:
    query = _filtered(f).order_by(Event.score.desc(), Event.ts.desc(), Event.id)
    return list(session.scalars(query.limit(f.limit).offset(f.offset)))


def get_event(session: Session, event_id: str) -> Event:
    row = session.get(Event, event_id)
    if row is None:
        raise NotFound(f"no stored event with id {event_id!r}")
    return row


def _record(session: Session, row: Event, verdict: str, note: str, actor: str,
            campaign: str | None) -> Verdict:
    at = now()
    row.verdict, row.verdict_at, row.verdict_by = verdict, at, actor
    record = Verdict(event_id=row.id, verdict=verdict, note=note, actor=actor, at=at,
                     campaign=campaign)
    session.add(record)
    return record


def record_verdict(session: Session, event_id: str, verdict: str, note: str,
                   actor: str) -> Verdict:
    row = session.get(Event, event_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no stored event with id {event_id!r}")
    record = _record(session, row, verdict, note, actor, None)
    session.commit()
    return record


def campaign_events(session: Session, campaign: str) -> list[Event]:
    query = select(Event).where(Event.campaign == campaign).order_by(Event.ts, Event.id)
    rows = list(session.scalars(query))
    if not rows:
        raise NotFound(f"no stored events in campaign {campaign!r}")
    return rows


def campaign_summary(session: Session, campaign: str) -> dict[str, Any]:
    rows = campaign_events(session, campaign)
    return {
        "campaign": campaign, "events": len(rows),
        "first_ts": utc(rows[0].ts), "last_ts": utc(rows[-1].ts),
        "max_score": max(r.score for r in rows),
        "decisions": dict(Counter(r.decision for r in rows)),
        "verdicts": dict(Counter(r.verdict or "none" for r in rows)),
        "accounts": sorted({r.username for r in rows}),
        "projects": sorted({r.project for r in rows if r.project}),
        "items": [item(r) for r in sorted(rows, key=lambda r: -r.score)],
    }


def campaign_verdict(session: Session, campaign: str, verdict: str, note: str,
                     actor: str) -> int:
    """One verdict for the whole wave: recorded on every event of the campaign."""
    rows = campaign_events(session, campaign)
    for row in rows:
        _record(session, row, verdict, note, actor, campaign)
    session.commit()
    return len(rows)


def export_labelled(session: Session, since: datetime | None = None) -> list[dict[str, Any]]:
    """Every event with a verdict, as labelled data for retraining (latest verdict wins)."""
    query = select(Event).where(Event.verdict.is_not(None)).order_by(Event.verdict_at, Event.id)
    if since:
        query = query.where(Event.verdict_at >= since)
    return [
        {"id": r.id, "label": r.verdict, "verdict_by": r.verdict_by,
         "verdict_at": r.verdict_at and utc(r.verdict_at).isoformat(), "score": r.score,
         "decision": r.decision,
         "campaign": r.campaign, "event": r.payload}
        for r in session.scalars(query)
    ]


def verdict_history(session: Session, event_id: str) -> list[Verdict]:
    query = select(Verdict).where(Verdict.event_id == event_id).order_by(Verdict.id)
    return list(session.scalars(query))

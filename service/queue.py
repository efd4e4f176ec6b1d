"""The triage queue, verdicts, campaigns and the labelled export."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from service.db import now, utc
from service.models import Event, Verdict
from service.queue_status import QueueStatus
from service.verdict_source import VerdictSource


def as_utc(value: datetime) -> datetime:
    """A filter time in UTC: SQLite stores times as UTC text and compares text, so an
    offset left on the value would be ignored there (naive values are taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class NotFound(LookupError):
    """No stored event or campaign by that id."""


class AlreadyDone(ValueError):
    """The change was already made (a verdict batch undone twice)."""


@dataclass
class QueueFilter:
    """Query parameters of `GET /v1/queue` and the queue page; `status` is a `QueueStatus`,
    `sort` is ``score`` (highest first) or ``time`` (newest first)."""

    decision: str | None = None
    signal: str | None = None
    campaign: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_score: float | None = None
    type: str | None = None
    status: str = QueueStatus.OPEN
    limit: int = 100
    offset: int = 0
    verdict: str | None = None
    sort: str = "score"


DECIDED = ("malicious", "benign")


def conditions(f: QueueFilter) -> list[Any]:
    """The WHERE clauses of a queue filter (shared by the flat and the grouped listing)."""
    where: list[Any] = []
    if f.decision:
        where.append(Event.decision == f.decision)
    else:
        where.append(Event.decision.in_(("review", "block")) | Event.pending)
    if f.status == QueueStatus.OPEN:
        where.append(Event.verdict.is_(None) | (Event.verdict == "needs-info"))
    elif f.status == QueueStatus.NEEDS_INFO:
        where.append(Event.verdict == "needs-info")
    elif f.status == QueueStatus.DECIDED:
        where.append(Event.verdict.in_(DECIDED))
    if f.verdict:
        where.append(Event.verdict.is_(None) if f.verdict == "none"
                     else Event.verdict == f.verdict)
    if f.signal:
        where.append((" " + Event.signals + " ").contains(f" {f.signal} ", autoescape=True))
    if f.campaign:
        where.append(Event.campaign == f.campaign)
    if f.since:
        where.append(Event.ts >= as_utc(f.since))
    if f.until:
        where.append(Event.ts <= as_utc(f.until))
    if f.min_score is not None:
        where.append(Event.score >= f.min_score)
    if f.type:
        where.append(Event.type == f.type)
    return where


def _filtered(f: QueueFilter) -> Select[Any]:
    return select(Event).where(*conditions(f))


def order(f: QueueFilter) -> list[Any]:
    if f.sort == "time":
        return [Event.ts.desc(), Event.score.desc(), Event.id]
    return [Event.score.desc(), Event.ts.desc(), Event.id]


def item(row: Event) -> dict[str, Any]:
    return {"id": row.id, "type": row.type, "ts": utc(row.ts), "username": row.username,
            "project": row.project, "score": row.score, "decision": row.decision,
            "reasons": list(row.reasons), "campaign": row.campaign,
            "signals": row.signals.split(), "pending": row.pending, "verdict": row.verdict}


def list_queue(session: Session, f: QueueFilter) -> list[Event]:
    query = _filtered(f).order_by(*order(f))
    return list(session.scalars(query.limit(f.limit).offset(f.offset)))


def count_queue(session: Session, f: QueueFilter) -> int:
    """How many items the filter matches (the queue's total, whatever the page)."""
    return session.scalar(select(func.count()).select_from(Event).where(*conditions(f))) or 0


def get_event(session: Session, event_id: str) -> Event:
    row = session.get(Event, event_id)
    if row is None:
        raise NotFound(f"no stored event with id {event_id!r}")
    return row


def new_batch() -> str:
    return f"v-{uuid.uuid4().hex[:16]}"


def _record(session: Session, row: Event, verdict: str | None, note: str, actor: str,
            campaign: str | None, source: VerdictSource, batch: str, at: datetime,
            undoes: str | None = None) -> Verdict:
    record = Verdict(event_id=row.id, verdict=verdict, note=note, actor=actor, at=at,
                     campaign=campaign, source=source, batch=batch, previous=row.verdict,
                     undoes=undoes)
    if verdict is None:  # an undo back to "no verdict yet"
        row.verdict = row.verdict_at = row.verdict_by = None
        row.verdict_source = row.verdict_batch = None
    else:
        row.verdict, row.verdict_at, row.verdict_by = verdict, at, actor
        row.verdict_source, row.verdict_batch = source, batch
    session.add(record)
    return record


def record_verdict(session: Session, event_id: str, verdict: str, note: str,
                   actor: str) -> Verdict:
    row = session.get(Event, event_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no stored event with id {event_id!r}")
    record = _record(session, row, verdict, note, actor, None, VerdictSource.SINGLE,
                     new_batch(), now())
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


@dataclass
class WavePlan:
    """What a wave verdict will do (or did): which members get it, which are left out.

    ``kept``: members with a malicious or benign verdict of their own, never overwritten
    (chosen or not); ``excluded``: the other members the moderator left out;
    ``replaced``: members whose ``needs-info`` the wave verdict replaces (said so before
    confirming)."""

    campaign: str
    verdict: str
    apply: list[str]
    kept: dict[str, str]
    excluded: list[str]
    replaced: list[str]
    unknown: list[str]
    batch: str | None = None

    def counts(self) -> dict[str, int]:
        return {"apply": len(self.apply), "kept": len(self.kept),
                "excluded": len(self.excluded), "replaced": len(self.replaced)}


def plan_wave(rows: list[Event], campaign: str, verdict: str,
              members: Collection[str] | None = None,
              exclude: Collection[str] = ()) -> WavePlan:
    """Split a campaign's events for one verdict: ``members`` (default: all) minus
    ``exclude``; ids that are not members of the campaign are reported, not recorded."""
    ids = {r.id for r in rows}
    chosen = (ids if members is None else set(members)) - set(exclude)
    plan = WavePlan(campaign, verdict, [], {}, [], [],
                    sorted((set(members or ()) | set(exclude)) - ids))
    for row in rows:
        if row.verdict in DECIDED:
            plan.kept[row.id] = row.verdict
        elif row.id not in chosen:
            plan.excluded.append(row.id)
        else:
            if row.verdict == "needs-info":
                plan.replaced.append(row.id)
            plan.apply.append(row.id)
    return plan


def campaign_verdict(session: Session, campaign: str, verdict: str, note: str,
                     actor: str, members: Collection[str] | None = None,
                     exclude: Collection[str] = (), dry_run: bool = False) -> WavePlan:
    """One verdict for the chosen members of a wave, as one batch (undoable). Members
    with a malicious or benign verdict keep it; ``dry_run`` only plans."""
    rows = campaign_events(session, campaign)
    plan = plan_wave(rows, campaign, verdict, members, exclude)
    if dry_run:
        return plan
    plan.batch, at = new_batch(), now()
    apply = set(plan.apply)
    for row in rows:
        if row.id in apply:
            _record(session, row, verdict, note, actor, campaign, VerdictSource.WAVE,
                    plan.batch, at)
    session.commit()
    return plan


@dataclass
class Undone:
    batch: str
    undo_batch: str
    restored: int
    superseded: list[str]  # events whose verdict changed again since: left as they are


def undo_batch(session: Session, batch: str, note: str, actor: str) -> Undone:
    """Take a verdict batch back: each event it set gets its previous verdict again (or
    none), recorded as new rows of the trail. An event judged again since keeps that."""
    records = list(session.scalars(select(Verdict).where(Verdict.batch == batch)
                                   .order_by(Verdict.id)))
    if not records:
        raise NotFound(f"no verdict batch {batch!r}")
    if records[0].source == VerdictSource.UNDO:
        raise AlreadyDone(f"batch {batch!r} is itself an undo; record the verdict again")
    if session.scalar(select(func.count()).select_from(Verdict)
                      .where(Verdict.undoes == batch)):
        raise AlreadyDone(f"verdict batch {batch!r} was already undone")
    undo, at = new_batch(), now()
    done = Undone(batch, undo, 0, [])
    for record in records:
        row = session.get(Event, record.event_id, with_for_update=True)
        if row is None or row.verdict_batch != batch:
            done.superseded.append(record.event_id)
            continue
        _record(session, row, record.previous, note, actor, record.campaign,
                VerdictSource.UNDO, undo, at, undoes=batch)
        done.restored += 1
    session.commit()
    return done


def export_labelled(session: Session, since: datetime | None = None) -> list[dict[str, Any]]:
    """Every event with a verdict, as labelled data for retraining (latest verdict wins).

    ``verdict_source`` (single or wave) and ``verdict_batch`` let training weight or drop
    labels given to a whole wave at once."""
    query = select(Event).where(Event.verdict.is_not(None)).order_by(Event.verdict_at, Event.id)
    if since:
        query = query.where(Event.verdict_at >= as_utc(since))
    return [
        {"id": r.id, "label": r.verdict, "verdict_by": r.verdict_by,
         "verdict_at": r.verdict_at and utc(r.verdict_at).isoformat(),
         "verdict_source": r.verdict_source,
         "verdict_batch": r.verdict_batch, "score": r.score, "decision": r.decision,
         "campaign": r.campaign, "event": r.payload}
        for r in session.scalars(query)
    ]


def verdict_history(session: Session, event_id: str) -> list[Verdict]:
    query = select(Verdict).where(Verdict.event_id == event_id).order_by(Verdict.id)
    return list(session.scalars(query))


def undone_batches(session: Session, batches: Iterable[str]) -> set[str]:
    """Which of these verdict batches have been undone."""
    wanted = sorted(set(batches))
    if not wanted:
        return set()
    query = select(Verdict.undoes).where(Verdict.undoes.in_(wanted)).distinct()
    return {b for b in session.scalars(query) if b}


def batch_summary(session: Session, batch: str) -> dict[str, Any] | None:
    """What one verdict batch did, for the message after it (None: no such batch)."""
    rows = list(session.scalars(select(Verdict).where(Verdict.batch == batch)))
    if not rows:
        return None
    return {"batch": batch, "verdict": rows[0].verdict, "source": rows[0].source,
            "events": len(rows), "campaign": rows[0].campaign, "undoes": rows[0].undoes,
            "verdicts": dict(Counter(r.verdict or "none" for r in rows)),
            "undone": bool(undone_batches(session, [batch]))}


def decisions_page(session: Session, since: datetime | None, until: datetime | None,
                   limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """Every stored decision (any decision, verdict or not), oldest first, for analysts."""
    where = []
    if since:
        where.append(Event.ts >= since)
    if until:
        where.append(Event.ts <= until)
    total = session.scalar(select(func.count()).select_from(Event).where(*where)) or 0
    rows = session.scalars(select(Event).where(*where).order_by(Event.ts, Event.id)
                           .limit(limit).offset(offset))
    return total, [
        {"id": r.id, "type": r.type, "ts": utc(r.ts), "received_at": utc(r.received_at),
         "username": r.username, "project": r.project, "score": r.score,
         "decision": r.decision, "campaign": r.campaign, "signals": r.signals.split(),
         "pending": r.pending, "verdict": r.verdict, "verdict_at": utc(r.verdict_at),
         "verdict_by": r.verdict_by, "verdict_source": r.verdict_source}
        for r in rows]


def verdicts_page(session: Session, since: datetime | None, limit: int, offset: int
                  ) -> tuple[int, list[dict[str, Any]]]:
    """The verdict trail (every row, undos included), oldest first, with each event's
    decision and time, so time to verdict and overturned blocks can be computed."""
    where = [Verdict.at >= since] if since else []
    total = session.scalar(select(func.count()).select_from(Verdict).where(*where)) or 0
    query = (select(Verdict, Event.decision, Event.score, Event.ts, Event.type,
                    Event.signals)
             .join(Event, Event.id == Verdict.event_id).where(*where)
             .order_by(Verdict.id).limit(limit).offset(offset))
    return total, [
        {"event_id": v.event_id, "verdict": v.verdict, "previous": v.previous,
         "source": v.source, "batch": v.batch, "undoes": v.undoes, "actor": v.actor,
         "at": utc(v.at), "campaign": v.campaign, "note": v.note, "decision": decision,
         "score": score, "event_ts": utc(ts), "type": type_, "signals": signals.split()}
        for v, decision, score, ts, type_, signals in session.execute(query)]


def campaigns_page(session: Session, since: datetime | None, limit: int, offset: int
                   ) -> tuple[int, list[dict[str, Any]]]:
    """One row per campaign: size, time span, top score, decision and verdict counts."""
    where = [Event.campaign.is_not(None)] + ([Event.ts >= since] if since else [])
    grouped = (select(Event.campaign, func.count().label("events"),
                      func.min(Event.ts).label("first_ts"), func.max(Event.ts).label("last_ts"),
                      func.max(Event.score).label("max_score"),
                      func.count(func.distinct(Event.username)).label("accounts"))
               .where(*where).group_by(Event.campaign))
    total = session.scalar(select(func.count()).select_from(grouped.subquery())) or 0
    page = list(session.execute(grouped.order_by(func.min(Event.ts), Event.campaign)
                                .limit(limit).offset(offset)))
    names = [r.campaign for r in page]
    mix: dict[str, Counter[str]] = {n: Counter() for n in names}
    if names:
        for campaign, decision, verdict, count in session.execute(
                select(Event.campaign, Event.decision, Event.verdict, func.count())
                .where(Event.campaign.in_(names))
                .group_by(Event.campaign, Event.decision, Event.verdict)):
            if campaign is None:
                continue
            mix[campaign][f"decision_{decision}"] += count
            mix[campaign][f"verdict_{verdict or 'none'}"] += count
    return total, [
        {"campaign": r.campaign, "events": r.events, "accounts": r.accounts,
         "first_ts": utc(r.first_ts), "last_ts": utc(r.last_ts), "max_score": r.max_score,
         **{key: mix[r.campaign].get(key, 0) for key in EXPORT_COUNTS}}
        for r in page]


EXPORT_COUNTS = ("decision_allow", "decision_review", "decision_block", "verdict_malicious",
                 "verdict_benign", "verdict_needs-info", "verdict_none")

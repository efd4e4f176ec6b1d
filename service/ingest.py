"""Events in: validate, deduplicate by id, score, store, and only then answer.

The whole request is one transaction, so a batch is stored entirely or not at
all, and an answered event has been committed. Idempotency holds across
replicas because the event id is the primary key: a racing insert loses and
the stored decision is returned instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service import breaker, scoring
from service.config import Settings
from service.db import now, utc
from service.logs import log
from service.models import Event
from service.schemas import EventIn
from service.scoring import Scorer


class DetectorFailure(RuntimeError):
    """The detector raised on an event; only that request fails and nothing of it is stored."""


class ReplayConflict(ValueError):
    """An event id that is already stored (or repeated in the batch) with different content."""


@dataclass
class Ingested:
    answers: list[dict[str, Any]]
    new: list[Event]
    breaker_changed: bool


def canonical(raw: dict[str, Any]) -> str:
    """Stable JSON text of an event, so a retried event is recognised whatever its key order."""
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def payload_hash(raw: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(raw).encode("utf-8")).hexdigest()


def answer(row: Event) -> dict[str, Any]:
    """The decision object of CONTRACT §3 for a stored event."""
    out: dict[str, Any] = {"id": row.id, "score": row.score, "decision": row.decision,
                           "reasons": list(row.reasons), "campaign": row.campaign}
    if row.pending:
        out["pending"] = True
    return out


def files_size(raw: dict[str, Any]) -> int:
    files = (raw.get("project") or {}).get("files") or {}
    return sum(len(k) + len(v.encode("utf-8")) for k, v in files.items())


def signal_names(decision: dict[str, Any]) -> list[str]:
    """Names of the detector signals that fired and of the code rules that matched (the
    queue's `signal` filter)."""
    names = {str(s["signal"]) for s in decision.get("signals") or []
             if isinstance(s, dict) and s.get("signal") and float(s.get("score") or 0) > 0}
    names.update(str(f["rule"]) for f in decision.get("findings") or []
                 if isinstance(f, dict) and f.get("rule"))
    return sorted(names)


def _row(raw: dict[str, Any], event: EventIn, digest: str, decision: dict[str, Any],
         pending: bool, received: datetime) -> Event:
    core = {"id", "score", "decision", "reasons", "campaign"}
    signals = signal_names(decision)
    return Event(
        id=event.id, type=event.type, ts=event.ts if event.ts.tzinfo else
        event.ts.replace(tzinfo=UTC), received_at=received,
        username=event.account.username, project=event.project.name if event.project else None,
        payload_hash=digest, payload=raw, score=float(decision["score"]),
        decision=str(decision["decision"]), reasons=list(decision.get("reasons") or []),
        campaign=decision.get("campaign"), signals=" ".join(signals),
        detail={k: v for k, v in decision.items() if k not in core},
        pending=pending, verdict=None, verdict_at=None, verdict_by=None,
    )


def _strip_files(raw: dict[str, Any]) -> dict[str, Any]:
    project = dict(raw.get("project") or {})
    project.pop("files", None)
    return {**raw, "project": project}


def _insert(session: Session, rows: list[Event]) -> set[str]:
    """Insert-or-ignore; returns the ids this transaction actually inserted."""
    if not rows:
        return set()
    table = Event.__table__
    values = [{c.name: getattr(r, c.key) for c in table.columns} for r in rows]
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    # executemany form: the statement compiles once and is cached; RETURNING still works
    stmt = maker(table).on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)
    return set(session.scalars(stmt, values))


@dataclass
class Request:
    """One POST body: its validated events and their raw JSON objects."""

    events: list[EventIn]
    raws: list[dict[str, Any]]


class _Group:
    """The events of every request in one group commit, by id."""

    def __init__(self, stored: dict[str, Event]) -> None:
        self.stored = stored
        self.fresh: dict[str, Event] = {}
        self.changes: list[dict[str, Any]] = []


def _stored(session: Session, ids: set[str]) -> dict[str, Event]:
    """Rows already stored for any of `ids` (one query per 500 ids)."""
    found: dict[str, Event] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        found.update({row.id: row for row in
                      session.scalars(select(Event).where(Event.id.in_(chunk)))})
    return found


def _check(session: Session, group: _Group, request: Request) -> tuple[list[str],
                                                                       dict[str, Event]]:
    """Digests of the request's events and the rows already stored or already in the group;
    raises ReplayConflict or ScoringError without changing anything."""
    digests = [payload_hash(raw) for raw in request.raws]
    seen: dict[str, str] = {}
    for event, digest in zip(request.events, digests, strict=True):
        if seen.setdefault(event.id, digest) != digest:
            raise ReplayConflict(f"event id {event.id!r} appears twice in the batch with "
                                 "different content")
    known = {i: group.fresh.get(i) or group.stored[i] for i in seen
             if i in group.fresh or i in group.stored}
    for event_id, row in known.items():
        if row.payload_hash != seen[event_id]:
            raise ReplayConflict(f"event id {event_id!r} is already stored with different "
                                 "content; event ids cannot be reused")
    for raw in request.raws:
        scoring.validate(raw)
    return digests, known


def _score(group: _Group, scorer: Scorer, settings: Settings, request: Request,
           digests: list[str], known: dict[str, Event]) -> list[str]:
    """Score the request's new events into the group; returns their ids."""
    received = now()
    added: list[str] = []
    try:
        for event, raw, digest in zip(request.events, request.raws, digests, strict=True):
            if event.id in known or event.id in group.fresh:
                continue
            pending = files_size(raw) > settings.async_files_bytes
            try:
                outcome = scorer.process(_strip_files(raw) if pending else raw)
            except scoring.ScoringError:
                raise
            except Exception as exc:
                log.exception("detector failed", extra={"event_id": event.id})
                raise DetectorFailure(f"the detector failed on event {event.id!r} "
                                      f"({type(exc).__name__}); nothing was stored") from exc
            group.fresh[event.id] = _row(raw, event, digest, outcome.decision, pending,
                                         received)
            group.changes.extend(outcome.breaker)
            added.append(event.id)
    except (scoring.ScoringError, DetectorFailure):
        for event_id in added:  # nothing of a refused request is stored
            group.fresh.pop(event_id)
        raise
    return added


def ingest_group(session: Session, scorer: Scorer, settings: Settings,
                 requests: list[Request]) -> list[Ingested | Exception]:
    """Answer several requests with one commit (group commit); each answer is either the
    request's decisions or the refusal (ReplayConflict, ScoringError) for that request."""
    group = _Group(_stored(session, {e.id for r in requests for e in r.events}))
    outcomes: list[tuple[list[str], dict[str, Event]] | Exception] = []
    for request in requests:
        try:
            digests, known = _check(session, group, request)
            outcomes.append((_score(group, scorer, settings, request, digests, known), known))
        except (ReplayConflict, scoring.ScoringError, DetectorFailure) as exc:
            outcomes.append(exc)
    inserted = _insert(session, list(group.fresh.values()))
    changed = False
    for change in group.changes:
        changed |= breaker.apply_detector(session, change, settings)
    session.commit()
    lost = [i for i in group.fresh if i not in inserted]
    winners: dict[str, Event] = {}
    if lost:  # another replica stored these ids first: its answer is the one that counts
        winners = {row.id: row for row in session.scalars(select(Event).where(
            Event.id.in_(lost)))}
    results: list[Ingested | Exception] = []
    for request, outcome in zip(requests, outcomes, strict=True):
        if isinstance(outcome, Exception):
            results.append(outcome)
            continue
        added, known = outcome
        rows = {**known, **group.fresh, **winners}
        new = [group.fresh[i] for i in added if i in inserted]
        results.append(Ingested([answer(rows[e.id]) for e in request.events], new,
                                changed))
    return results


def stored_payloads(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Payloads of events received since `since`, oldest event time first (for rebuild)."""
    query = (select(Event.payload).where(Event.received_at >= since)
             .order_by(Event.ts, Event.received_at, Event.id))
    return list(session.scalars(query))


def to_out(row: Event) -> dict[str, Any]:
    return {**answer(row), "pending": row.pending, "type": row.type, "ts": utc(row.ts),
            "received_at": utc(row.received_at), "username": row.username,
            "project": row.project, "signals": row.signals.split(), "verdict": row.verdict,
            "detail": row.detail}

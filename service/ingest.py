"""Events in: validate, deduplicate by id, score, store, and only then answer.

The whole request is one transaction, so a batch is stored entirely or not at
all, and an answered event has been committed. Idempotency holds across
replicas because the event id is the primary key: a racing insert loses and
the stored decision is returned instead. The detector's state moves with the
transaction: if it fails after events were scored, the state is rebuilt from the
database before the next group (``Scorer.transaction``), so a retry is scored once.

Every replica scores on the same state: the group takes the stream lock and replays what
the others stored first (``service.stream_log``). When an event pulls earlier events
into its campaign (a flood's first projects, a burst window's arrivals) or merges two
campaigns, their stored rows are relabelled in the same transaction, so a campaign
verdict reaches exactly its events.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from detector.stream.signals import CodeSignal
from service import breaker, scoring, stream_log
from service.config import Settings
from service.db import utc
from service.logs import log
from service.models import Event
from service.schemas import EventIn
from service.scoring import Scorer


class DetectorFailure(RuntimeError):
    """The detector raised on an event; only that request fails and nothing of it is stored."""


class StaleConnection(RuntimeError):
    """The connection was found dead at the group's first statement, before anything was
    scored: the group can run again on a new connection."""


class ReplayConflict(ValueError):
    """An event id that is already stored (or repeated in the batch) with different content."""


@dataclass
class Ingested:
    answers: list[dict[str, Any]]
    new: list[dict[str, Any]]  # column values of the events this request stored
    breaker_changes: list[str]  # actions of the breaker transitions the group stored


def canonical(raw: dict[str, Any]) -> str:
    """Stable JSON text of an event, so a retried event is recognised whatever its key order."""
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def payload_hash(raw: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(raw).encode("utf-8")).hexdigest()


def answer(row: Event) -> dict[str, Any]:
    """The decision object of CONTRACT §3 for a stored event."""
    return _answer(row.id, row.score, row.decision, row.reasons, row.campaign, row.pending)


def _answer(event_id: str, score: float, decision: str, reasons: list[Any],
            campaign: str | None, pending: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": event_id, "score": score, "decision": decision,
                           "reasons": list(reasons), "campaign": campaign}
    if pending:
        out["pending"] = True
    return out


def _answer_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """`answer` for a row given as column values (what the group commit handles)."""
    return _answer(values["id"], values["score"], values["decision"], values["reasons"],
                   values["campaign"], values["pending"])


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
         pending: bool, received: datetime, seq: int | None = None) -> dict[str, Any]:
    """The `events` row of a scored event, as column values (no ORM object: the group
    commit inserts them with one Core statement)."""
    core = {"id", "score", "decision", "reasons", "campaign"}
    signals = signal_names(decision)
    return {
        "id": event.id, "type": event.type,
        "ts": event.ts if event.ts.tzinfo else event.ts.replace(tzinfo=UTC),
        "received_at": received, "username": event.account.username,
        "project": event.project.name if event.project else None,
        "payload_hash": digest, "payload": raw, "score": float(decision["score"]),
        "decision": str(decision["decision"]), "reasons": list(decision.get("reasons") or []),
        "campaign": decision.get("campaign"), "signals": " ".join(signals),
        "detail": {k: v for k, v in decision.items() if k not in core},
        "pending": pending, "verdict": None, "verdict_at": None, "verdict_by": None,
        "seq": seq, "files_deferred": pending,
    }


def _strip_files(raw: dict[str, Any]) -> dict[str, Any]:
    project = dict(raw.get("project") or {})
    project.pop("files", None)
    return {**raw, "project": project}


def deferred_by_size(raw: dict[str, Any], settings: Settings) -> bool:
    """Files too big to scan before answering (scanned later, see `service.worker`)."""
    return files_size(raw) > settings.service.async_files_bytes


def scored_form(raw: dict[str, Any], settings: Settings, deferred: bool = False
                ) -> dict[str, Any]:
    """The event as the detector scored it: without its files when they were deferred
    (``deferred``: the row's ``files_deferred``, or, for rows stored before it existed,
    their size). A mark of the log (`stream_log.is_mark`) is passed as it is."""
    if stream_log.is_mark(raw):
        return raw
    return _strip_files(raw) if deferred or deferred_by_size(raw, settings) else raw


_EVENTS: Table = Event.__table__  # type: ignore[assignment]
# Built once: a statement built per call costs more than the query itself (SQLAlchemy
# compiles it, or at least derives its cache key, every time).
_STORED = select(*(_EVENTS.c[name] for name in ("id", "payload_hash", "score", "decision",
                                                 "reasons", "campaign", "pending"))
                 ).where(_EVENTS.c.id.in_(bindparam("ids", expanding=True)))
_INSERT = {name: maker(_EVENTS).on_conflict_do_nothing(index_elements=["id"])
           .returning(_EVENTS.c.id)
           for name, maker in (("postgresql", pg_insert), ("sqlite", sqlite_insert))}


def _insert(connection: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert-or-ignore; returns the ids this transaction actually inserted."""
    if not rows:
        return set()
    # executemany form ("insertmanyvalues"): one statement for the group, RETURNING works
    return set(connection.execute(_INSERT[connection.dialect.name], rows).scalars())


@dataclass
class Request:
    """One POST body: its validated events and their raw JSON objects, and what their
    code scans before scoring gave (`service.prescan`): the code signal by the files'
    exact hash, and the ids of events to score without their files (scanned later)."""

    events: list[EventIn]
    raws: list[dict[str, Any]]
    code: dict[str, CodeSignal | None] = field(default_factory=dict)
    deferred: set[str] = field(default_factory=set)


class _Group:
    """The events of every request in one group commit, by id (column values)."""

    def __init__(self, stored: dict[str, Mapping[str, Any]]) -> None:
        self.stored = stored
        self.fresh: dict[str, dict[str, Any]] = {}
        self.changes: list[dict[str, Any]] = []
        # campaign relabels of stored events, in order: ("move", event id, campaign) or
        # ("rename", old campaign, new campaign)
        self.relabels: list[tuple[str, str, str]] = []


def _stored(connection: Connection, ids: set[str]) -> dict[str, Mapping[str, Any]]:
    """What is already stored for any of `ids` (one query per 500 ids)."""
    found: dict[str, Mapping[str, Any]] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):
        rows = connection.execute(_STORED, {"ids": ordered[start:start + 500]})
        found.update({row.id: row._mapping for row in rows})
    return found


def _check(group: _Group, scorer: Scorer, request: Request, clock: float
           ) -> tuple[list[str], dict[str, Mapping[str, Any]]]:
    """Digests of the request's events and the rows already stored or already in the group;
    raises ReplayConflict or ScoringError (an event the detector refuses, a time out of
    range) without changing anything."""
    digests = [payload_hash(raw) for raw in request.raws]
    seen: dict[str, str] = {}
    for event, digest in zip(request.events, digests, strict=True):
        if seen.setdefault(event.id, digest) != digest:
            raise ReplayConflict(f"event id {event.id!r} appears twice in the batch with "
                                 "different content")
    known = {i: group.fresh.get(i) or group.stored[i] for i in seen
             if i in group.fresh or i in group.stored}
    for event_id, row in known.items():
        if row["payload_hash"] != seen[event_id]:
            raise ReplayConflict(f"event id {event_id!r} is already stored with different "
                                 "content; event ids cannot be reused")
    for raw in request.raws:
        scorer.validate(raw, clock)
    return digests, known


def _score(group: _Group, scorer: Scorer, settings: Settings, request: Request,
           digests: list[str], known: dict[str, Mapping[str, Any]], clock: float) -> list[str]:
    """Score the request's new events into the group; returns their ids. ``received`` is
    the group's server clock: a replay scores the event at it again."""
    received = datetime.fromtimestamp(clock, UTC)
    added: list[str] = []
    try:
        for event, raw, digest in zip(request.events, request.raws, digests, strict=True):
            if event.id in known or event.id in group.fresh:
                continue
            pending = event.id in request.deferred or deferred_by_size(raw, settings)
            try:
                outcome = scorer.process(_strip_files(raw) if pending else raw, clock)
            except scoring.ScoringError:
                raise
            except Exception as exc:
                log.exception("detector failed", extra={"event_id": event.id})
                raise DetectorFailure(f"the detector failed on event {event.id!r} "
                                      f"({type(exc).__name__}); nothing was stored") from exc
            group.fresh[event.id] = _row(raw, event, digest, outcome.decision, pending,
                                         received, outcome.seq)
            group.changes.extend(outcome.breaker)
            group.relabels.extend(("move", e, c) for e, c in outcome.moved.items())
            group.relabels.extend(("rename", o, n) for o, n in outcome.renamed.items())
            added.append(event.id)
    except (scoring.ScoringError, DetectorFailure):
        for event_id in added:  # nothing of a refused request is stored
            group.fresh.pop(event_id)
        if added:  # ... but the detector saw them: rebuild its state before the next group
            scorer.stale = True
        raise
    return added


_EV: Table = Event.__table__  # type: ignore[assignment]


def _relabel(connection: Connection, relabels: list[tuple[str, str, str]]) -> None:
    """Apply the group's campaign relabels to the stored events (rare: bursts only)."""
    for kind, old, new in relabels:
        if kind == "move":
            connection.execute(update(_EV).where(_EV.c.id == old).values(campaign=new))
        else:
            connection.execute(update(_EV).where(_EV.c.campaign == old).values(campaign=new))


def catch_up_locked(connection: Connection, scorer: Scorer, settings: Settings) -> None:
    """Replay what the other replicas stored after this one's log position (under the
    stream lock: before anything is added at the head of the log)."""
    _catch_up(connection, scorer, settings)


def _catch_up(connection: Connection, scorer: Scorer, settings: Settings) -> None:
    """Replay what the other replicas stored after this one's log position."""
    replayed = scorer.catch_up(
        (seq, scored_form(raw, settings, deferred), utc(received).timestamp())
        for seq, raw, received, deferred in stream_log.events_after(connection, scorer.seq))
    if replayed:  # the stored breaker is the truth (moderators' actions included)
        with Session(bind=connection) as session:
            scorer.adopt(breaker.controls(session))


def ingest_group(connection: Connection, scorer: Scorer, settings: Settings,
                 requests: list[Request]) -> list[Ingested | Exception]:
    """Answer several requests with one commit (group commit); each answer is either the
    request's decisions or the refusal (ReplayConflict, ScoringError) for that request.

    Works on a Connection (Core statements): the ORM session's own work per statement
    cost more than the statements themselves for small groups. A Session joins the
    transaction only when the detector changed the breaker. The detector's state is held
    from the first event scored to the commit (``Scorer.transaction``)."""
    scorer.ensure_fresh()
    # Most of what the other replicas stored can be replayed before taking the lock (the
    # log only grows at its head); under it only what they committed meanwhile.
    with connection.begin():
        try:
            _catch_up(connection, scorer, settings)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StaleConnection(str(exc)) from exc
            raise
    with scorer.transaction(), connection.begin():
        try:
            stream_log.take_turn(connection)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StaleConnection(str(exc)) from exc
            raise
        _catch_up(connection, scorer, settings)
        # the server clock every event of the group is checked against (taken with the
        # lock: the log's clocks never go back)
        clock = time.time()
        stored = _stored(connection, {e.id for r in requests for e in r.events})
        group = _Group(stored)
        scorer.prime([raw for r in requests for e, raw in zip(r.events, r.raws, strict=True)
                      if e.id not in group.stored])
        # the code scans made before the group (service.prescan): no scan runs here
        scorer.prime_code({k: v for r in requests for k, v in r.code.items()})
        outcomes: list[tuple[list[str], dict[str, Mapping[str, Any]]] | Exception] = []
        for request in requests:
            try:
                digests, known = _check(group, scorer, request, clock)
                outcomes.append((_score(group, scorer, settings, request, digests, known,
                                        clock), known))
            except (ReplayConflict, scoring.ScoringError, DetectorFailure) as exc:
                outcomes.append(exc)
        inserted = _insert(connection, list(group.fresh.values()))
        _relabel(connection, group.relabels)
        changes: list[str] = []
        if group.changes:
            with Session(bind=connection) as session:
                for change in group.changes:
                    if breaker.persist(session, change):
                        changes.append(change["action"])
                    else:  # another replica changed the scope first: its state stands
                        scorer.adopt(breaker.controls(session))
                session.flush()
    # committed: only now may anything be answered
    lost = [i for i in group.fresh if i not in inserted]
    winners: dict[str, Mapping[str, Any]] = {}
    if lost:  # another replica stored these ids first: its answer is the one that counts
        winners = _stored(connection, set(lost))
        connection.rollback()
    results: list[Ingested | Exception] = []
    for request, outcome in zip(requests, outcomes, strict=True):
        if isinstance(outcome, Exception):
            results.append(outcome)
            continue
        added, known = outcome
        rows: dict[str, Mapping[str, Any]] = {**known, **group.fresh, **winners}
        new = [group.fresh[i] for i in added if i in inserted]
        results.append(Ingested([_answer_values(rows[e.id]) for e in request.events], new,
                                changes))
    return results


def to_out(row: Event) -> dict[str, Any]:
    return {**answer(row), "pending": row.pending, "type": row.type, "ts": utc(row.ts),
            "received_at": utc(row.received_at), "username": row.username,
            "project": row.project, "signals": row.signals.split(), "verdict": row.verdict,
            "detail": row.detail}

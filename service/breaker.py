"""The registration breaker's persistence and status: storage only, no decisions.

Every transition is decided by the detector's breaker (``detector.breaker.Breaker``:
trips, lapses, resets, expiries and the moderators' pause, resume and confirm); the
service's actions (``service.actions``) and its event writer hand each transition to
``persist``, which writes the scope's row (``breaker_state``, one per scope, shared by
every replica) and one row of the append-only ``breaker_audit`` in the caller's
transaction. ``status`` renders the rows as registries read them.

A scope may also be one cohort of an event type (``detector.breaker_scope``:
``account.created|email_domain:uni.edu``); its row is made by its first pause (automatic
or manual) and kept. ``status`` answers for the three event types as before;
``cohort_pauses`` lists the cohorts paused now, and ``service.registration_status``
answers for one registration's e-mail, IP and project name.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from detector.breaker import AUTOMATIC
from detector.breaker_scope import CohortError, describe, split_scope
from detector.stream.events import format_ts, parse_ts
from detector.vocab import Scope, values
from service.db import now, utc
from service.models import BreakerAudit, BreakerState

SCOPES = values(Scope)
SCOPE_NOUNS: dict[str, str] = {
    Scope.ACCOUNT: "New account registration",
    Scope.PROJECT: "New project registration",
    Scope.RELEASE: "Uploading releases",
}


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromtimestamp(parse_ts(text), UTC)


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else format_ts(utc(moment).timestamp())


def known_scope(scope: str) -> bool:
    """An event type, or a cohort scope in normal form."""
    try:
        split_scope(scope)
    except CohortError:
        return False
    return True


def control_of(row: BreakerState) -> dict[str, Any]:
    """A stored row as the detector's control state (``ScopeState.control``)."""
    return {"state": row.state, "kind": row.kind, "confirmed": bool(row.confirmed),
            "since": _text(row.since), "expires_at": _text(row.expires_at),
            "reason": row.reason, "actor": row.actor}


def controls(session: Session, lock: bool = False) -> dict[str, dict[str, Any]]:
    """Every scope's stored control state; ``lock``: hold the rows until commit."""
    query = select(BreakerState)
    if lock:
        query = query.with_for_update()
    return {row.scope: control_of(row) for row in session.scalars(query)
            if row.scope in SCOPES or known_scope(row.scope)}


def _guard(transition: dict[str, Any]) -> Any:
    """The stored state a detector-decided transition may still apply to: another
    replica may have changed the row since this one last read it."""
    action, at = transition["action"], _time(transition["at"])
    if action == "trip":
        return or_(BreakerState.state == "open", BreakerState.expires_at <= at)
    if action in ("lapse", "reset"):
        return and_(BreakerState.state == "paused", BreakerState.kind == AUTOMATIC,
                    ~BreakerState.confirmed)
    if action == "expire":
        return and_(BreakerState.state == "paused", BreakerState.expires_at <= at)
    return None  # a moderator's action: the row is locked, it applies as decided


def persist(session: Session, transition: dict[str, Any]) -> bool:
    """Store one transition (the scope's row and its audit row); False when the row no
    longer allows it (another replica changed it first), and then nothing is written."""
    paused = transition["state"] == "paused"
    at = _time(transition["at"])
    values = {"state": transition["state"], "kind": transition.get("kind") if paused else None,
              "confirmed": bool(transition.get("confirmed")) if paused else False,
              "since": at, "expires_at": _time(transition.get("expires_at")) if paused else None,
              "reason": transition.get("reason"), "actor": transition.get("actor")}
    query = update(BreakerState).where(BreakerState.scope == transition["scope"])
    guard = _guard(transition)
    if guard is not None:
        query = query.where(guard)
    result = session.execute(query.values(**values).execution_options(
        synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]  # a CursorResult
        # A cohort's first pause (or a resume of one never paused) makes its row; when
        # another replica made it first, this transition is refused like any other.
        scope = transition["scope"]
        if scope in SCOPES or transition["action"] not in ("trip", "pause", "resume") \
                or session.get(BreakerState, scope) is not None:
            return False
        try:
            with session.begin_nested():
                session.add(BreakerState(scope=scope, **values))
        except IntegrityError:
            return False
    session.add(BreakerAudit(
        at=at, scope=transition["scope"], action=transition["action"],
        actor=transition.get("actor") or "system", reason=transition.get("reason") or "",
        expires_at=values["expires_at"], previous_state=transition.get("previous") or "open"))
    return True


def _active(row: BreakerState, at: datetime) -> bool:
    expires = utc(row.expires_at)
    return row.state == "paused" and (expires is None or expires > at)


def _message(scope: str, row: BreakerState) -> str:
    event_type, cohort = split_scope(scope)
    noun = SCOPE_NOUNS[event_type]
    if cohort is not None:
        noun = f"{noun} from {describe(cohort)}"
    expires = utc(row.expires_at)
    until = f" until {expires:%Y-%m-%d %H:%M} UTC" if expires else ""
    return f"{noun} is temporarily paused{until}: {row.reason}"


def status(session: Session) -> dict[str, dict[str, Any]]:
    """The registration status of every scope, as the registry reads it."""
    at = now()
    rows = {row.scope: row for row in session.scalars(select(BreakerState))}
    out: dict[str, dict[str, Any]] = {}
    for scope in SCOPES:
        row = rows.get(scope)
        if row is None or not _active(row, at):
            out[scope] = {"state": "open", "message": f"{SCOPE_NOUNS[scope]} is open."}
            continue
        out[scope] = _paused(scope, row)
    return out


def _paused(scope: str, row: BreakerState) -> dict[str, Any]:
    return {"state": "paused", "kind": row.kind, "reason": row.reason,
            "since": utc(row.since).isoformat() if row.since else None,
            "expires_at": utc(row.expires_at).isoformat() if row.expires_at else None,
            "confirmed": row.confirmed, "message": _message(scope, row)}


def cohort_pauses(session: Session) -> list[dict[str, Any]]:
    """The cohort scopes paused now, oldest first: each with its ``scope``, event
    ``type``, ``cohort`` and the fields of a paused status."""
    at = now()
    out = []
    rows = session.scalars(select(BreakerState).where(BreakerState.state == "paused")
                           .order_by(BreakerState.since, BreakerState.scope))
    for row in rows:
        if row.scope in SCOPES or not known_scope(row.scope) or not _active(row, at):
            continue
        event_type, cohort = split_scope(row.scope)
        out.append({"scope": row.scope, "type": event_type, "cohort": cohort,
                    **_paused(row.scope, row)})
    return out


def audit_log(session: Session, limit: int = 200) -> list[BreakerAudit]:
    query = select(BreakerAudit).order_by(BreakerAudit.id.desc()).limit(limit)
    return list(session.scalars(query))


class StatusCache:
    """Serves the status from memory for `ttl` seconds; local changes invalidate it."""

    def __init__(self, sessions: sessionmaker[Session], ttl: float) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._lock = threading.Lock()
        self._value: tuple[float, dict[str, dict[str, Any]], bytes,
                           list[dict[str, Any]]] | None = None

    def _load(self) -> tuple[float, dict[str, dict[str, Any]], bytes, list[dict[str, Any]]]:
        cached = self._value
        if cached is not None and cached[0] > time.monotonic():
            return cached
        with self._sessions() as session:
            value = status(session)
            cohorts = cohort_pauses(session)
        body = json.dumps(value, separators=(",", ":")).encode()
        fresh = (time.monotonic() + self._ttl, value, body, cohorts)
        with self._lock:
            self._value = fresh
        return fresh

    def fresh(self) -> bool:
        cached = self._value
        return cached is not None and cached[0] > time.monotonic()

    def get(self) -> dict[str, dict[str, Any]]:
        return self._load()[1]

    def cohorts(self) -> list[dict[str, Any]]:
        """The cohort scopes paused now (``cohort_pauses``), cached like the status."""
        return self._load()[3]

    def get_json(self) -> bytes:
        """The status as JSON bytes, ready to send."""
        return self._load()[2]

    def invalidate(self) -> None:
        with self._lock:
            self._value = None

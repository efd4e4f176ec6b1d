"""The registration breaker as stored in the database, shared by every replica.

Automatic trips come from the detector and expire after `auto_trip_minutes`
unless a moderator confirms them; manual pauses always carry a reason and an
expiry. Every change writes one row to the append-only `breaker_audit` table.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from service.config import SCOPES, Settings
from service.db import now, utc
from service.models import BreakerAudit, BreakerState

SCOPE_NOUNS = {
    "account.created": "New account registration",
    "project.created": "New project registration",
    "release.uploaded": "Uploading releases",
}


class BreakerError(ValueError):
    """An unknown scope or a request that does not fit the current state."""


def _audit(session: Session, scope: str, action: str, actor: str, reason: str,
           previous: str, expires_at: datetime | None, at: datetime) -> None:
    session.add(BreakerAudit(at=at, scope=scope, action=action, actor=actor, reason=reason,
                             expires_at=expires_at, previous_state=previous))


def _row(session: Session, scope: str) -> BreakerState:
    if scope not in SCOPES:
        raise BreakerError(f"unknown scope {scope!r} (expected one of {', '.join(SCOPES)})")
    row = session.get(BreakerState, scope, with_for_update=True)
    if row is None:  # the migration seeds every scope; this only guards a hand-edited table
        row = BreakerState(scope=scope, state="open", confirmed=False)
        session.add(row)
    return row


def _active(row: BreakerState, at: datetime) -> bool:
    expires = utc(row.expires_at)
    return row.state == "paused" and (expires is None or expires > at)


def _set_paused(row: BreakerState, kind: str, reason: str, actor: str, at: datetime,
                expires_at: datetime, confirmed: bool) -> None:
    row.state, row.kind, row.reason, row.actor = "paused", kind, reason, actor
    row.since, row.expires_at, row.confirmed = at, expires_at, confirmed


def _set_open(row: BreakerState) -> None:
    row.state, row.kind, row.reason, row.actor = "open", None, None, None
    row.since, row.expires_at, row.confirmed = None, None, False


def pause(session: Session, scope: str, reason: str, actor: str, minutes: float) -> None:
    """Manual pause (or extension of a running one) until now + `minutes`."""
    at = now()
    row = _row(session, scope)
    previous = row.state if _active(row, at) else "open"
    expires = at + timedelta(minutes=minutes)
    _set_paused(row, "manual", reason, actor, at, expires, confirmed=True)
    _audit(session, scope, "pause", actor, reason, previous, expires, at)


def resume(session: Session, scope: str, reason: str, actor: str) -> None:
    at = now()
    row = _row(session, scope)
    previous = row.state if _active(row, at) else "open"
    _set_open(row)
    _audit(session, scope, "resume", actor, reason, previous, None, at)


def confirm(session: Session, scope: str, reason: str, actor: str, minutes: float) -> None:
    """Turn a running automatic trip into a confirmed pause with a new expiry."""
    at = now()
    row = _row(session, scope)
    if not _active(row, at):
        raise BreakerError(f"{scope} is not paused; nothing to confirm")
    expires = at + timedelta(minutes=minutes)
    row.confirmed, row.expires_at, row.actor = True, expires, actor
    row.reason = f"{row.reason} — confirmed: {reason}"
    _audit(session, scope, "confirm", actor, reason, "paused", expires, at)


def apply_detector(session: Session, change: dict[str, Any], settings: Settings) -> bool:
    """Apply one `{"scope", "state", "reason"}` change from the detector; True if it changed state.

    A trip never overrides a manual or confirmed pause, and a detector reset
    only lifts an unconfirmed automatic trip.
    """
    scope, state = change.get("scope"), change.get("state")
    if scope not in SCOPES:
        return False
    at = now()
    row = _row(session, scope)
    active = _active(row, at)
    reason = str(change.get("reason") or "burst of registrations")
    if state == "paused" and not active:
        expires = at + timedelta(minutes=settings.auto_trip_minutes)
        _set_paused(row, "automatic", reason, "detector", at, expires, confirmed=False)
        _audit(session, scope, "trip", "detector", reason, "open", expires, at)
        return True
    if state != "paused" and active and row.kind == "automatic" and not row.confirmed:
        _set_open(row)
        _audit(session, scope, "reset", "detector", reason, "paused", None, at)
        return True
    return False


def expire(session: Session) -> list[str]:
    """Open every scope whose pause has run out; returns the scopes this call opened."""
    at = now()
    opened = []
    for row in session.scalars(select(BreakerState).where(BreakerState.state == "paused")):
        expires = utc(row.expires_at)
        if expires is None or expires > at:
            continue
        # Conditional update: when several replicas sweep at once, exactly one wins.
        result = session.execute(
            update(BreakerState)
            .where(BreakerState.scope == row.scope, BreakerState.state == "paused",
                   BreakerState.expires_at == row.expires_at)
            .values(state="open", kind=None, reason=None, actor=None, since=None,
                    expires_at=None, confirmed=False)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            _audit(session, row.scope, "expire", "system", f"expired: {row.reason}",
                   "paused", expires, at)
            opened.append(row.scope)
    session.commit()
    return opened


def _message(scope: str, row: BreakerState) -> str:
    noun = SCOPE_NOUNS[scope]
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
        out[scope] = {
            "state": "paused", "kind": row.kind, "reason": row.reason,
            "since": utc(row.since).isoformat() if row.since else None,
            "expires_at": utc(row.expires_at).isoformat() if row.expires_at else None,
            "confirmed": row.confirmed, "message": _message(scope, row),
        }
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
        self._value: tuple[float, dict[str, dict[str, Any]], bytes] | None = None

    def _load(self) -> tuple[float, dict[str, dict[str, Any]], bytes]:
        cached = self._value
        if cached is not None and cached[0] > time.monotonic():
            return cached
        with self._sessions() as session:
            value = status(session)
        body = json.dumps(value, separators=(",", ":")).encode()
        fresh = (time.monotonic() + self._ttl, value, body)
        with self._lock:
            self._value = fresh
        return fresh

    def fresh(self) -> bool:
        cached = self._value
        return cached is not None and cached[0] > time.monotonic()

    def get(self) -> dict[str, dict[str, Any]]:
        return self._load()[1]

    def get_json(self) -> bytes:
        """The status as JSON bytes, ready to send."""
        return self._load()[2]

    def invalidate(self) -> None:
        with self._lock:
            self._value = None

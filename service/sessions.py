"""Moderator page sessions, kept server-side.

Logging in with a token creates a row here and gives the browser only a random session id
(its SHA-256 is what is stored, as for tokens). A session ends after `session_idle_minutes`
without a request, `session_absolute_hours` after log-in, at log-out, and as soon as its
token is revoked (the lookup joins the token). A fresh id is issued at every log-in, so an
id planted before log-in is never promoted (session fixation).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.db import now, utc
from service.models import Token, UiSession
from service.tokens import Principal, digest

COOKIE = "warden_session"
# last_seen_at is written at most this often per session (idle expiry is that coarse)
TOUCH_SECONDS = 30


@dataclass(frozen=True)
class SessionInfo:
    """A live session: who it belongs to, its stored id hash and its CSRF signing key."""

    principal: Principal
    id_hash: str
    csrf_key: str
    absolute_seconds: float


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def of(cls, settings: Settings) -> Lifetimes:
        return cls(timedelta(minutes=settings.service.session_idle_minutes),
                   timedelta(hours=settings.service.session_absolute_hours))


def open_session(sessions: sessionmaker[Session], principal: Principal,
                 life: Lifetimes) -> str:
    """Store a new session for `principal`; returns the id for the cookie (its only copy)."""
    sid = secrets.token_urlsafe(32)
    at = now()
    with sessions() as session:
        session.add(UiSession(id_hash=digest(sid), token_id=principal.token_id,
                              csrf_key=secrets.token_hex(32), created_at=at,
                              last_seen_at=at, expires_at=at + life.absolute))
        session.commit()
    return sid


def lookup(sessions: sessionmaker[Session], sid: str, life: Lifetimes) -> SessionInfo | None:
    """The live session of a cookie's id, or None (unknown, idle, expired, logged out or
    its token revoked)."""
    if not sid or len(sid) > 128:
        return None
    key, at = digest(sid), now()
    with sessions() as session:
        found = session.execute(
            select(UiSession, Token).join(Token, Token.id == UiSession.token_id)
            .where(UiSession.id_hash == key, UiSession.revoked_at.is_(None),
                   Token.revoked_at.is_(None))).first()
        if found is None:
            return None
        row, token = found
        seen = utc(row.last_seen_at)
        if utc(row.expires_at) <= at or seen + life.idle <= at:  # type: ignore[operator]
            return None
        if (at - seen).total_seconds() >= TOUCH_SECONDS:  # type: ignore[operator]
            row.last_seen_at = at
            session.commit()
        return SessionInfo(Principal(token.id, token.name, token.role), key, row.csrf_key,
                           life.absolute.total_seconds())


def revoke(sessions: sessionmaker[Session], id_hash: str) -> None:
    """Log out: the session cannot be used again, whoever holds its id."""
    with sessions() as session:
        session.execute(update(UiSession).where(UiSession.id_hash == id_hash,
                                                UiSession.revoked_at.is_(None))
                        .values(revoked_at=now()))
        session.commit()


def revoke_for_token(session: Session, token_id: int) -> None:
    """End every session of a revoked token (the caller commits); `lookup` refuses them
    anyway, this records when."""
    session.execute(update(UiSession).where(UiSession.token_id == token_id,
                                            UiSession.revoked_at.is_(None))
                    .values(revoked_at=now()))

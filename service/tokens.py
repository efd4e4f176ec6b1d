"""API tokens: random, shown once, stored only as SHA-256, looked up through a short cache."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from detector.vocab import values
from service.db import now
from service.models import Token
from service.vocab import Role

PREFIX = "wdn_"
# An actor ("role:name") is stored in String(200) columns (verdicts, breaker audit):
# the longest role and the colon leave 190 characters; names are bounded well inside.
NAME_MAX = 150
ACTOR_MAX = 200


class TokenError(ValueError):
    """Bad role or name for a new token."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id, name and role."""

    token_id: int
    name: str
    role: str

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.name}"[:ACTOR_MAX]  # older tokens may have longer names


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, role: str, name: str = "",
                created_by: str = "cli") -> tuple[str, Token]:
    """Store a new token of `role`; returns its only plain-text copy and the stored row."""
    if role not in values(Role):
        raise TokenError(f"unknown role {role!r} (choose one of {', '.join(values(Role))})")
    if len(name) > NAME_MAX:
        raise TokenError(f"token name is longer than {NAME_MAX} characters")
    token = PREFIX + secrets.token_urlsafe(32)
    row = Token(name=name or role, role=role, token_hash=digest(token), created_at=now(),
                created_by=created_by)
    session.add(row)
    session.commit()
    return token, row


def create_token(session: Session, role: str, name: str = "", created_by: str = "cli") -> str:
    """Store a new token of `role` and return its only plain-text copy."""
    return issue_token(session, role, name, created_by)[0]


class TokenCache:
    """Maps a presented token to its principal; hits are kept `ttl` seconds, misses are not."""

    def __init__(self, sessions: sessionmaker[Session], ttl: float) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Principal]] = {}

    def peek(self, token: str) -> Principal | None:
        """The cached principal, without touching the database."""
        hit = self._cache.get(digest(token))
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def lookup(self, token: str) -> Principal | None:
        key = digest(token)
        hit = self.peek(token)
        if hit is not None:
            return hit
        with self._sessions() as session:
            row = session.scalars(
                select(Token).where(Token.token_hash == key, Token.revoked_at.is_(None))
            ).first()
        if row is None:
            return None
        principal = Principal(row.id, row.name, row.role)
        with self._lock:
            self._cache[key] = (time.monotonic() + self._ttl, principal)
        return principal

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

"""Database tables. The schema itself is created by the Alembic migrations in `migrations/`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class Event(Base):
    """One registry event and the decision given for it (the answer the registry saw)."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    username: Mapped[str] = mapped_column(String(200), index=True)
    project: Mapped[str | None] = mapped_column(String(200), index=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    score: Mapped[float] = mapped_column(Float, index=True)
    decision: Mapped[str] = mapped_column(String(10), index=True)
    reasons: Mapped[list[Any]]
    campaign: Mapped[str | None] = mapped_column(String(200), index=True)
    signals: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]]
    pending: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    verdict: Mapped[str | None] = mapped_column(String(20), index=True)
    verdict_at: Mapped[datetime | None]
    verdict_by: Mapped[str | None] = mapped_column(String(200))
    # the event's place in the one stream every replica scores (service.stream_log)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True, index=True)
    verdict_source: Mapped[str | None] = mapped_column(String(10))  # VerdictSource
    verdict_batch: Mapped[str | None] = mapped_column(String(40))
    # a pending code scan taken by a replica (SQLite; PostgreSQL locks the row instead)
    scan_claimed_by: Mapped[str | None] = mapped_column(String(200))
    scan_claimed_at: Mapped[datetime | None]
    # scored without its files (too big, or its scan before scoring hit a budget or its
    # time limit: service.prescan): a replay of the log scores it without them too
    files_deferred: Mapped[bool] = mapped_column(Boolean, default=False)


class Verdict(Base):
    """Every verdict a moderator recorded (append-only; the latest is copied onto the event).

    Each verdict action is one ``batch``; undoing it appends rows (``source`` undo,
    ``undoes`` the batch) that put back each event's ``previous`` verdict (None: none)."""

    __tablename__ = "verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    verdict: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]
    campaign: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(10), default="single")  # VerdictSource
    batch: Mapped[str | None] = mapped_column(String(40), index=True)
    previous: Mapped[str | None] = mapped_column(String(20))
    undoes: Mapped[str | None] = mapped_column(String(40), index=True)


class Token(Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]


class BreakerState(Base):
    """The current state of one registration scope, shared by every replica."""

    __tablename__ = "breaker_state"

    scope: Mapped[str] = mapped_column(String(400), primary_key=True)  # 0006: cohorts
    state: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str | None] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(Text)
    since: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    actor: Mapped[str | None] = mapped_column(String(200))
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)


class BreakerAudit(Base):
    """Append-only record of every breaker change: who, why, when, until when."""

    __tablename__ = "breaker_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    scope: Mapped[str] = mapped_column(String(400))
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    previous_state: Mapped[str] = mapped_column(String(10))


class UiSession(Base):
    """A moderator page session (service.sessions): only the SHA-256 of its id is stored."""

    __tablename__ = "ui_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), index=True)
    csrf_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ScorerCheckpoint(Base):
    """The detector's whole stream state after the event at log position ``seq``
    (``detector.stream.checkpoint``: versioned JSON, zlib-compressed)."""

    __tablename__ = "scorer_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    state: Mapped[bytes] = mapped_column(LargeBinary)


class StreamMark(Base):
    """A moderator's verdict that changes the stream state, at its place in the one log:
    ``seq`` is drawn from the same positions as ``events.seq`` (``service.stream_log``),
    so every replica, and every replay after a restart or a checkpoint, applies it after
    exactly the events it followed. ``kind`` ``clear``: a benign verdict unlinking a
    campaign (``campaign``) and/or accounts (``accounts``) from the detector's campaigns
    (``detector.stream.StreamScorer.clear``)."""

    __tablename__ = "stream_marks"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20))
    campaign: Mapped[str | None] = mapped_column(String(200))
    accounts: Mapped[list[Any]]
    actor: Mapped[str] = mapped_column(String(200))


class StreamLock(Base):
    """One row: SQLite writers lock it to score in turn (PostgreSQL uses an advisory lock)."""

    __tablename__ = "stream_lock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    turns: Mapped[int] = mapped_column(BigInteger)

"""One stream state for every replica: the events table is the log, scored in turn.

The detector's stream state (accounts, cohort baselines, campaigns, the breaker's counts)
decides every answer, so every replica and every ``--workers`` process must score on the
same state. The design keeps the state where the events already are:

* **One log.** Every stored event has ``events.seq``, its place in the one stream.
* **Scoring in turn.** A group commit first takes the stream lock for its transaction
  (``take_turn``: a PostgreSQL transaction-level advisory lock; on SQLite, a write to the
  one ``stream_lock`` row, which takes SQLite's write lock), then replays the events other
  replicas stored since this replica's position (``events_after``, through the same
  ``StreamScorer.process``), then scores its own events on that state, numbers them from
  the head of the log, stores them and commits, which releases the lock. So the log holds
  the events in the order they were scored and every replica's state is the state after
  the log's prefix it has seen: the same answers as one process fed the same order.
  A replica that dies holding the lock loses its transaction (nothing of it was
  answered) and PostgreSQL releases the lock with its connection.
* **Marks.** A moderator's verdict that changes the state (a benign verdict clearing a
  campaign or a member, ``detector.stream.StreamScorer.clear``) is stored in
  ``stream_marks`` at a position of the same log, taken under the same lock
  (``append_mark``). ``events_after`` yields events and marks in log order, so every
  replica, and every replay after a restart or from a checkpoint, clears at the same
  point of the stream: after the events the verdict followed, before the next ones.
* **Checkpoints.** Every ``[service] checkpoint_events`` events (and at shutdown) a
  replica stores ``detector.stream.checkpoint``'s versioned JSON of the whole state at
  its log position. A start, or a state made stale by a failed commit, takes the newest
  checkpoint and replays the log after it: a restart forgets nothing, and campaign ids
  (derived from their founding events) are the same as before.

Why not a leader that the other replicas forward to, or the windows in Redis: every
replica already has the scorer and a connection; taking turns needs no election, no
forwarding protocol and no second store, and a replica's death costs only its own
in-flight requests. The price: every replica replays every event (0.3-0.5 ms of CPU
each), and scoring is serial across the deployment (measured in docs/service.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, text, update

from service.db import now
from service.models import Event, ScorerCheckpoint, StreamLock, StreamMark

# An arbitrary constant naming the stream lock among PostgreSQL advisory locks (the
# migration lock is another).
PG_STREAM_LOCK = 7_301_202_612
KEEP_CHECKPOINTS = 2
REPLAY_BATCH = 2000

_EVENTS: Table = Event.__table__  # type: ignore[assignment]
_AFTER = (select(_EVENTS.c.seq, _EVENTS.c.payload, _EVENTS.c.received_at,
                 _EVENTS.c.files_deferred)
          .where(_EVENTS.c.seq > bindparam("after")).order_by(_EVENTS.c.seq)
          .limit(bindparam("limit")))
_MARKS: Table = StreamMark.__table__  # type: ignore[assignment]
_MARKS_AFTER = (select(_MARKS.c.seq, _MARKS.c.kind, _MARKS.c.campaign, _MARKS.c.accounts,
                       _MARKS.c.at)
                .where(_MARKS.c.seq > bindparam("after"), _MARKS.c.seq <= bindparam("upto"))
                .order_by(_MARKS.c.seq))
# The payload key a mark is yielded under by ``events_after`` (no event has it: an
# event's keys are those of CONTRACT §3).
MARK = "$mark"
_TURN = update(StreamLock.__table__).where(StreamLock.__table__.c.id == 1).values(  # type: ignore[arg-type]
    turns=StreamLock.__table__.c.turns + 1)


def take_turn(connection: Connection) -> None:
    """Hold the stream lock until the connection's transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_STREAM_LOCK})
    else:
        connection.execute(_TURN)


def events_after(connection: Connection, seq: int
                 ) -> Iterator[tuple[int, dict[str, Any], datetime, bool]]:
    """(seq, payload, received_at, scored without its files) of every stored event after
    log position ``seq``, and of every mark among them (payload ``{MARK: kind, "campaign":
    ..., "accounts": [...]}``, its time, False), in log order."""
    while True:
        rows = connection.execute(_AFTER, {"after": seq, "limit": REPLAY_BATCH}).all()
        full = len(rows) == REPLAY_BATCH
        upto = int(rows[-1].seq) if full else 2 ** 62
        marks = connection.execute(_MARKS_AFTER, {"after": seq, "upto": upto}).all()
        items = [(int(row.seq), row.payload, row.received_at, bool(row.files_deferred))
                 for row in rows]
        if marks:
            items.extend((int(m.seq), {MARK: m.kind, "campaign": m.campaign,
                                       "accounts": list(m.accounts)}, m.at, False)
                         for m in marks)
            items.sort(key=lambda item: item[0])
        yield from items
        if not full:
            return
        seq = upto


def is_mark(payload: dict[str, Any]) -> bool:
    """Whether a payload from ``events_after`` is a mark, not an event."""
    return MARK in payload


def append_mark(connection: Connection, seq: int, kind: str, campaign: str | None,
                accounts: list[str], actor: str) -> None:
    """Store a mark at log position ``seq`` (taken under the stream lock, in the caller's
    transaction)."""
    connection.execute(insert(_MARKS).values(seq=seq, at=now(), kind=kind, campaign=campaign,
                                             accounts=accounts, actor=actor))


def head(connection: Connection) -> int:
    """The newest log position stored, events and marks (0 for an empty log)."""
    newest = connection.execute(select(_EVENTS.c.seq).order_by(_EVENTS.c.seq.desc())
                                .limit(1)).scalar() or 0
    mark = connection.execute(select(_MARKS.c.seq).order_by(_MARKS.c.seq.desc())
                              .limit(1)).scalar() or 0
    return int(max(newest, mark))


def newest_checkpoint(connection: Connection, version: int) -> tuple[int, bytes] | None:
    """(seq, state) of the newest stored checkpoint of ``version``."""
    table = ScorerCheckpoint.__table__
    row = connection.execute(select(table.c.seq, table.c.state)
                             .where(table.c.version == version)
                             .order_by(table.c.seq.desc()).limit(1)).first()
    return None if row is None else (int(row.seq), bytes(row.state))


def newest_checkpoint_seq(connection: Connection) -> int:
    table = ScorerCheckpoint.__table__
    return int(connection.execute(select(table.c.seq).order_by(table.c.seq.desc())
                                  .limit(1)).scalar() or 0)


def save_checkpoint(connection: Connection, seq: int, version: int, state: bytes) -> bool:
    """Store a checkpoint (unless one at ``seq`` exists) and drop all but the newest few;
    commits. Returns whether it was stored."""
    table = ScorerCheckpoint.__table__
    with connection.begin():
        if connection.execute(select(table.c.seq).where(table.c.seq >= seq)).first():
            return False  # another replica stored one as new: nothing to add
        connection.execute(insert(table).values(seq=seq, version=version,  # type: ignore[arg-type]
                                                created_at=now(), state=state))
        keep = [int(s) for s in connection.execute(
            select(table.c.seq).order_by(table.c.seq.desc()).limit(KEEP_CHECKPOINTS)
        ).scalars()]
        connection.execute(delete(table).where(table.c.seq < min(keep)))  # type: ignore[arg-type]
    return True

"""Pending code scans are claimed: concurrent replicas never take the same event.

Real claimers: separate processes, each with its own engine, on SQLite (claim column)
and PostgreSQL (FOR UPDATE SKIP LOCKED).
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from svc_helpers import new_database

from service.db import make_engine, migrate, session_factory
from service.models import Event
from service.worker import claim

EVENTS = 40


def _seed(url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    start = datetime.now(UTC)
    with session_factory(engine)() as session:
        for i in range(EVENTS):
            at = start + timedelta(milliseconds=i)
            session.add(Event(id=f"p{i:03d}", type="project.created", ts=at, received_at=at,
                              username="u", project=f"p{i}", payload_hash="h", payload={},
                              score=0.1, decision="allow", reasons=[], campaign=None,
                              signals="", detail={}, pending=True))
        session.commit()
    engine.dispose()


def _claimer(url: str, name: str, out: multiprocessing.Queue) -> None:
    """One replica: claim a batch, 'scan' it (hold it a while), mark it done, repeat."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    taken: list[str] = []
    while True:
        with sessions() as session:
            rows = claim(session, name, lease_seconds=300, limit=3)
            if not rows:
                break
            time.sleep(0.05)  # the scan
            ids = [r.id for r in rows]
            session.execute(update(Event).where(Event.id.in_(ids)).values(pending=False)
                            .execution_options(synchronize_session=False))
            session.commit()
            taken += ids
    engine.dispose()
    out.put((name, taken))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_concurrent_replicas_scan_each_pending_event_exactly_once(tmp_path: Path,
                                                                  kind: str) -> None:
    database = new_database(kind, tmp_path)
    try:
        _seed(database.url)
        context = multiprocessing.get_context("spawn")
        out = context.Queue()
        procs = [context.Process(target=_claimer, args=(database.url, f"r{i}", out))
                 for i in range(3)]
        for proc in procs:
            proc.start()
        results = dict(out.get(timeout=240) for _ in procs)
        for proc in procs:
            proc.join(timeout=60)
        taken = [event_id for ids in results.values() for event_id in ids]
        assert sorted(taken) == [f"p{i:03d}" for i in range(EVENTS)]  # each exactly once
        assert sum(1 for ids in results.values() if ids) >= 2  # they really ran together
    finally:
        if database.drop:
            database.drop()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_claim_held_by_a_replica_is_skipped_then_freed(tmp_path: Path, kind: str) -> None:
    """While one replica holds a claim, another takes other rows; once the holder is gone
    (PostgreSQL: its transaction ended; SQLite: its lease ran out) the rows are free."""
    database = new_database(kind, tmp_path)
    try:
        _seed(database.url)
        engine = make_engine(database.url)
        sessions = session_factory(engine)
        holder, other = sessions(), sessions()
        held = {r.id for r in claim(holder, "dead", lease_seconds=300, limit=5)}
        seen = {r.id for r in claim(other, "alive", lease_seconds=300, limit=EVENTS)}
        assert len(held) == 5 and held.isdisjoint(seen) and len(seen) == EVENTS - 5
        other.rollback()
        if kind == "postgresql":
            holder.close()  # the replica died: its transaction and row locks end
        else:
            holder.close()  # its claim stays until the lease runs out
            assert not {r.id for r in claim(other, "alive", 300, EVENTS)} & held
            other.commit()
            with sessions() as session:  # the lease has run out
                session.execute(update(Event).where(Event.id.in_(held))
                                .values(scan_claimed_at=datetime.now(UTC) - timedelta(hours=1)))
                session.commit()
        retaken = {r.id for r in claim(other, "alive", lease_seconds=300, limit=EVENTS)}
        assert held <= retaken
        other.close()
        with sessions() as session:
            assert session.scalar(select(Event.scan_claimed_by).where(
                Event.id == min(held))) == ("alive" if kind == "sqlite" else None)
        engine.dispose()
    finally:
        if database.drop:
            database.drop()

"""A database error after events were scored, then a retry: the retry is stored once and
scored once. The server runs as its own process; the failure is injected in the database
itself (a trigger that refuses one event id), SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from svc_helpers import TEST_POLICY, Database, add_tokens, free_port, new_database
from svc_procs import spawn_uvicorn, wait_ready

from service.db import make_engine, session_factory
from service.models import Event


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@contextmanager
def _refusing(database: Database, event_id: str) -> Iterator[None]:
    """While inside: the database itself refuses to insert `event_id` (a trigger)."""
    url = make_url(database.url)
    if database.kind == "sqlite":
        with sqlite3.connect(url.database) as db:
            db.execute(f"CREATE TRIGGER warden_refuse BEFORE INSERT ON events "
                       f"WHEN NEW.id = '{event_id}' "
                       f"BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
        try:
            yield
        finally:
            with sqlite3.connect(url.database) as db:
                db.execute("DROP TRIGGER warden_refuse")
        return
    import psycopg

    conninfo = f"host={url.host} port={url.port} user={url.username} dbname={url.database}"
    with psycopg.connect(conninfo, autocommit=True) as db:
        db.execute("CREATE FUNCTION warden_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$")
        db.execute(f"CREATE TRIGGER warden_refuse BEFORE INSERT ON events FOR EACH ROW "
                   f"WHEN (NEW.id = '{event_id}') EXECUTE FUNCTION warden_refuse()")
    try:
        yield
    finally:
        with psycopg.connect(conninfo, autocommit=True) as db:
            db.execute("DROP TRIGGER warden_refuse ON events")
            db.execute("DROP FUNCTION warden_refuse()")


def _stored_count(database: Database, event_id: str) -> int:
    engine = make_engine(database.url)
    try:
        with session_factory(engine)() as session:
            return session.scalar(select(func.count()).where(Event.id == event_id)) or 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_database_error_then_retry_is_stored_once_and_scored_once(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new account creates projects; the 9th is scored, then its insert fails. The
    retry must succeed (it used to get `422 duplicate id` forever) and count once: the
    9th is not a flood, the 10th is ("10 projects in 1 h"), exactly as without the error."""
    database = new_database(kind, tmp_path)
    policy = tmp_path / "policy.toml"
    policy.write_text(TEST_POLICY)
    monkeypatch.setenv("WARDEN_POLICY", str(policy))
    try:
        tokens = add_tokens(database.url)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = spawn_uvicorn(database.url, port, tmp_path / "server.log")
        try:
            wait_ready(url, proc)
            start = time.time() - 1200
            headers = {"Authorization": f"Bearer {tokens['registry']}"}

            def project(i: int) -> dict:
                return {"id": f"proj-{i}", "ts": _stamp(start + 60 + 30 * i),
                        "type": "project.created", "account": {"username": "fresh-author"},
                        "project": {"name": f"fresh-author-tool-{i}"}}

            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                account = {"id": "acct", "ts": _stamp(start), "type": "account.created",
                           "account": {"username": "fresh-author"}}
                assert client.post("/v1/events", json=account).status_code == 200
                for i in range(1, 9):
                    assert client.post("/v1/events", json=project(i)).status_code == 200

                with _refusing(database, "proj-9"):
                    failed = client.post("/v1/events", json=project(9))
                assert failed.status_code == 503, failed.text
                assert "nothing of this request was stored" in failed.json()["detail"]
                assert _stored_count(database, "proj-9") == 0

                retry = client.post("/v1/events", json=project(9))
                assert retry.status_code == 200, retry.text
                ninth = retry.json()
                assert not any("projects in 1 h" in r for r in ninth["reasons"]), ninth
                again = client.post("/v1/events", json=project(9))
                assert again.status_code == 200 and again.json() == ninth  # a plain replay
                tenth = client.post("/v1/events", json=project(10)).json()
                assert any("created 10 projects in 1 h" in r for r in tenth["reasons"]), tenth
                assert tenth["decision"] != "allow"
            assert _stored_count(database, "proj-9") == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    finally:
        if database.drop:
            database.drop()

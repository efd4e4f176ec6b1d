"""Input edges (issue 15, item 5) against real servers on SQLite and PostgreSQL: JSON depth
and size, event id alphabet, bounded names, time filters with UTC offsets, 413 for
streamed bodies, a private SQLite file, and log lines that never grow without bound."""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from svc_helpers import BAD_SETUP, Server, add_tokens, new_database, project_event
from svc_procs import spawn_uvicorn, wait_ready

from service.config import Settings
from service.db import make_engine, now, session_factory
from service.logs import MAX_TRACEBACK_CHARS, JsonFormatter
from service.models import Token
from service.tokens import digest

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def proc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Server, Path]]:
    """The service as its own uvicorn process, its log in a file."""
    from svc_helpers import free_port

    tmp = tmp_path_factory.mktemp("input")
    database = new_database(request.param, tmp)
    tokens = add_tokens(database.url)
    port, log = free_port(), tmp / "server.log"
    process = spawn_uvicorn(database.url, port, log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process)
        yield Server(url, database, tokens, Settings.load(database.url)), log
    finally:
        process.terminate()
        process.wait(timeout=30)
        if database.drop:
            database.drop()


@pytest.mark.parametrize("route", ["/v1/events", "/v1/breaker/project.created/pause",
                                   "/v1/tokens", "/v1/queue/x-1/verdict"])
def test_deep_json_is_a_400_and_no_huge_log_line(proc: tuple[Server, Path], route: str
                                                 ) -> None:
    server, log = proc
    role = {"/v1/events": "registry", "/v1/tokens": "admin"}.get(route, "moderator")
    with server.client(role) as c:
        r = c.post(route, content=DEEP, headers={"content-type": "application/json"})
        assert r.status_code == 400 and "nested" in r.json()["detail"], r.text
        # a deep value hidden inside a string is no nesting at all
        ok = c.post("/v1/events", content=json.dumps(
            {"id": server.uid(), "ts": server.ts(), "type": "account.created",
             "account": {"username": "u" + server.uid(), "user_agent": "[" * 900}}),
            headers={"content-type": "application/json"})
        assert ok.status_code == (200 if role == "registry" else 403)
    assert max(len(line) for line in log.read_text().splitlines() or [""]) < 20_000


def test_logged_tracebacks_are_bounded() -> None:
    def recurse(n: int) -> None:
        recurse(n + 1)

    try:
        recurse(0)
    except RecursionError:
        record = logging.LogRecord("warden", logging.ERROR, __file__, 1, "x" * 100_000,
                                   None, sys.exc_info())
    line = JsonFormatter().format(record)
    assert len(line) < MAX_TRACEBACK_CHARS + 4000
    assert "RecursionError" in json.loads(line)["exc"]  # the end, where the error is, kept


def test_event_ids_have_an_alphabet(server: Server) -> None:
    good = project_event(server, "reqeusts", files={"setup.py": BAD_SETUP})
    good["id"] = f"reg:{server.uid()}.v1_x-2"
    with server.client("registry") as c:
        for bad in ("a/b", "a b", "é", "x" * 129, "../x", "a?b", "a%2Fb"):
            r = c.post("/v1/events", json={**good, "id": bad})
            assert r.status_code == 422 and "id" in r.json()["detail"], bad
        assert c.post("/v1/events", json=good).status_code == 200
    with server.client("moderator") as c:  # an accepted id can be opened and judged
        assert c.get(f"/v1/events/{good['id']}").status_code == 200
        r = c.post(f"/v1/queue/{good['id']}/verdict", json={"verdict": "malicious"})
        assert r.status_code == 200, r.text


def test_names_are_bounded_where_stored(server: Server) -> None:
    with server.client("admin") as c:
        assert c.post("/v1/tokens", json={"role": "moderator", "name": "n" * 151}
                      ).status_code == 422
    # a token from before the bound, with a 200-character name, still acts (its actor is
    # cut to the column's 200 characters; on PostgreSQL this was a 500)
    token = "wdn_legacy" + server.uid()
    engine = make_engine(server.database.url)
    with session_factory(engine)() as session:
        session.add(Token(name="L" * 200, role="moderator", token_hash=digest(token),
                          created_at=now(), created_by="test"))
        session.commit()
    engine.dispose()
    event = project_event(server, "reqeusts", files={"setup.py": BAD_SETUP})
    with server.client("registry") as c:
        assert c.post("/v1/events", json=event).status_code == 200
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        r = c.post(f"/v1/queue/{event['id']}/verdict", json={"verdict": "benign"})
        assert r.status_code == 200, r.text
        assert r.json()["actor"] == ("moderator:" + "L" * 200)[:200]


def test_time_filters_honour_offsets(server: Server) -> None:
    event = project_event(server, "reqeusts", files={"setup.py": BAD_SETUP})
    with server.client("registry") as c:
        assert c.post("/v1/events", json=event).status_code == 200
    at = datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
    plus5 = timezone(timedelta(hours=5))

    def listed(**params: str) -> bool:
        with server.client("analyst") as c:
            r = c.get("/v1/queue", params={"status": "all", "limit": 1000, **params})
        assert r.status_code == 200, r.text
        return event["id"] in {i["id"] for i in r.json()}

    assert listed(since=at.astimezone(plus5).isoformat())
    assert listed(until=(at + timedelta(seconds=1)).astimezone(plus5).isoformat())
    assert not listed(since=(at + timedelta(seconds=1)).astimezone(plus5).isoformat())
    assert not listed(until=(at - timedelta(seconds=1)).astimezone(plus5).isoformat())


def test_streamed_oversized_bodies_get_413(server: Server) -> None:
    limit = server.settings.service.max_body_bytes

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 4096 + 2):
            yield b" " * 4096

    with server.client("registry") as c:
        r = c.post("/v1/events", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
    with server.client("admin") as c:
        r = c.post("/v1/tokens", content=chunks(),
                   headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413
        assert c.get("/v1/tokens").status_code == 200  # the server carries on


def test_sqlite_file_is_private(tmp_path: Path) -> None:
    database = new_database("sqlite", tmp_path)
    add_tokens(database.url)
    path = Path(database.url.removeprefix("sqlite:///"))
    for file in [path, *path.parent.glob(path.name + "-*")]:
        assert stat.S_IMODE(os.stat(file).st_mode) == 0o600, file

"""No acknowledged event is lost when the server is killed with SIGKILL under load, and the
stream state is rebuilt from stored events on restart."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from svc_helpers import add_tokens, free_port, new_database
from svc_procs import spawn_uvicorn, wait_ready

from service.db import make_engine, session_factory
from service.models import Event


def _load(url: str, token: str, prefix: str, acked: list[str], stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    n = 0
    start = time.time() - 3600
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        while not stop.is_set():
            n += 1
            kind = "account.created" if n % 2 else "project.created"
            # event times an hour ago onwards: inside the window the service accepts
            event = {"id": f"{prefix}-{n}", "ts": time.strftime(
                         "%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + n)), "type": kind,
                     "account": {"username": f"{prefix}-user-{n // 2}"}}
            if kind == "project.created":
                event["project"] = {"name": f"{prefix}-proj-{n}"}
            try:
                r = client.post("/v1/events", json=event)
            except httpx.HTTPError:
                return  # the server is gone
            if r.status_code == 200:
                acked.append(event["id"])


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sigkill_under_load_loses_no_acknowledged_event(kind: str, tmp_path: Path) -> None:
    database = new_database(kind, tmp_path)
    try:
        tokens = add_tokens(database.url)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = spawn_uvicorn(database.url, port, tmp_path / "server.log")
        try:
            wait_ready(url, proc)
            acked: list[list[str]] = [[] for _ in range(4)]
            stop = threading.Event()
            threads = [threading.Thread(target=_load, args=(url, tokens["registry"], f"w{i}",
                                                            acked[i], stop))
                       for i in range(4)]
            for t in threads:
                t.start()
            time.sleep(1.5)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            stop.set()
            for t in threads:
                t.join(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
        answered = {i for ids in acked for i in ids}
        assert len(answered) > 50, "the load generator barely ran"

        engine = make_engine(database.url)
        with session_factory(engine)() as session:
            stored = set(session.scalars(select(Event.id)))
        engine.dispose()
        assert answered <= stored, f"lost {len(answered - stored)} acknowledged events"

        # restart on the same database: the stream state is rebuilt from what was stored
        proc = spawn_uvicorn(database.url, port, tmp_path / "server.log")
        try:
            ready = wait_ready(url, proc)
            assert ready["rebuilt_events"] == len(stored)
            some = sorted(answered)[0]
            headers = {"Authorization": f"Bearer {tokens['analyst']}"}
            assert httpx.get(f"{url}/v1/events/{some}", headers=headers).status_code == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    finally:
        if database.drop:
            database.drop()

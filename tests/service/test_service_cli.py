"""`warden token create` and `warden serve` as a user runs them."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import select
from svc_helpers import free_port
from svc_procs import REPO, wait_ready, warden

from service.db import make_engine, session_factory
from service.models import Token
from service.tokens import digest


def test_token_create_prints_only_the_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = warden("token", "create", "--role", "moderator", "--name", "alice",
                  "--database-url", url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("wdn_") and len(lines[0]) > 40
    engine = make_engine(url)
    with session_factory(engine)() as session:
        row = session.scalars(select(Token)).one()
    engine.dispose()
    assert (row.role, row.name, row.token_hash) == ("moderator", "alice", digest(lines[0]))


def test_token_create_bad_usage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = warden("token", "create", "--role", "superuser", "--database-url", url)
    assert done.returncode == 2 and done.stdout == ""
    assert "superuser" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = warden("token", "create", "--role", "admin", "--database-url", "mysql://h/db")
    assert done.returncode == 2 and "mysql" in done.stderr
    done = warden("token", "create", "--role", "admin", "--database-url",
                  f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    assert done.returncode == 2 and "missing-dir" in done.stderr


def test_serve_runs_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "warden", "serve", "--port", str(port),
                             "--database-url", url], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)  # type: ignore[arg-type]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert "warden_http_requests_total" in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    logs = proc.stderr.read().decode() if proc.stderr else ""
    assert '"msg": "service started"' in logs  # structured JSON log lines


def test_serve_bad_database_is_exit_2(tmp_path: Path) -> None:
    done = warden("serve", "--database-url", "oracle://nowhere/x")
    assert done.returncode == 2 and "oracle" in done.stderr

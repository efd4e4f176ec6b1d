"""Helpers for tests that run the service as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from svc_helpers import add_tokens, free_port, new_database

REPO = Path(__file__).resolve().parents[2]


def warden(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the `warden` CLI (same interpreter as the tests)."""
    return subprocess.run([sys.executable, "-m", "warden", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def spawn_uvicorn(database_url: str, port: int, log: Path,
                  policy: Path | None = None) -> subprocess.Popen[bytes]:
    """The service as its own process, as a deployment runs it (uvicorn, app factory)."""
    env = {**os.environ, "WARDEN_DATABASE_URL": database_url}
    if policy is not None:
        env["WARDEN_POLICY"] = str(policy)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "service.app:app_from_env",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--no-access-log"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 90) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            r = httpx.get(url + "/readyz", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become ready")


def stop_service(proc: subprocess.Popen[bytes], database: Any) -> None:
    """Stop a server started by `spawn_uvicorn` (killed if it will not stop) and drop its
    test database when the test created one."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except Exception:
        proc.kill()
    if database.drop:
        database.drop()


@dataclass(frozen=True)
class Served:
    """A running server process: its address, its database and role headers."""

    url: str
    proc: subprocess.Popen[bytes]
    database: Any
    registry: dict[str, str]
    analyst: dict[str, str]


@contextmanager
def served(tmp_path: Path, policy_text: str, backend: str = "sqlite") -> Iterator[Served]:
    """A fresh database with registry and analyst tokens, and a real server process on
    it with ``policy_text`` as its policy, stopped (and the database dropped) on exit."""
    database = new_database(backend, tmp_path)
    tokens = add_tokens(database.url)
    policy = tmp_path / "policy.toml"
    policy.write_text(policy_text)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn_uvicorn(database.url, port, tmp_path / "server.log", policy)
    try:
        wait_ready(url, proc)
        yield Served(url, proc, database,
                     {"Authorization": f"Bearer {tokens['registry']}"},
                     {"Authorization": f"Bearer {tokens['analyst']}"})
    finally:
        stop_service(proc, database)

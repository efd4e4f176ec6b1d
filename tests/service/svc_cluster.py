"""Helpers for the shared-state tests: several real server processes on one database,
streams dated up to now, and the answers one uninterrupted detector gives them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from svc_helpers import free_port
from svc_procs import REPO, wait_ready

from detector.policy import load_policy
from detector.stream import StreamScorer
from detector.stream.events import format_ts, parse_ts
from service.db import make_engine, session_factory
from service.models import BreakerAudit, Event


@dataclass
class Replica:
    url: str
    proc: subprocess.Popen[bytes]
    ready: dict[str, Any]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def spawn(database_url: str, policy: Path, log: Path) -> subprocess.Popen[bytes]:
    port = free_port()
    env = {**os.environ, "WARDEN_DATABASE_URL": database_url, "WARDEN_POLICY": str(policy)}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "service.app:app_from_env",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--no-access-log"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    proc.port = port  # type: ignore[attr-defined]
    return proc


def start(database_url: str, policy: Path, log: Path, count: int = 1) -> list[Replica]:
    """``count`` replicas started together, each once ready."""
    procs = [spawn(database_url, policy, log) for _ in range(count)]
    replicas = []
    try:
        for proc in procs:
            url = f"http://127.0.0.1:{proc.port}"  # type: ignore[attr-defined]
            replicas.append(Replica(url, proc, wait_ready(url, proc, seconds=180)))
    except BaseException:
        for proc in procs:
            proc.kill()
        raise
    return replicas


def post(url: str, token: str, events: list[dict[str, Any]], attempts: int = 1
         ) -> list[dict[str, Any]]:
    """Send events (one request) and return their answers; 503 is retried."""
    body: Any = events[0] if len(events) == 1 else events
    for attempt in range(attempts):
        r = httpx.post(f"{url}/v1/events", json=body, timeout=120,
                       headers={"Authorization": f"Bearer {token}"})
        if r.status_code == 503 and attempt + 1 < attempts:
            time.sleep(0.2)
            continue
        assert r.status_code == 200, r.text
        answer = r.json()
        return answer if isinstance(answer, list) else [answer]
    raise AssertionError("unreachable")


def shift_to_now(events: list[dict[str, Any]], end_before: float = 120.0
                 ) -> list[dict[str, Any]]:
    """The stream moved in time so that its last event is ``end_before`` s ago."""
    delta = time.time() - end_before - parse_ts(events[-1]["ts"])
    return [{**e, "ts": format_ts(parse_ts(e["ts"]) + delta)} for e in events]


def reference(events: list[dict[str, Any]], policy: Path) -> dict[str, dict[str, Any]]:
    """What one uninterrupted detector answers, with the campaign each event ends in
    (relabels applied, as the service stores them)."""
    scorer = StreamScorer(load_policy(policy))
    now = time.time()
    out: dict[str, dict[str, Any]] = {}
    for event in events:
        decision = scorer.process(event, now)[0]
        out[decision["id"]] = {k: decision[k] for k in ("decision", "score", "reasons",
                                                        "campaign")}
        moved, renamed = scorer.relabels()
        for event_id, campaign in moved.items():
            out[event_id]["campaign"] = campaign
        for old, new in renamed.items():
            for row in out.values():
                if row["campaign"] == old:
                    row["campaign"] = new
    return out


def stored(database_url: str) -> tuple[dict[str, dict[str, Any]], list[tuple[str, ...]]]:
    """Every stored event's decision, score, reasons and campaign, and the breaker audit
    (scope, action, actor, reason) in order."""
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            rows = {e.id: {"decision": e.decision, "score": e.score,
                           "reasons": list(e.reasons), "campaign": e.campaign}
                    for e in session.scalars(select(Event))}
            audit = [(a.scope, a.action, a.actor, a.reason) for a in session.scalars(
                select(BreakerAudit).order_by(BreakerAudit.id))]
    finally:
        engine.dispose()
    return rows, audit

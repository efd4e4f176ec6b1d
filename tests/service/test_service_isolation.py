"""One crafted file cannot freeze the service (issue 18 item 5): a deferred scan runs in
a worker process with a wall-time limit, the real server process keeps answering other
requests meanwhile, and the event ends as review with the reason."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from svc_helpers import TEST_POLICY, new_database
from svc_procs import served

from detector.stream.events import format_ts

# Budgets lifted so the scan really runs long (7 MB of tiny statements costs the parser
# seconds that nothing in-process can interrupt); the worker's wall time is 3 s.
POLICY = TEST_POLICY + """
[service]
async_files_bytes = 1024
scan_wall_seconds = 3.0
scan_memory_bytes = 16_000_000_000  # the 3 s wall time, not a MemoryError, ends it
max_body_bytes = 33554432

[code.limits]
scan_cpu_seconds = 1000.0
max_parse_units = 100000000
max_parse_bytes = 100000000
max_text_scan_bytes = 100000000
"""
CRAFTED = {"setup.py": "x = 1\n" * 1_200_000}


def test_a_crafted_file_cannot_freeze_the_server(tmp_path: Path) -> None:
    with served(tmp_path, POLICY) as server:
        url, registry, analyst = server.url, server.registry, server.analyst
        event = {"id": "crafted-1", "ts": format_ts(time.time() - 5),
                 "type": "project.created", "account": {"username": "someone"},
                 "project": {"name": "tidy-widgets", "files": CRAFTED}}
        with httpx.Client(base_url=url, timeout=30) as client:
            answer = client.post("/v1/events", json=[event], headers=registry)
            assert answer.status_code == 200, answer.text
            # while the worker chews on it, the server answers within a second
            slowest, answered, deadline = 0.0, 0, time.monotonic() + 6
            while time.monotonic() < deadline:
                start = time.monotonic()
                other = {"id": f"other-{answered}", "ts": format_ts(time.time() - 5),
                         "type": "account.created", "account": {"username": f"u{answered}"}}
                r = client.post("/v1/events", json=[other], headers=registry)
                assert r.status_code == 200
                slowest = max(slowest, time.monotonic() - start)
                answered += 1
                time.sleep(0.1)
            assert answered >= 20 and slowest < 1.0, (answered, slowest)
            deadline = time.monotonic() + 120
            while (stored := client.get("/v1/events/crafted-1", headers=analyst).json()
                   )["pending"]:
                assert time.monotonic() < deadline, "the deferred scan never finished"
                time.sleep(0.5)
        assert stored["decision"] in ("review", "block"), stored
        detail = stored["detail"]
        assert "scan-budget-exceeded" in {f["rule"] for f in detail["findings"]}, stored
        assert "wall time" in detail["scan_error"] and detail["scan_attempts"] == 1




def _pending_event(sessions, event_id: str, files: dict[str, str], attempts: int) -> None:
    from datetime import UTC, datetime

    from service.models import Event

    now = datetime.now(UTC).replace(tzinfo=None)
    payload = {"id": event_id, "ts": format_ts(time.time()), "type": "project.created",
               "account": {"username": "someone"},
               "project": {"name": "tidy-widgets", "files": files}}
    with sessions() as session:
        session.add(Event(id=event_id, type="project.created", ts=now, received_at=now,
                          username="someone", project="tidy-widgets", payload_hash="0" * 64,
                          payload=payload, score=0.0, decision="allow", reasons=[],
                          campaign=None, signals="", pending=True,
                          detail={"scan_attempts": attempts} if attempts else {}))
        session.commit()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_file_that_keeps_killing_its_scan_is_not_retried_forever(kind: str,
                                                                  tmp_path: Path) -> None:
    """Attempts are stored before each scan; past scan_max_attempts the event is decided
    without its files: review, with the reason (and nothing is scanned)."""
    from service.config import Settings
    from service.db import make_engine, migrate, session_factory
    from service.models import Event
    from service.scoring import Scorer
    from service.worker import scan_pending

    database = new_database(kind, tmp_path)
    try:
        engine = make_engine(database.url)
        migrate(engine)
        sessions = session_factory(engine)
        settings = Settings(database_url=database.url)
        assert settings.service.scan_max_attempts == 3
        _pending_event(sessions, "tried-out", {"setup.py": "x = 1\n"}, attempts=3)
        _pending_event(sessions, "first-try", {"setup.py": "x = 1\n"}, attempts=0)
        assert scan_pending(sessions, Scorer(), settings) == (2, 0)
        with sessions() as session:
            tried = session.get(Event, "tried-out")
            first = session.get(Event, "first-try")
            assert tried.decision == "review" and tried.detail["scan_attempts"] == 4
            assert "not retried" in tried.detail["scan_error"]
            assert first.decision == "allow" and first.detail["scan_attempts"] == 1
            assert "scan_error" not in first.detail
        engine.dispose()
    finally:
        if database.drop:
            database.drop()

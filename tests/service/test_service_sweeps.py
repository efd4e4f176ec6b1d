"""Sweeps through the real service: later names imitating one target are raised, naming
the earlier ones, and a restarted service (which replays its stream) remembers them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from svc_helpers import (
    TEST_POLICY,
    Server,
    add_tokens,
    new_database,
    project_event,
    start_server,
    stop_server,
)

from detector.policy import load_policy
from service.config import Settings
from service.db import make_engine

SWEEP = ["pyperclipe", "pyperclp", "pypreclip", "pyperclpi"]
FAMILY = ["acme-core", "acme-cli"]


def _sweep_reason(body: dict) -> str | None:
    return next((reason for reason in body["reasons"] if "sweep:" in reason), None)


def _checkpoints(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(
                text("SELECT count(*) FROM scorer_checkpoints")).scalar() or 0)
    finally:
        engine.dispose()


def _post(server: Server, name: str) -> dict:
    with server.client("registry") as client:
        answer = client.post("/v1/events", json=project_event(server, name))
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_service_scores_a_sweep_and_remembers_it_across_a_restart(
        kind: str, tmp_path: Path) -> None:
    database = new_database(kind, tmp_path)
    policy = tmp_path / f"policy-{uuid.uuid4().hex[:8]}.toml"
    # A checkpoint every 2 events: the restart restores one, then replays the rest.
    policy.write_text(TEST_POLICY + "[service]\ncheckpoint_events = 2\n")
    try:
        tokens = add_tokens(database.url)
        settings = Settings.load(database.url, load_policy(policy))
        url, running = start_server(settings)
        server = Server(url, database, tokens, settings)
        try:
            answers = [_post(server, name) for name in [SWEEP[0], *FAMILY, *SWEEP[1:3]]]
        finally:
            stop_server(running)
        first, *family, second, third = answers
        assert _sweep_reason(first) is None and all(_sweep_reason(a) is None for a in family)
        reason = _sweep_reason(second)
        assert reason is not None and "'pyperclip'" in reason and f"'{SWEEP[0]}'" in reason
        reason = _sweep_reason(third)
        assert reason is not None and "2 other names" in reason
        assert f"'{SWEEP[0]}'" in reason and f"'{SWEEP[1]}'" in reason
        assert third["score"] >= first["score"]

        # A new process on the same database restores the newest checkpoint and replays
        # the events after it: the sweep goes on.
        assert _checkpoints(database.url) >= 1
        url, running = start_server(settings)
        again = Server(url, database, tokens, settings, started=server.started,
                       _last=server._last)
        try:
            fourth = _post(again, SWEEP[3])
        finally:
            stop_server(running)
        reason = _sweep_reason(fourth)
        assert reason is not None and "3 other names" in reason
        assert all(f"'{name}'" in reason for name in SWEEP[:3])
    finally:
        if database.drop:
            database.drop()

"""Generator bursts through the real service: a name near a popular one, glued from the
same rare pieces as many names before it in the window, is raised, naming them; a
restarted service (which restores a checkpoint and replays its stream) remembers the
window."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
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

# A generator's grid (tests/stream/test_bursts.py): six starts glued to seven ends; the
# members (names near a popular one) come after the rest.
STARTS = ["pyw", "tp", "grand", "rand", "cc", "visa"]
ENDS = ["url", "info", "kill", "lib", "vm", "int", "ver"]
MEMBER = "pywurl"  # by `pycurl`
GRID = [s + e for s in STARTS for e in ENDS if s + e != MEMBER]


def _burst_reason(body: dict) -> str | None:
    return next((reason for reason in body["reasons"] if "also start with" in reason), None)


def _post(server: Server, name: str) -> dict:
    with server.client("registry") as client:
        answer = client.post("/v1/events", json=project_event(server, name))
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_service_scores_a_burst_and_remembers_its_window_across_a_restart(
        kind: str, tmp_path: Path) -> None:
    database = new_database(kind, tmp_path)
    policy = tmp_path / f"policy-{uuid.uuid4().hex[:8]}.toml"
    # A checkpoint every 4 events: the restart restores one, then replays the rest.
    policy.write_text(TEST_POLICY + "[service]\ncheckpoint_events = 4\n")
    try:
        tokens = add_tokens(database.url)
        settings = Settings.load(database.url, load_policy(policy))
        url, running = start_server(settings)
        server = Server(url, database, tokens, settings)
        try:
            answers = [_post(server, name) for name in GRID]
        finally:
            stop_server(running)
        assert all(_burst_reason(a) is None for a in answers)  # no member among them

        url, running = start_server(settings)
        again = Server(url, database, tokens, settings, started=server.started,
                       _last=server._last)
        try:
            member = _post(again, MEMBER)
        finally:
            stop_server(running)
        reason = _burst_reason(member)
        assert reason is not None, member["reasons"]
        hours = load_policy(policy).names.sweep_window_hours
        assert f"burst: 5 other names in the {hours:g} h before it" in reason
        listing = re.search(r"live names \(([^)]*)\)", reason)
        assert listing is not None
        listed = re.findall(r"'([^']+)'", listing.group(1))
        assert listed and set(listed) <= set(GRID)
        assert all(name.startswith("pyw") or name.endswith("rl") for name in listed)
    finally:
        if database.drop:
            database.drop()

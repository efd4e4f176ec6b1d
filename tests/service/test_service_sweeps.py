"""Sweeps through the real service: later names imitating one target are raised, naming
the earlier ones, and a restarted service (which replays its stream) remembers them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from svc_helpers import post_project, running, service_database

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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_service_scores_a_sweep_and_remembers_it_across_a_restart(
        kind: str, tmp_path: Path) -> None:
    # A checkpoint every 2 events: the restart restores one, then replays the rest.
    with service_database(kind, tmp_path, "[service]\ncheckpoint_events = 2\n") as server:
        with running(server) as first:
            answers = [post_project(first, name) for name in [SWEEP[0], *FAMILY, *SWEEP[1:3]]]
        first_answer, *family, second, third = answers
        assert _sweep_reason(first_answer) is None and \
            all(_sweep_reason(a) is None for a in family)
        reason = _sweep_reason(second)
        assert reason is not None and "'pyperclip'" in reason and f"'{SWEEP[0]}'" in reason
        reason = _sweep_reason(third)
        assert reason is not None and "2 other names" in reason
        assert f"'{SWEEP[0]}'" in reason and f"'{SWEEP[1]}'" in reason
        assert third["score"] >= first_answer["score"]

        # A new process on the same database restores the newest checkpoint and replays
        # the events after it: the sweep goes on.
        assert _checkpoints(server.database.url) >= 1
        with running(first) as again:
            fourth = post_project(again, SWEEP[3])
        reason = _sweep_reason(fourth)
        assert reason is not None and "3 other names" in reason
        assert all(f"'{name}'" in reason for name in SWEEP[:3])

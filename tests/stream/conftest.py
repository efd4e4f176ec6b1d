"""Fixtures for the stream tests: small simulated streams, scored once per session."""

from __future__ import annotations

from typing import Any

import pytest

from detector.stream.simulate import SimConfig, simulate


@pytest.fixture(scope="session")
def campaign_stream() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Ten simulated days with a typosquat wave and a one-account flood from day 4."""
    return simulate(SimConfig(days=10, seed=7, campaigns=("typosquat-waves", "account-flood"),
                              first_campaign_day=4.0, scale=0.4, crowds=()))


@pytest.fixture(scope="session")
def scored_campaign_stream(campaign_stream: Any) -> list[dict[str, Any]]:
    from detector.stream import StreamScorer

    events, _ = campaign_stream
    scorer = StreamScorer()
    out = []
    for event in events:
        out.extend(scorer.process(event))
    return out


def make_event(i: int, ts: str, kind: str = "account.created", **fields: Any) -> dict[str, Any]:
    """A minimal valid event with extra fields merged in."""
    event: dict[str, Any] = {"id": f"e{i}", "ts": ts, "type": kind,
                             "account": {"username": fields.pop("username", f"user{i}")}}
    event["account"].update(fields.pop("account", {}))
    event.update(fields)
    return event

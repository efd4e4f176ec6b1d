"""Fixtures for the service tests (helpers live in svc_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from svc_helpers import Server, run_service


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    """One shared server per backend; tests use unique event ids."""
    yield from run_service(request.param, tmp_path_factory.mktemp("svc"),
                           async_files_bytes=4096, max_body_bytes=256 * 1024,
                           max_batch_events=50,
                           # every test here calls from 127.0.0.1, many to see their 401s
                           # (the limits themselves: test_security_limits.py)
                           limit_failed_auth="100000/minute")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A server of its own, for tests that change global state (the breaker)."""
    yield from run_service(request.param, tmp_path,
                           "[breaker]\nauto_trip_minutes = 0.04\n")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_server_lasting(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A server of its own whose automatic pauses last the policy's ``auto_trip_minutes``
    (30 min), not ``fresh_server``'s 2.4 s: for tests that trip the breaker with a wave
    and count breaker changes afterwards, which a lapse must not join however slow the
    machine is."""
    yield from run_service(request.param, tmp_path)

"""schemathesis against the live OpenAPI schema: no input may cause a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from svc_helpers import Server, run_service

EXAMPLES = 15  # per operation; bench/bench_service.py runs more


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Server]:
    """Its own server: the fuzzer pauses scopes and revokes tokens."""
    yield from run_service(request.param, Path(tmp_path_factory.mktemp("fuzz")),
                           max_body_bytes=64 * 1024, max_batch_events=20)


def _role(method: str, path: str) -> str:
    if path.startswith("/v1/tokens"):
        return "admin"
    if path == "/v1/events" and method == "POST":
        return "registry"
    return "moderator"


def _fuzz(server: Server, operation, token: str) -> None:  # type: ignore[no-untyped-def]
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
        case.validate_response(response, checks=[not_a_server_error])

    check()


def test_no_server_errors(fuzz_server: Server) -> None:
    api = schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        role = _role(operation.method.upper(), operation.path)
        _fuzz(fuzz_server, operation, fuzz_server.tokens[role])

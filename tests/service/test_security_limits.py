"""Limits that protect without losing events (issue 15, item 6), against real servers on
SQLite and PostgreSQL: brute force and log-in floods get 429 with Retry-After per client
address, moderator/analyst reads per token, counts shared through Redis, and registry
event posts are never limited but get 503 + Retry-After backpressure when the writer's
queue is full, with every acknowledged event stored."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from svc_helpers import Server, account_event, login_pages, run_service


@pytest.fixture(params=["sqlite", "postgresql"])
def limited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    yield from run_service(request.param, tmp_path, limit_failed_auth="5/minute",
                           limit_logins="3/minute", limit_reads="8/minute")


def test_brute_force_gets_429_but_a_valid_registry_is_never_limited(limited: Server) -> None:
    with httpx.Client(base_url=limited.url, timeout=30) as c:
        codes = [c.get("/v1/queue", headers={"Authorization": f"Bearer wdn_guess{i}"})
                 for i in range(8)]
    assert [r.status_code for r in codes[:5]] == [401] * 5
    assert {r.status_code for r in codes[5:]} == {429}
    assert int(codes[-1].headers["Retry-After"]) >= 1
    # the same address with a valid registry token: events are never rate-limited
    with limited.client("registry") as c:
        for _ in range(12):
            r = c.post("/v1/events", json=account_event(limited))
            assert r.status_code == 200, r.text
        assert c.get("/v1/registration-status").status_code == 200


def test_login_flood_gets_429(limited: Server) -> None:
    with httpx.Client(base_url=limited.url, timeout=30) as c:
        codes = [login_pages(c, "wdn_wrong").status_code for _ in range(5)]
    assert codes[:3] == [401] * 3 and set(codes[3:]) == {429}


def test_reads_are_limited_per_token(limited: Server) -> None:
    with limited.client("analyst") as analyst, limited.client("moderator") as moderator:
        codes = [analyst.get("/v1/queue").status_code for _ in range(10)]
        assert codes[:8] == [200] * 8 and set(codes[8:]) == {429}
        assert moderator.get("/v1/queue").status_code == 200  # another token, its own count


def test_redis_storage_shares_counts_between_replicas(tmp_path: Path) -> None:
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/13"
    try:
        client = redis.Redis.from_url(url)
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    for key in client.scan_iter("LIMITS:*"):  # this test's own database (13) only
        client.delete(key)
    kwargs = {"ratelimit_storage": url, "limit_failed_auth": "4/minute"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = run_service("sqlite", tmp_path / "a", **kwargs)
    two = run_service("sqlite", tmp_path / "b", **kwargs)
    a, b = next(one), next(two)
    try:
        with httpx.Client(timeout=30) as c:
            bad = {"Authorization": "Bearer wdn_nope"}
            first = [c.get(a.url + "/v1/queue", headers=bad).status_code for _ in range(4)]
            then = c.get(b.url + "/v1/queue", headers=bad)
        assert first == [401] * 4
        assert then.status_code == 429 and "Retry-After" in then.headers
    finally:
        one.close()
        two.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def tight_writer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    yield from run_service(request.param, tmp_path, max_queued_events=4, group_window_ms=20)


def test_overload_answers_503_and_loses_nothing_acknowledged(tight_writer: Server) -> None:
    server = tight_writer
    batches = [[account_event(server, f"bp{uuid.uuid4().hex[:10]}") for _ in range(2)]
               for _ in range(60)]

    def send(batch: list[dict]) -> tuple[list[dict], int, str | None, int]:
        with server.client("registry") as c:
            r = c.post("/v1/events", json=batch)
            tries = 1
            first, retry = r.status_code, r.headers.get("Retry-After")
            while r.status_code == 503 and tries < 200:
                r = c.post("/v1/events", json=batch)  # as a registry would, after a pause
                tries += 1
            assert r.status_code == 200, r.text
            return batch, first, retry, tries

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(send, batches))
    refused = [(first, retry) for _, first, retry, _ in results if first == 503]
    assert refused, "the writer's queue never filled: no backpressure observed"
    assert all(retry is not None and int(retry) >= 1 for _, retry in refused)
    with server.client("analyst") as c:
        for batch, *_ in results:
            for event in batch:
                assert c.get(f"/v1/events/{event['id']}").status_code == 200

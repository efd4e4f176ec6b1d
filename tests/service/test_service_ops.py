"""Health, readiness, metrics and the OpenAPI schema."""

from __future__ import annotations

import re

from svc_helpers import Server, account_event


def _metric(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_health_and_readiness(server: Server) -> None:
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_metrics_count_events_and_requests(server: Server) -> None:
    with server.client() as c:
        before = c.get("/metrics").text
    with server.client("registry") as c:
        for _ in range(3):
            assert c.post("/v1/events", json=account_event(server)).status_code == 200
    with server.client() as c:
        after = c.get("/metrics").text
    labels = 'method="POST",route="/v1/events",status="200"'
    assert _metric(after, "warden_http_requests_total", labels) == \
        _metric(before, "warden_http_requests_total", labels) + 3
    counted = sum(_metric(after, "warden_events_total", f'decision="{d}",type="account.created"')
                  for d in ("allow", "review", "block"))
    assert counted >= 3
    assert 'warden_breaker_paused{scope="project.created"}' in after


def test_openapi_documents_the_contract(server: Server) -> None:
    with server.client() as c:
        schema = c.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/v1/events", "/v1/events/{event_id}", "/v1/registration-status",
                 "/v1/breaker/{scope}/pause", "/v1/breaker/{scope}/resume", "/v1/queue",
                 "/v1/queue/{event_id}/verdict"):
        assert path in paths, path
    body = paths["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "EventIn" in str(body) and "EventIn" in schema["components"]["schemas"]
    assert not any(p.startswith("/ui") for p in paths)

"""POST /v1/events: decisions, batches, idempotency, bad input, async code scans."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from svc_helpers import BAD_SETUP, Server, account_event, project_event


def _stored(server: Server, event_id: str) -> int:
    with server.client("moderator") as c:
        return c.get(f"/v1/events/{event_id}").status_code


def test_single_event_gets_a_decision(server: Server) -> None:
    event = project_event(server, "reqeusts", files={"setup.py": BAD_SETUP})
    with server.client("registry") as c:
        r = c.post("/v1/events", json=event)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == event["id"]
    assert 0.0 <= body["score"] <= 1.0
    assert body["decision"] in ("review", "block")
    assert any("requests" in reason for reason in body["reasons"])
    assert "campaign" in body


def test_benign_account_is_allowed(server: Server) -> None:
    with server.client("registry") as c:
        r = c.post("/v1/events", json=account_event(server, "maria.lopez",
                                                     email="maria@example.org"))
    assert r.status_code == 200
    assert r.json()["decision"] == "allow"


def test_batch_answers_in_order(server: Server) -> None:
    events = [account_event(server), project_event(server, "reqeusts"),
              account_event(server)]
    with server.client("registry") as c:
        r = c.post("/v1/events", json=events)
    assert r.status_code == 200, r.text
    assert [d["id"] for d in r.json()] == [e["id"] for e in events]


def test_replayed_event_returns_the_stored_decision(server: Server) -> None:
    event = project_event(server, "numpyy")
    with server.client("registry") as c:
        first = c.post("/v1/events", json=event).json()
        # same content, other key order: a retry, not a new event
        again = c.post("/v1/events", content=json.dumps(dict(reversed(event.items()))))
    assert again.status_code == 200
    assert again.json() == first
    with server.client("moderator") as c:
        stored = c.get(f"/v1/events/{event['id']}").json()
    assert stored["score"] == first["score"] and stored["decision"] == first["decision"]


def test_reused_id_with_other_content_is_refused(server: Server) -> None:
    event = account_event(server)
    with server.client("registry") as c:
        assert c.post("/v1/events", json=event).status_code == 200
        other = {**event, "account": {"username": "someone-else"}}
        r = c.post("/v1/events", json=other)
    assert r.status_code == 409
    assert event["id"] in r.json()["detail"]


def test_batch_with_conflicting_duplicates_stores_nothing(server: Server) -> None:
    a = account_event(server)
    b = {**a, "account": {"username": "changed"}}
    fresh = account_event(server)
    with server.client("registry") as c:
        r = c.post("/v1/events", json=[fresh, a, b])
    assert r.status_code == 409
    assert _stored(server, fresh["id"]) == 404
    assert _stored(server, a["id"]) == 404


def test_malformed_json_is_400(server: Server) -> None:
    with server.client("registry") as c:
        r = c.post("/v1/events", content=b'{"id": "x", ',
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert "malformed JSON" in r.json()["detail"]


def test_unknown_field_is_422_and_nothing_is_stored(server: Server) -> None:
    good = account_event(server)
    bad = account_event(server)
    bad["account"]["shoe_size"] = 44
    with server.client("registry") as c:
        r = c.post("/v1/events", json=[good, bad])
    assert r.status_code == 422
    assert "shoe_size" in r.json()["detail"] and "unknown field" in r.json()["detail"]
    assert _stored(server, good["id"]) == 404


def test_missing_required_fields_are_named(server: Server) -> None:
    with server.client("registry") as c:
        r = c.post("/v1/events", json={"id": "x1", "type": "account.created",
                                       "ts": "2024-03-01T00:00:00Z", "account": {}})
        assert r.status_code == 422
        assert "account.username" in r.json()["detail"]
        r = c.post("/v1/events", json={"id": "x2", "type": "package.deleted",
                                       "ts": "2024-03-01T00:00:00Z",
                                       "account": {"username": "u"}})
        assert r.status_code == 422
        assert "type" in r.json()["detail"]
        r = c.post("/v1/events", json={"id": "x3", "type": "account.created", "ts": 17,
                                       "account": {"username": "u"}})
        assert r.status_code == 422
        assert "ts" in r.json()["detail"]


def test_body_that_is_neither_object_nor_list(server: Server) -> None:
    with server.client("registry") as c:
        assert c.post("/v1/events", json="hello").status_code == 422
        assert c.post("/v1/events", json=[]).status_code == 422
        assert c.post("/v1/events", json=[1, 2]).status_code == 422


def test_oversized_body_is_413(server: Server) -> None:
    event = project_event(server, "bigproj", files={"setup.py": "#" * 300_000})
    with server.client("registry") as c:
        r = c.post("/v1/events", json=event)
        assert r.status_code == 413
        assert "exceeds" in r.json()["detail"]

        def chunks():  # no Content-Length: the limit still holds while streaming
            yield b'{"id": "stream", "pad": "'
            for _ in range(40):
                yield b"x" * 10_000
            yield b'"}'

        r = c.post("/v1/events", content=chunks())
        assert r.status_code == 413
    assert _stored(server, event["id"]) == 404


def test_batch_over_the_limit_is_413(server: Server) -> None:
    events = [account_event(server) for _ in range(server.settings.service.max_batch_events + 1)]
    with server.client("registry") as c:
        r = c.post("/v1/events", json=events)
    assert r.status_code == 413
    assert _stored(server, events[0]["id"]) == 404


def test_unknown_event_is_404(server: Server) -> None:
    with server.client("analyst") as c:
        r = c.get("/v1/events/never-sent")
    assert r.status_code == 404
    assert "never-sent" in r.json()["detail"]


def test_big_code_payload_is_scored_asynchronously(server: Server) -> None:
    # Files larger than async_files_bytes: answered at once, scanned in the background.
    padding = "\n".join(f"# filler line {i}" for i in range(400))
    files = {"setup.py": BAD_SETUP + padding}
    event = project_event(server, "lovely-tools-" + server.uid("x")[-6:], files=files)
    with server.client("registry") as c:
        first = c.post("/v1/events", json=event).json()
    assert first["pending"] is True
    deadline = time.monotonic() + 30
    with server.client("moderator") as c:
        while True:
            stored = c.get(f"/v1/events/{event['id']}").json()
            if not stored["pending"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert stored["pending"] is False
        assert stored["score"] > first["score"]
        assert stored["decision"] in ("review", "block")
        rules = {f["rule"] for f in stored["detail"]["findings"]}
        assert rules, stored
        queue = c.get("/v1/queue", params={"limit": 1000}).json()
    assert event["id"] in {item["id"] for item in queue}


def test_absurd_timestamps_are_refused(server: Server) -> None:
    """One far-future event would move the shared stream clock for every later event."""
    with server.client("registry") as c:
        for ts in ("8192-12-18T02:42:32Z", "1970-01-01T00:00:00Z"):
            event = {**account_event(server), "ts": ts}
            r = c.post("/v1/events", json=event)
            assert r.status_code == 422, ts
            assert "outside the accepted range" in r.json()["detail"]
            assert _stored(server, event["id"]) == 404
        # the stream still answers normally afterwards
        assert c.post("/v1/events", json=account_event(server)).status_code == 200


def test_nul_characters_are_refused(server: Server) -> None:
    event = account_event(server, "nul\u0000user")
    with server.client("registry") as c:
        r = c.post("/v1/events", json=event)
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
    with server.client("analyst") as c:
        assert c.get("/v1/events/a%00b").status_code == 400


def test_late_event_is_scored_and_keeps_its_time(server: Server) -> None:
    """Events from several clients arrive slightly out of order; none is refused for it."""
    newer = account_event(server)
    when = server.base - timedelta(days=1)  # older than the rest, inside the live window
    older = {**account_event(server), "ts": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    with server.client("registry") as c:
        assert c.post("/v1/events", json=newer).status_code == 200
        r = c.post("/v1/events", json=older)
    assert r.status_code == 200, r.text
    with server.client("analyst") as c:
        stored = c.get(f"/v1/events/{older['id']}").json()
    assert stored["ts"].startswith(when.strftime("%Y-%m-%dT%H:%M:%S"))

"""The registration breaker: manual pause/resume with reason and expiry, automatic trips
that lapse unless confirmed, registration status and the audit log."""

from __future__ import annotations

import time
from datetime import datetime

from svc_helpers import Server, wave


def _status(server: Server) -> dict:
    with server.client("registry") as c:
        r = c.get("/v1/registration-status")
    assert r.status_code == 200
    return r.json()


def _audit(server: Server) -> list[dict]:
    with server.client("analyst") as c:
        return c.get("/v1/breaker/audit").json()


def _wait_for(predicate, seconds: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def test_everything_open_at_start(fresh_server: Server) -> None:
    status = _status(fresh_server)
    assert set(status) == {"account.created", "project.created", "release.uploaded"}
    assert all(s["state"] == "open" and s["message"] for s in status.values())


def test_manual_pause_and_resume(fresh_server: Server) -> None:
    with fresh_server.client("moderator") as c:
        r = c.post("/v1/breaker/project.created/pause",
                   json={"reason": "spam wave from one provider", "expires_in_minutes": 90})
        assert r.status_code == 200, r.text
    status = _status(fresh_server)["project.created"]
    assert status["state"] == "paused" and status["kind"] == "manual"
    assert status["reason"] == "spam wave from one provider"
    since = datetime.fromisoformat(status["since"])
    expires = datetime.fromisoformat(status["expires_at"])
    assert 89 * 60 < (expires - since).total_seconds() <= 90 * 60 + 1
    assert "paused" in status["message"] and "spam wave" in status["message"]
    # the other scopes are untouched: uploads to existing projects keep working
    assert _status(fresh_server)["release.uploaded"]["state"] == "open"
    with fresh_server.client("moderator") as c:
        r = c.post("/v1/breaker/project.created/resume", json={"reason": "wave over"})
        assert r.status_code == 200
    assert _status(fresh_server)["project.created"]["state"] == "open"
    entries = _audit(fresh_server)
    actions = [(e["scope"], e["action"], e["reason"]) for e in entries[:2]]
    assert actions == [("project.created", "resume", "wave over"),
                       ("project.created", "pause", "spam wave from one provider")]
    assert all(e["actor"] == "moderator:test-moderator" for e in entries[:2])


def test_pause_needs_a_reason_and_a_sane_expiry(fresh_server: Server) -> None:
    with fresh_server.client("moderator") as c:
        assert c.post("/v1/breaker/project.created/pause", json={}).status_code == 422
        assert c.post("/v1/breaker/project.created/pause",
                      json={"reason": "   "}).status_code == 422
        assert c.post("/v1/breaker/project.created/pause",
                      json={"reason": "x", "expires_in_minutes": -5}).status_code == 422
        r = c.post("/v1/breaker/project.created/pause",
                   json={"reason": "x", "expires_in_minutes": 10**7})
        assert r.status_code == 422 and "at most" in r.json()["detail"]
        assert c.post("/v1/breaker/everything/pause", json={"reason": "x"}).status_code == 422
        assert c.post("/v1/breaker/project.created/pause",
                      json={"reason": "x", "colour": "red"}).status_code == 422
        r = c.post("/v1/breaker/project.created/confirm",
                   json={"reason": "nothing to confirm"})
        assert r.status_code == 409
    assert _status(fresh_server)["project.created"]["state"] == "open"
    assert _audit(fresh_server) == []


def test_manual_pause_expires_by_itself(fresh_server: Server) -> None:
    with fresh_server.client("moderator") as c:
        c.post("/v1/breaker/account.created/pause",
               json={"reason": "short test pause", "expires_in_minutes": 0.02})
    assert _status(fresh_server)["account.created"]["state"] == "paused"
    assert _wait_for(lambda: _status(fresh_server)["account.created"]["state"] == "open")
    assert _wait_for(lambda: _audit(fresh_server)[0]["action"] == "expire")
    assert _audit(fresh_server)[0]["actor"] == "system"


def test_wave_trips_the_breaker_and_the_trip_lapses(fresh_server: Server) -> None:
    """auto_trip_minutes is 0.04 here: an unconfirmed trip lapses after 2.4 s."""
    with fresh_server.client("registry") as c:
        answers = c.post("/v1/events", json=wave(fresh_server, 20, "tripa")).json()
    assert sum(a["decision"] != "allow" for a in answers) >= 15
    status = _status(fresh_server)
    paused = {k: v for k, v in status.items() if v["state"] == "paused"}
    assert "project.created" in paused
    assert paused["project.created"]["kind"] == "automatic"
    assert paused["project.created"]["confirmed"] is False
    assert "flagged" in paused["project.created"]["reason"]
    assert status["release.uploaded"]["state"] == "open"
    trips = [e for e in _audit(fresh_server) if e["action"] == "trip"]
    assert trips and trips[0]["actor"] == "detector"
    assert _wait_for(lambda: _status(fresh_server)["project.created"]["state"] == "open")


def test_confirmed_trip_stays(fresh_server: Server) -> None:
    with fresh_server.client("registry") as c:
        c.post("/v1/events", json=wave(fresh_server, 20, "tripb"))
    with fresh_server.client("moderator") as c:
        r = c.post("/v1/breaker/project.created/confirm",
                   json={"reason": "real campaign, keep it", "expires_in_minutes": 120})
        assert r.status_code == 200, r.text
    time.sleep(3)  # longer than the 2.4 s automatic lapse
    status = _status(fresh_server)["project.created"]
    assert status["state"] == "paused" and status["confirmed"] is True
    assert "keep it" in status["reason"]
    assert _audit(fresh_server)[0]["action"] == "confirm"

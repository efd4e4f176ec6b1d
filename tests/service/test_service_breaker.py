"""The registration breaker in the service: manual pause/resume with reason and expiry,
automatic trips that lapse unless confirmed, and re-arming: after a lapse or a resume, a
wave that goes on trips the breaker again (issue 12's blind spell). Real servers, SQLite
and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from svc_helpers import BAD_SETUP, SQUATS, Server, mixed_wave, project_event, run_service, wait_for

# An automatic trip lapses after 6 s here (the shipped policy: 30 min).
LAPSE_POLICY = "[breaker]\nauto_trip_minutes = 0.1\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def lapsing_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A server of its own whose automatic trips lapse after 6 s, warmed up (models
    loaded) so that a wave is scored well within that."""
    for server in run_service(request.param, tmp_path, LAPSE_POLICY):
        with server.client("registry") as c:
            warm = project_event(server, "warm-up-package", files={"setup.py": "setup()"})
            assert c.post("/v1/events", json=warm).status_code == 200
        yield server


def _status(server: Server) -> dict:
    with server.client("registry") as c:
        r = c.get("/v1/registration-status")
    assert r.status_code == 200
    return r.json()


def _audit(server: Server) -> list[dict]:
    with server.client("analyst") as c:
        return c.get("/v1/breaker/audit").json()


def _actions(server: Server, scope: str = "project.created") -> list[str]:
    """The breaker actions on `scope`, oldest first."""
    return [e["action"] for e in reversed(_audit(server)) if e["scope"] == scope]


def _send_wave(server: Server, prefix: str, size: int = 20) -> list[dict]:
    with server.client("registry") as c:
        r = c.post("/v1/events", json=mixed_wave(server, size, prefix))
    assert r.status_code == 200, r.text
    answers = r.json()
    assert sum(a["decision"] != "allow" for a in answers) >= 15
    return answers


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
    limit = fresh_server.settings.service.max_reason_chars
    with fresh_server.client("moderator") as c:
        assert c.post("/v1/breaker/project.created/pause", json={}).status_code == 422
        r = c.post("/v1/breaker/project.created/pause", json={"reason": "   "})
        assert r.status_code == 422 and "reason is required" in r.json()["detail"]
        assert c.post("/v1/breaker/project.created/pause",
                      json={"reason": "x", "expires_in_minutes": -5}).status_code == 422
        r = c.post("/v1/breaker/project.created/pause",
                   json={"reason": "x", "expires_in_minutes": 10**7})
        assert r.status_code == 422 and "at most" in r.json()["detail"]
        r = c.post("/v1/breaker/project.created/pause",
                   json={"reason": "y" * (limit + 1), "expires_in_minutes": 5})
        assert r.status_code == 422 and f"at most {limit} characters" in r.json()["detail"]
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
               json={"reason": "short test pause", "expires_in_minutes": 0.05})
    assert _status(fresh_server)["account.created"]["state"] == "paused"
    assert wait_for(lambda: _status(fresh_server)["account.created"]["state"] == "open")
    assert wait_for(lambda: _audit(fresh_server)[0]["action"] == "expire")
    assert _audit(fresh_server)[0]["actor"] == "system"


def test_wave_trips_the_breaker_and_the_trip_lapses(lapsing_server: Server) -> None:
    server = lapsing_server
    _send_wave(server, "tripa")
    status = _status(server)
    paused = {k: v for k, v in status.items() if v["state"] == "paused"}
    assert "project.created" in paused
    assert paused["project.created"]["kind"] == "automatic"
    assert paused["project.created"]["confirmed"] is False
    assert "flagged" in paused["project.created"]["reason"]
    assert status["release.uploaded"]["state"] == "open"
    trips = [e for e in _audit(server) if e["action"] == "trip"]
    assert trips and trips[0]["actor"] == "detector"
    assert wait_for(lambda: _status(server)["project.created"]["state"] == "open")
    assert wait_for(lambda: _actions(server)[-1:] == ["lapse"])


def test_lapse_then_continuing_wave_trips_again(lapsing_server: Server) -> None:
    """A lapse re-arms detection at once: the wave going on trips the breaker again."""
    server = lapsing_server
    _send_wave(server, "lapsea")
    assert _status(server)["project.created"]["state"] == "paused"
    assert wait_for(lambda: _actions(server) == ["trip", "lapse"])
    _send_wave(server, "lapseb")
    assert _status(server)["project.created"]["state"] == "paused"
    assert _actions(server) == ["trip", "lapse", "trip"]


def test_resume_then_continuing_wave_trips_again(fresh_server: Server) -> None:
    """Issue 12's repro: a trip, a moderator's resume, then many more flagged uploads
    must pause again (they used to leave registration open for hours)."""
    server = fresh_server
    _send_wave(server, "resa")
    assert _status(server)["project.created"]["state"] == "paused"
    with server.client("moderator") as c:
        r = c.post("/v1/breaker/project.created/resume", json={"reason": "looks handled"})
        assert r.status_code == 200, r.text
    assert _status(server)["project.created"]["state"] == "open"
    with server.client("registry") as c:
        uploads = [project_event(server, f"{SQUATS[i % len(SQUATS)]}-resa{i}",
                                 kind="release.uploaded",
                                 files={"setup.py": BAD_SETUP}) for i in range(40)]
        answers = c.post("/v1/events", json=uploads).json()
    assert sum(a["decision"] != "allow" for a in answers) >= 15
    _send_wave(server, "resb")
    status = _status(server)
    assert status["project.created"]["state"] == "paused"
    assert status["release.uploaded"]["state"] == "paused"
    assert _actions(server) == ["trip", "resume", "trip"]
    assert _actions(server, "release.uploaded") == ["trip"]


def test_confirmed_trip_stays(lapsing_server: Server) -> None:
    server = lapsing_server
    _send_wave(server, "tripb")
    with server.client("moderator") as c:
        r = c.post("/v1/breaker/project.created/confirm",
                   json={"reason": "real campaign, keep it", "expires_in_minutes": 120})
        assert r.status_code == 200, r.text
    time.sleep(7)  # longer than the 6 s automatic lapse
    status = _status(server)["project.created"]
    assert status["state"] == "paused" and status["confirmed"] is True
    assert "keep it" in status["reason"]
    assert _actions(server) == ["trip", "confirm"]

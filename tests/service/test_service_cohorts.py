"""Cohort pauses end to end through a real service process (SQLite and PostgreSQL): a
moderator's cohort pause and resume, an automatic trip that pauses only the cohort
holding the wave, its lapse, and `GET /v1/registration-status` answering per cohort."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from svc_helpers import (
    Server,
    cohort_wave,
    csrf_token,
    login_pages,
    project_event,
    run_service,
    wait_for,
)

LAPSE_POLICY = "[breaker]\nauto_trip_minutes = 0.1\n"  # automatic trips lapse after 6 s
TYPES = {"account.created", "project.created", "release.uploaded"}


@pytest.fixture(params=["sqlite", "postgresql"])
def lapsing_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    for server in run_service(request.param, tmp_path, LAPSE_POLICY):
        with server.client("registry") as c:
            warm = project_event(server, "warm-up-package", files={"setup.py": "setup()"})
            assert c.post("/v1/events", json=warm).status_code == 200
        yield server


def _status(server: Server, **params: str) -> dict:
    with server.client("registry") as c:
        r = c.get("/v1/registration-status", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _audit(server: Server) -> list[dict]:
    with server.client("analyst") as c:
        return list(reversed(c.get("/v1/breaker/audit").json()))


def test_manual_cohort_pause_refuses_only_that_cohort(fresh_server: Server) -> None:
    server = fresh_server
    with server.client("moderator") as c:
        r = c.post("/v1/breaker/account.created/pause",
                   json={"reason": "sign-up spam from one domain", "expires_in_minutes": 45,
                         "cohort": "email_domain:Spam-Domain.example"})
        assert r.status_code == 200, r.text
        key = "account.created|email_domain:spam-domain.example"
        acted = r.json()
        assert acted[key]["state"] == "paused" and acted[key]["kind"] == "manual"
        assert acted["account.created"]["state"] == "open"
        r = c.post("/v1/breaker/project.created/pause",
                   json={"reason": "squats from one range", "cohort": "ip_prefix:203.0.113.0/24"})
        assert r.status_code == 200, r.text
    # without parameters: the answer of old, every type open
    plain = _status(server)
    assert set(plain) == TYPES and all(v["state"] == "open" for v in plain.values())
    assert all("scope" not in v for v in plain.values())
    # per registration
    held = _status(server, email="someone@spam-domain.example")
    assert held["account.created"]["state"] == "paused"
    assert held["account.created"]["scope"] == key
    assert held["account.created"]["cohort"] == "email_domain:spam-domain.example"
    assert "sign-up spam" in held["account.created"]["reason"]
    assert "spam-domain.example" in held["account.created"]["message"]
    since = datetime.fromisoformat(held["account.created"]["since"])
    expires = datetime.fromisoformat(held["account.created"]["expires_at"])
    assert 44 * 60 < (expires - since).total_seconds() <= 45 * 60 + 1
    assert held["project.created"]["state"] == "open"
    assert _status(server, email="someone@other.example")["account.created"]["state"] == "open"
    by_ip = _status(server, ip="203.0.113.77", project="anything")
    assert by_ip["project.created"]["state"] == "paused"
    assert by_ip["project.created"]["scope"] == "project.created|ip_prefix:203.0.113.0/24"
    assert by_ip["account.created"]["state"] == "open"
    assert _status(server, ip="203.0.114.1")["project.created"]["state"] == "open"
    with server.client("moderator") as c:
        r = c.post("/v1/breaker/release.uploaded/pause",
                   json={"reason": "one account flooding", "cohort": "account:Flooder9"})
        assert r.status_code == 200, r.text
    flood = _status(server, username="flooder9")
    assert flood["release.uploaded"]["scope"] == "release.uploaded|account:flooder9"
    assert _status(server, username="someone")["release.uploaded"]["state"] == "open"
    with server.client() as c:
        assert wait_for(lambda: 'warden_breaker_cohorts_paused{scope="project.created"} 1.0'
                         in c.get("/metrics").text)
    with server.client("analyst") as c:
        listed = c.get("/v1/breaker/cohorts").json()
    assert {p["scope"] for p in listed} == {key, "project.created|ip_prefix:203.0.113.0/24",
                                            "release.uploaded|account:flooder9"}
    # resume, audit
    with server.client("moderator") as c:
        r = c.post("/v1/breaker/account.created/resume",
                   json={"reason": "handled", "cohort": "email_domain:spam-domain.example"})
        assert r.status_code == 200, r.text
        assert r.json()[key]["state"] == "open"
        r = c.post("/v1/breaker/account.created/confirm",
                   json={"reason": "x", "cohort": "email_domain:spam-domain.example"})
        assert r.status_code == 409
        bad = c.post("/v1/breaker/account.created/pause",
                     json={"reason": "x", "cohort": "colour:red"})
        assert bad.status_code == 422
    with server.client("registry") as c:
        forbidden = c.post("/v1/breaker/account.created/pause",
                           json={"reason": "x", "cohort": "email_domain:a.example"})
        assert forbidden.status_code == 403
        assert c.get("/v1/registration-status", params={"ip": "nope"}).status_code == 422
    assert _status(server, email="a@spam-domain.example")["account.created"]["state"] == "open"
    trail = [(e["scope"], e["action"], e["actor"]) for e in _audit(server)]
    assert [a for s, a, _ in trail if s == key] == ["pause", "resume"]


def test_automatic_trip_pauses_the_cohort_and_lapses(lapsing_server: Server) -> None:
    server = lapsing_server
    with server.client("registry") as c:
        events = cohort_wave(server, 20, "cw", "dropmail.example", "198.51.100")
        answers = c.post("/v1/events", json=events).json()
    assert sum(a["decision"] != "allow" for a in answers) >= 15
    trips = [e for e in _audit(server) if e["action"] == "trip"]
    assert trips and all("|" in e["scope"] for e in trips)  # no whole type paused
    assert all(v["state"] == "open" for v in _status(server).values())
    held = _status(server, email="new@dropmail.example", ip="198.51.100.200")
    paused = {t for t, v in held.items() if v["state"] == "paused"}
    assert "project.created" in paused
    scope = held["project.created"]["scope"]
    assert scope.startswith("project.created|")
    assert "paused that cohort only" in held["project.created"]["reason"]
    assert held["project.created"]["kind"] == "automatic"
    bystander = _status(server, email="new@elsewhere.example", ip="192.0.2.1",
                        project="ordinary-tool")
    assert all(v["state"] == "open" for v in bystander.values())
    # the unconfirmed automatic cohort pause lapses, like a whole type's
    assert wait_for(lambda: any(e["scope"] == scope and e["action"] == "lapse"
                                 for e in _audit(server)))
    again = _status(server, email="new@dropmail.example", ip="198.51.100.200")
    assert again["project.created"]["state"] == "open"


def test_pages_pause_and_resume_a_cohort_with_csrf(fresh_server: Server) -> None:
    server = fresh_server
    with httpx.Client(base_url=server.url, timeout=30, follow_redirects=False) as page:
        assert login_pages(page, server.tokens["moderator"]).status_code == 303
        form = {"cohort_kind": "email_domain", "cohort_value": "pages.example",
                "reason": "spam from one domain", "expires_in_minutes": "30"}
        refused = page.post("/ui/breaker/account.created/pause", data=form)
        assert refused.status_code == 403  # no CSRF token
        token = csrf_token(page, "/ui/breaker")
        done = page.post("/ui/breaker/account.created/pause",
                         data={**form, "csrf_token": token})
        assert done.status_code == 303, done.text
        html = page.get("/ui/breaker").text
        assert "email_domain:pages.example" in html and "spam from one domain" in html
        assert _status(server, email="x@pages.example")["account.created"]["state"] == "paused"
        done = page.post("/ui/breaker/account.created/resume",
                         data={"cohort": "email_domain:pages.example", "reason": "over",
                               "csrf_token": csrf_token(page, "/ui/breaker")})
        assert done.status_code == 303, done.text
    assert _status(server, email="x@pages.example")["account.created"]["state"] == "open"
    with httpx.Client(base_url=server.url, timeout=30, follow_redirects=False) as page:
        assert login_pages(page, server.tokens["analyst"]).status_code == 303
        denied = page.post("/ui/breaker/account.created/pause",
                           data={**form, "csrf_token": csrf_token(page, "/ui/breaker")})
        assert denied.status_code == 403
    scopes = [(e["scope"], e["action"]) for e in _audit(server)]
    assert scopes == [("account.created|email_domain:pages.example", "pause"),
                      ("account.created|email_domain:pages.example", "resume")]

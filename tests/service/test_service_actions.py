"""One action layer: the API and the pages pause, confirm, resume and record verdicts
through the same functions, so they write identical audit rows, count identical metrics
and refuse the same input with the same status. Real servers, SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import httpx
from sqlalchemy import select
from svc_helpers import BAD_SETUP, Server, login_pages, project_event, wave

from service.db import make_engine, session_factory
from service.models import Verdict

HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*>')


@contextmanager
def _pages(server: Server, role: str) -> Iterator[httpx.Client]:
    """A browser-like client logged in to the pages with `role`'s token."""
    with httpx.Client(base_url=server.url, timeout=30, follow_redirects=False) as client:
        r = login_pages(client, server.tokens[role])
        assert r.status_code == 303, r.text
        yield client


def _form(client: httpx.Client, page: str, action: str, data: dict) -> httpx.Response:
    """Post a form as the browser would from `page`, with the page's hidden fields."""
    html = client.get(page).text
    hidden = {}
    for tag in HIDDEN.findall(html):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and value:
            hidden[name.group(1)] = value.group(1)
    return client.post(action, data={**hidden, **data})


def _metrics(server: Server) -> dict[str, float]:
    with server.client() as c:
        text = c.get("/metrics").text
    out = {}
    for line in text.splitlines():
        if line.startswith(("warden_breaker_changes_total", "warden_verdicts_total")):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def _audit(server: Server, scope: str) -> list[tuple]:
    with server.client("analyst") as c:
        rows = [e for e in c.get("/v1/breaker/audit").json() if e["scope"] == scope]
    out = []
    for e in reversed(rows):
        lasts = None
        if e["expires_at"]:
            lasts = round((datetime.fromisoformat(e["expires_at"])
                           - datetime.fromisoformat(e["at"])).total_seconds() / 60)
        out.append((e["action"], e["actor"], e["reason"], e["previous_state"], lasts))
    return out


def _verdict_rows(server: Server, event_ids: list[str]) -> list[tuple]:
    engine = make_engine(server.database.url)
    try:
        with session_factory(engine)() as session:
            rows = session.scalars(select(Verdict).where(Verdict.event_id.in_(event_ids))
                                   .order_by(Verdict.id))
            return [(r.event_id, r.verdict, r.note, r.actor, r.campaign) for r in rows]
    finally:
        engine.dispose()


def test_pages_and_api_make_identical_breaker_changes(fresh_server: Server) -> None:
    server = fresh_server
    before = _metrics(server)
    with server.client("moderator") as c:
        for path, body in (("pause", {"reason": "same reason", "expires_in_minutes": 30}),
                           ("confirm", {"reason": "keep it", "expires_in_minutes": 45}),
                           ("resume", {"reason": "all done"})):
            assert c.post(f"/v1/breaker/account.created/{path}", json=body).status_code == 200
    by_api = _delta(before, _metrics(server))
    middle = _metrics(server)
    with _pages(server, "moderator") as page:
        for path, form in (("pause", {"reason": "same reason", "expires_in_minutes": "30"}),
                           ("confirm", {"reason": "keep it", "expires_in_minutes": "45"}),
                           ("resume", {"reason": "all done"})):
            r = _form(page, "/ui/breaker", f"/ui/breaker/release.uploaded/{path}", form)
            assert r.status_code == 303, r.text
    by_pages = _delta(middle, _metrics(server))
    assert by_api == by_pages and len(by_api) == 3
    api_rows = _audit(server, "account.created")
    assert api_rows == _audit(server, "release.uploaded")
    assert [row[0] for row in api_rows] == ["pause", "confirm", "resume"]
    assert api_rows[0] == ("pause", "moderator:test-moderator", "same reason", "open", 30)


def test_pages_and_api_refuse_the_same_input_alike(fresh_server: Server) -> None:
    server = fresh_server
    too_long = "x" * (server.settings.service.max_reason_chars + 1)
    with server.client("moderator") as c:
        api = c.post("/v1/breaker/project.created/pause",
                     json={"reason": too_long, "expires_in_minutes": 5})
    with _pages(server, "moderator") as page:
        form = _form(page, "/ui/breaker", "/ui/breaker/project.created/pause",
                     {"reason": too_long, "expires_in_minutes": "5"})
        blank = _form(page, "/ui/breaker", "/ui/breaker/project.created/resume",
                      {"reason": "   "})
    assert api.status_code == form.status_code == 422
    assert f"at most {server.settings.service.max_reason_chars} characters" in api.json()["detail"]
    assert f"at most {server.settings.service.max_reason_chars} characters" in form.text
    assert blank.status_code == 422 and "reason is required" in blank.text
    with server.client("analyst") as c:
        api = c.post("/v1/breaker/project.created/pause", json={"reason": "analyst"})
    with _pages(server, "analyst") as page:
        form = _form(page, "/ui/breaker", "/ui/breaker/project.created/pause",
                     {"reason": "analyst", "expires_in_minutes": "5"})
    assert api.status_code == form.status_code == 403
    assert "analyst" in api.json()["detail"] and "analyst" in form.text
    assert _audit(server, "project.created") == []


def test_pages_and_api_record_identical_verdicts(fresh_server_lasting: Server) -> None:
    # The wave below trips the breaker. On ``fresh_server`` that automatic pause lapses
    # 2.4 s later (plus up to one sweep), by the wall clock: on a loaded machine the lapse
    # fell inside one of the two measured windows and the deltas differed by it. Here
    # the pause lasts 30 min, so no breaker change can land in either window.
    server = fresh_server_lasting
    # two flagged events outside the wave's campaign (their own name and hook URL: the
    # wave's burst adopts every earlier event sharing its name target or its files)
    one, two = (project_event(server, f"verdictcheck{i}", files={
        "setup.py": BAD_SETUP.replace("payload.example", f"v{i}.example")})
                for i in range(2))
    with server.client("registry") as c:
        assert c.post("/v1/events", json=[one, two]).status_code == 200
        answers = c.post("/v1/events", json=wave(server, 16, "actw")).json()
    campaign = next(a["campaign"] for a in answers if a["campaign"])
    with server.client("analyst") as c:
        members = [i["id"] for i in c.get(f"/v1/campaigns/{campaign}").json()["items"]]
    pool = [m for m in members if m not in (one["id"], two["id"])]
    k = len(pool) // 2
    by_api_members, by_page_members = pool[:k], pool[k:2 * k]
    before = _metrics(server)
    with server.client("moderator") as c:
        r = c.post(f"/v1/queue/{one['id']}/verdict",
                   json={"verdict": "malicious", "note": "same note"})
        assert r.status_code == 200
        r = c.post(f"/v1/campaigns/{campaign}/verdict",
                   json={"verdict": "benign", "members": by_api_members})
        assert r.status_code == 200
        assert r.json()["events"] == k
    by_api = _delta(before, _metrics(server))
    middle = _metrics(server)
    with _pages(server, "moderator") as page:
        r = _form(page, f"/ui/items/{two['id']}", f"/ui/items/{two['id']}/verdict",
                  {"verdict": "malicious", "note": "same note"})
        assert r.status_code == 303, r.text
        r = _form(page, f"/ui/campaigns/{campaign}", f"/ui/campaigns/{campaign}/verdict",
                  {"verdict": "benign", "note": "", "member": by_page_members})
        assert r.status_code == 303, r.text
    by_pages = _delta(middle, _metrics(server))
    assert by_api == by_pages
    assert not any(k.startswith("warden_breaker") for k in by_api)  # verdicts pause nothing
    assert by_api[('warden_verdicts_total{verdict="benign"}')] == k
    (first,), (second,) = (_verdict_rows(server, [e["id"]]) for e in (one, two))
    assert first[1:] == second[1:] == ("malicious", "same note", "moderator:test-moderator",
                                       None)
    rows = _verdict_rows(server, pool[:2 * k])
    assert sorted(r[0] for r in rows) == sorted(pool[:2 * k])  # one row each
    assert {r[1:] for r in rows} == {("benign", "", "moderator:test-moderator", campaign)}

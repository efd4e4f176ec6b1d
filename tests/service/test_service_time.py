"""Time that can't be fooled, in the service: an event dated ahead of the server clock is
refused with a clear 422, stored nowhere, and moves no clock; an event older than the
live window is refused too. Real servers, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from svc_helpers import Server


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _stored(server: Server, event_id: str) -> int:
    with server.client("analyst") as c:
        return c.get(f"/v1/events/{event_id}").status_code


def test_a_future_event_is_refused_stored_nowhere_and_moves_no_clock(
        fresh_server: Server) -> None:
    """Issue 12: one event dated ahead moved the stream clock; a maintainer creating 10
    projects an hour apart was then blocked as "10 projects in 1 h"."""
    server = fresh_server
    now = datetime.now(UTC).replace(microsecond=0)
    skew = server.settings.policy.stream.max_future_skew_minutes
    with server.client("registry") as c:
        account = {"id": "maint-acct", "ts": _ts(now - timedelta(hours=11)),
                   "type": "account.created", "account": {"username": "maintainer"}}
        assert c.post("/v1/events", json=account).status_code == 200
        future = {"id": "from-the-future", "ts": _ts(now + timedelta(hours=1)),
                  "type": "account.created", "account": {"username": "time-traveller"}}
        r = c.post("/v1/events", json=future)
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert "outside the accepted range" in detail and "ahead of the server clock" in detail
        assert f"at most {skew:g} min ahead" in detail
        assert _stored(server, "from-the-future") == 404
        # one batch with a future event in it: all of it refused, none of it scored
        batch = [{"id": "batch-ok", "ts": _ts(now - timedelta(hours=10, minutes=30)),
                  "type": "account.created", "account": {"username": "someone"}},
                 {**future, "id": "batch-future"}]
        assert c.post("/v1/events", json=batch).status_code == 422
        assert _stored(server, "batch-ok") == 404
        decisions = []
        for i in range(10):
            project = {"id": f"maint-{i}", "ts": _ts(now - timedelta(hours=10 - i)),
                       "type": "project.created", "account": {"username": "maintainer"},
                       "project": {"name": f"maintainer-lib-{i}"}}
            r = c.post("/v1/events", json=project)
            assert r.status_code == 200, r.text
            decisions.append(r.json())
        # the refused batch's good event was never scored: it is not a duplicate now
        assert c.post("/v1/events", json=batch[:1]).status_code == 200
    assert not any("projects in 1 h" in reason for d in decisions for reason in d["reasons"])
    assert all(d["decision"] == "allow" for d in decisions), decisions


def test_an_event_older_than_the_live_window_is_refused(server: Server) -> None:
    stale = {"id": server.uid("stale"), "ts": _ts(datetime.now(UTC) - timedelta(days=8)),
             "type": "account.created", "account": {"username": server.uid("user")}}
    with server.client("registry") as c:
        r = c.post("/v1/events", json=stale)
    assert r.status_code == 422
    assert "older than the live window of 168 h" in r.json()["detail"]
    assert _stored(server, stale["id"]) == 404

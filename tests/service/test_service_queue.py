"""Triage queue: filters, ordering, verdicts, campaign view and verdict, labelled export."""

from __future__ import annotations

import json

import pytest
from svc_helpers import BAD_SETUP, Server, account_event, project_event, wave


@pytest.fixture(scope="module")
def seeded(server: Server) -> dict:
    """A few suspicious items plus one campaign wave, sent once per backend."""
    singles = [project_event(server, "reqeusts", files={"setup.py": BAD_SETUP}),
               project_event(server, "pandsa"),
               account_event(server, "jane.doe", email="jane@example.org")]
    events = wave(server, 18, "qwave")
    with server.client("registry") as c:
        answers = c.post("/v1/events", json=singles).json()
        answers += c.post("/v1/events", json=events[:30]).json()
        answers += c.post("/v1/events", json=events[30:]).json()
    campaigns = {a["campaign"] for a in answers if a["campaign"]}
    return {"answers": {a["id"]: a for a in answers}, "singles": singles,
            "campaigns": campaigns}


def _queue(server: Server, **params: object) -> list[dict]:
    with server.client("analyst") as c:
        r = c.get("/v1/queue", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_queue_is_sorted_and_holds_only_suspicious_items(server: Server, seeded: dict) -> None:
    items = _queue(server)
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    assert all(i["decision"] in ("review", "block") or i["pending"] for i in items)
    ids = {i["id"] for i in items}
    squat, _, benign = seeded["singles"]
    assert squat["id"] in ids
    assert benign["id"] not in ids


def test_filters(server: Server, seeded: dict) -> None:
    for item in _queue(server, decision="block"):
        assert item["decision"] == "block"
    squat_id = seeded["singles"][0]["id"]
    by_signal = _queue(server, signal="shell-download-exec")
    assert squat_id in {i["id"] for i in by_signal}
    assert all("shell-download-exec" in i["signals"] for i in by_signal)
    assert _queue(server, signal="no-such-signal") == []
    stamp = seeded["singles"][0]["ts"]
    later = _queue(server, since=stamp)
    assert squat_id in {i["id"] for i in later}
    assert squat_id not in {i["id"] for i in _queue(server, until="2000-01-01T00:00:00Z")}
    assert all(i["score"] >= 0.9 for i in _queue(server, min_score=0.9))
    with server.client("analyst") as c:
        assert c.get("/v1/queue", params={"decision": "maybe"}).status_code == 422
        assert c.get("/v1/queue", params={"since": "yesterday"}).status_code == 422
        assert c.get("/v1/queue", params={"limit": 0}).status_code == 422


def test_wave_forms_one_campaign(server: Server, seeded: dict) -> None:
    assert seeded["campaigns"], "the wave was not linked into a campaign"
    campaign = sorted(seeded["campaigns"])[0]
    members = _queue(server, campaign=campaign)
    assert len(members) >= 10
    assert all(i["campaign"] == campaign for i in members)


def test_verdict_takes_an_item_off_the_queue(server: Server, seeded: dict) -> None:
    squat_id = seeded["singles"][0]["id"]
    with server.client("moderator") as c:
        r = c.post(f"/v1/queue/{squat_id}/verdict",
                   json={"verdict": "malicious", "note": "downloads and runs a script"})
        assert r.status_code == 200, r.text
        assert r.json()["actor"] == "moderator:test-moderator"
        assert c.post("/v1/queue/nope/verdict", json={"verdict": "benign"}).status_code == 404
        assert c.post(f"/v1/queue/{squat_id}/verdict",
                      json={"verdict": "evil"}).status_code == 422
        assert c.post(f"/v1/queue/{squat_id}/verdict",
                      json={"verdict": "benign", "extra": 1}).status_code == 422
    assert squat_id not in {i["id"] for i in _queue(server)}
    decided = _queue(server, status="decided")
    assert {"id": squat_id, "verdict": "malicious"}.items() <= next(
        i for i in decided if i["id"] == squat_id).items()
    with server.client("analyst") as c:
        stored = c.get(f"/v1/events/{squat_id}").json()
    assert stored["verdict"] == "malicious"


def test_campaign_view_and_one_verdict_for_the_wave(server: Server, seeded: dict) -> None:
    campaign = sorted(seeded["campaigns"])[0]
    with server.client("analyst") as c:
        view = c.get(f"/v1/campaigns/{campaign}").json()
        assert c.get("/v1/campaigns/c-nothing").status_code == 404
    assert view["events"] >= 10 and len(view["accounts"]) >= 5
    assert view["first_ts"] <= view["last_ts"]
    with server.client("moderator") as c:
        r = c.post(f"/v1/campaigns/{campaign}/verdict",
                   json={"verdict": "malicious", "note": "one wave"})
        assert r.status_code == 200, r.text
        # members judged on their own (by earlier tests of this module) keep their verdict
        own = {k: n for k, n in view["verdicts"].items() if k in ("malicious", "benign")}
        assert r.json()["events"] == view["events"] - sum(own.values())
        after = c.get(f"/v1/campaigns/{campaign}").json()
    assert after["verdicts"] == {"malicious": view["events"] - own.get("benign", 0),
                                 **({"benign": own["benign"]} if own.get("benign") else {})}
    assert _queue(server, campaign=campaign) == []


def test_export_is_labelled_json_lines(server: Server, seeded: dict) -> None:
    squat_id = seeded["singles"][0]["id"]
    with server.client("moderator") as c:
        c.post(f"/v1/queue/{squat_id}/verdict", json={"verdict": "malicious"})
        r = c.get("/v1/verdicts/export")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in r.text.splitlines()]
    row = next(x for x in rows if x["id"] == squat_id)
    assert row["label"] == "malicious"
    assert row["event"]["project"]["name"] == "reqeusts"
    assert all(x["label"] in ("malicious", "benign", "needs-info") for x in rows)

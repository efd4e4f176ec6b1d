"""The triage workflow over the API, on real server processes (SQLite and PostgreSQL):
pages of the queue with totals, waves folded into one row, needs-info kept visible,
safe wave verdicts (exclusions, own verdicts kept, dry runs), undo, and the export's
verdict source."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from svc_helpers import Server, project_event, wave


@pytest.fixture
def waved(fresh_server: Server) -> dict[str, Any]:
    """A wave of 12 and four lone squats."""
    server = fresh_server
    with server.client("registry") as c:
        answers = c.post("/v1/events", json=wave(server, 12, "trw")).json()
        lone = [project_event(server, name) for name in ("reqeusts", "djnago", "nunpy",
                                                         "pandsa")]
        assert c.post("/v1/events", json=lone).status_code == 200
    campaign = next(a["campaign"] for a in answers if a["campaign"])
    with server.client("analyst") as c:
        members = [i["id"] for i in c.get(f"/v1/campaigns/{campaign}").json()["items"]]
    return {"server": server, "campaign": campaign, "members": members, "lone": lone}


def _all_pages(client: Any, path: str, **params: Any) -> tuple[int, list[dict]]:
    out, url, total = [], path, None
    query: dict[str, Any] | None = {**params}
    while url:
        r = client.get(url, params=query)
        assert r.status_code == 200, r.text
        total = int(r.headers["x-total-count"])
        out += r.json()
        url, query = r.links.get("next", {}).get("url"), None
    return total or 0, out


def test_queue_pages_carry_the_total_and_links(waved: dict) -> None:
    server = waved["server"]
    with server.client("moderator") as c:
        whole = c.get("/v1/queue", params={"limit": 1000})
        total, paged = _all_pages(c, "/v1/queue", limit=3)
        first = c.get("/v1/queue", params={"limit": 3})
    assert total == int(whole.headers["x-total-count"]) == len(whole.json()) > 6
    assert [i["id"] for i in paged] == [i["id"] for i in whole.json()]
    assert "prev" not in first.links and "next" in first.links
    with server.client("moderator") as c:
        by_time = c.get("/v1/queue", params={"limit": 1000, "sort": "time"}).json()
    stamps = [i["ts"] for i in by_time]
    assert stamps == sorted(stamps, reverse=True)


def test_a_wave_is_one_row_and_lone_items_their_own(waved: dict) -> None:
    server, campaign = waved["server"], waved["campaign"]
    with server.client("moderator") as c:
        total, groups = _all_pages(c, "/v1/queue/groups", limit=4)
        flat = c.get("/v1/queue", params={"limit": 1000}).json()
    waves = [g for g in groups if g["kind"] == "campaign"]
    sizes = Counter(i["campaign"] for i in flat if i["campaign"])
    assert [g["campaign"] for g in waves] == [c for c, n in sizes.items() if n > 1] == [campaign]
    in_wave = [i for i in flat if i["campaign"] == campaign]
    assert waves[0]["size"] == len(in_wave)
    assert sum(waves[0]["decisions"].values()) == len(in_wave)
    assert waves[0]["traits"]  # the cohorts its members share
    lone_ids = {g["item"]["id"] for g in groups if g["kind"] == "item"}
    # a campaign with one open member is shown as that item
    assert lone_ids == {i["id"] for i in flat if sizes[i["campaign"]] < 2}
    assert total == len(groups) == len(lone_ids) + 1


def test_needs_info_stays_open_with_its_own_filter(waved: dict) -> None:
    server = waved["server"]
    with server.client("moderator") as c:
        target = c.get("/v1/queue", params={"limit": 1}).json()[0]["id"]
        assert c.post(f"/v1/queue/{target}/verdict",
                      json={"verdict": "needs-info"}).status_code == 200
        still_open = [i["id"] for i in c.get("/v1/queue", params={"limit": 1000}).json()]
        waiting = c.get("/v1/queue", params={"status": "needs-info"}).json()
        decided = c.get("/v1/queue", params={"status": "decided"}).json()
    assert target in still_open
    assert [i["id"] for i in waiting] == [target]
    assert target not in {i["id"] for i in decided}


def test_wave_verdict_excludes_keeps_own_verdicts_and_undoes(waved: dict) -> None:
    server, campaign, members = waved["server"], waved["campaign"], waved["members"]
    own, left_out = members[0], members[1:3]
    with server.client("moderator") as c:
        assert c.post(f"/v1/queue/{own}/verdict", json={"verdict": "benign"}).status_code == 200
        preview = c.post(f"/v1/campaigns/{campaign}/verdict",
                         json={"verdict": "malicious", "exclude": left_out, "dry_run": True})
        assert preview.status_code == 200
        assert c.get(f"/v1/campaigns/{campaign}").json()["verdicts"].get("malicious") is None
        done = c.post(f"/v1/campaigns/{campaign}/verdict",
                      json={"verdict": "malicious", "exclude": left_out}).json()
        after = {i["id"]: i["verdict"] for i in c.get(f"/v1/campaigns/{campaign}").json()["items"]}
        export = [json.loads(line) for line in c.get("/v1/verdicts/export").text.splitlines()]
    expected = len(members) - 1 - len(left_out)
    assert preview.json()["events"] == done["events"] == expected
    assert preview.json()["kept"] == done["kept"] == {own: "benign"}
    assert sorted(done["excluded"]) == sorted(left_out)
    assert after[own] == "benign" and all(after[m] is None for m in left_out)
    assert sum(v == "malicious" for v in after.values()) == expected
    sources = {row["id"]: (row["verdict_source"], row["verdict_batch"]) for row in export}
    assert sources[own][0] == "single"
    assert {sources[m] for m in done["recorded"]} == {("wave", done["batch"])}

    again = members[3]  # judged again after the wave: an undo must leave it alone
    with server.client("moderator") as c:
        assert c.post(f"/v1/queue/{again}/verdict", json={"verdict": "benign"}).status_code == 200
        undo = c.post(f"/v1/verdicts/{done['batch']}/undo", json={"note": "too broad"})
        twice = c.post(f"/v1/verdicts/{done['batch']}/undo", json={})
        restored = {i["id"]: i["verdict"]
                    for i in c.get(f"/v1/campaigns/{campaign}").json()["items"]}
        export = [json.loads(line)["id"] for line in c.get("/v1/verdicts/export").text.splitlines()]
    assert undo.status_code == 200, undo.text
    assert undo.json()["restored"] == expected - 1 and undo.json()["superseded"] == [again]
    assert twice.status_code == 409
    assert restored[own] == restored[again] == "benign"
    assert sum(v is None for v in restored.values()) == len(members) - 2
    assert set(export) >= {own, again} and not set(export) & set(done["recorded"]) - {again}


def test_wave_verdict_refuses_strangers_and_empty_choices(waved: dict) -> None:
    server, campaign, members = waved["server"], waved["campaign"], waved["members"]
    lone = waved["lone"][0]["id"]
    with server.client("moderator") as c:
        stranger = c.post(f"/v1/campaigns/{campaign}/verdict",
                          json={"verdict": "malicious", "members": [members[0], lone]})
        empty = c.post(f"/v1/campaigns/{campaign}/verdict",
                       json={"verdict": "malicious", "members": []})
        unknown = c.post("/v1/verdicts/v-nothing/undo", json={})
        view = c.get(f"/v1/campaigns/{campaign}").json()
    assert stranger.status_code == 422 and lone in stranger.json()["detail"]
    assert empty.status_code == 422
    assert unknown.status_code == 404
    assert view["verdicts"] == {"none": len(members)}

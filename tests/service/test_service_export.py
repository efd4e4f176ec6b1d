"""`warden export` against a real server: decisions, the verdict trail and campaigns as
Parquet with fixed schemas, every page followed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pyarrow.parquet as pq
from svc_helpers import Server, wave

from warden.exports import SCHEMAS, fetch


def test_export_writes_parquet_with_the_trail(fresh_server: Server, tmp_path: Path) -> None:
    server = fresh_server
    with server.client("registry") as c:
        answers = c.post("/v1/events", json=wave(server, 12, "exw")).json()
    campaign = next(a["campaign"] for a in answers if a["campaign"])
    with server.client("moderator") as c:
        members = [i["id"] for i in c.get(f"/v1/campaigns/{campaign}").json()["items"]]
        c.post(f"/v1/queue/{members[0]}/verdict", json={"verdict": "benign"})
        batch = c.post(f"/v1/campaigns/{campaign}/verdict",
                       json={"verdict": "malicious"}).json()["batch"]
        c.post(f"/v1/verdicts/{batch}/undo", json={})
        c.post(f"/v1/campaigns/{campaign}/verdict", json={"verdict": "malicious"})
    token = tmp_path / "analyst.token"
    token.write_text(server.tokens["analyst"], encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "warden", "export", "decisions", "verdicts",
                          "campaigns", "--url", server.url, "--token-file", str(token),
                          "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    written = {row["kind"]: row for row in map(json.loads, run.stdout.splitlines())}
    assert set(written) == {"decisions", "verdicts", "campaigns"}
    for kind, schema in SCHEMAS.items():
        assert pq.read_schema(written[kind]["path"]).remove_metadata() == schema

    decisions = pd.read_parquet(written["decisions"]["path"])
    assert len(decisions) == len(answers) and set(decisions["id"]) == {a["id"] for a in answers}
    assert str(decisions["ts"].dt.tz) == "UTC"
    verdicts = pd.read_parquet(written["verdicts"]["path"])
    n = len(members)
    # one single verdict, a wave (n - 1: the benign one is kept), its undo, a wave again
    assert list(verdicts["source"].value_counts().sort_index().items()) == [
        ("single", 1), ("undo", n - 1), ("wave", 2 * (n - 1))]
    assert verdicts.loc[verdicts["source"] == "undo", "verdict"].isna().all()
    campaigns = pd.read_parquet(written["campaigns"]["path"])
    row = campaigns.set_index("campaign").loc[campaign]
    assert row["events"] == n and row["verdict_malicious"] == n - 1
    assert row["verdict_benign"] == 1

    with httpx.Client(base_url=server.url, timeout=60,
                      headers={"Authorization": f"Bearer {server.tokens['analyst']}"}) as c:
        paged = list(fetch(c, "decisions", None, page_size=5))
    assert [r["id"] for r in paged] == list(decisions["id"])

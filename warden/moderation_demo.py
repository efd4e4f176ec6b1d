"""A service with a day's work of moderation in it, for the moderation notebook and its
test: a simulated stream sent with `warden send`'s client, verdicts scripted from the
simulator's ground truth through the API, then `warden export`.

Scripted moderator: the largest campaign in the queue gets one wave verdict; every other
flagged item gets its own (malicious when the simulator says it belongs to a campaign,
else benign; every tenth benign one is marked needs-info first). Nothing here decides
anything: it only drives the real service."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx


def cold_start_policy(path: Path) -> Path:
    """Write a policy overlay that judges bursts at once (the shipped policy waits for days
    of history, which a demo or a bench does not have), as the tests do."""
    from detector.policy import load_policy

    cohorts = load_policy().stream.cohorts
    cold = [k for k in ("warmup_hours", "min_history_hours") if hasattr(cohorts, k)]
    path.write_text("[stream.cohorts]\n" + "".join(f"{k} = 0\n" for k in cold) if cold
                    else "")
    return path


def start_service(database_url: str, policy: str | None) -> tuple[str, Any, threading.Thread]:
    """A service in a thread of this process on a free port: (base URL, server, thread)."""
    import socket

    import uvicorn

    from detector.policy import load_policy
    from service.app import create_app
    from service.config import Settings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings.load(database_url, load_policy(policy))
    server = uvicorn.Server(uvicorn.Config(create_app(settings),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the demo service did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def _queue(client: httpx.Client) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    url: str | None = "/v1/queue"
    params: dict[str, int] | None = {"limit": 1000}
    while url:
        answer = client.get(url, params=params)
        answer.raise_for_status()
        rows += answer.json()
        url, params = answer.links.get("next", {}).get("url"), None
    return rows


def script_verdicts(url: str, moderator: str, truth: dict[str, str | None]) -> Counter[str]:
    """Work the open queue as the scripted moderator above; returns what was recorded."""
    done: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {moderator}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        items = _queue(client)
        waves = Counter(i["campaign"] for i in items if i["campaign"])
        if waves:
            biggest = waves.most_common(1)[0][0]
            answer = client.post(f"/v1/campaigns/{biggest}/verdict",
                                 json={"verdict": "malicious", "note": "scripted wave"})
            answer.raise_for_status()
            done["wave"] += answer.json()["events"]
        for n, item in enumerate(i for i in _queue(client) if i["verdict"] is None):
            bad = truth.get(item["id"]) is not None
            if not bad and n % 10 == 0:
                client.post(f"/v1/queue/{item['id']}/verdict",
                            json={"verdict": "needs-info"}).raise_for_status()
                done["needs-info"] += 1
            verdict = "malicious" if bad else "benign"
            client.post(f"/v1/queue/{item['id']}/verdict",
                        json={"verdict": verdict}).raise_for_status()
            done[verdict] += 1
    return done


def build(out_dir: Path, days: int = 5, seed: int = 3) -> dict[str, Any]:
    """Run the whole demo into ``out_dir`` (decisions, verdicts, campaigns .parquet)."""
    from detector.stream.simulate import SimConfig, simulate
    from service.db import make_engine, migrate, session_factory
    from service.tokens import create_token
    from warden.client import send
    from warden.exports import KINDS, export

    work = Path(tempfile.mkdtemp(prefix="warden-moderation-"))
    database_url = f"sqlite:///{work / 'warden.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    with session_factory(engine)() as session:
        tokens = {r: create_token(session, r, f"demo-{r}")
                  for r in ("registry", "moderator", "analyst")}
    engine.dispose()
    policy = cold_start_policy(work / "overlay.toml")
    start = (datetime.now(UTC) - timedelta(days=days, hours=1)).replace(minute=0, second=0,
                                                                       microsecond=0)
    events, labels = simulate(SimConfig(days=days, seed=seed, first_campaign_day=1,
                                        start=start.strftime("%Y-%m-%dT%H:%M:%SZ")))
    prefix = f"demo-{int(time.time())}-"
    for row in (*events, *labels):
        row["id"] = prefix + row["id"]
    truth = {label["id"]: label["campaign"] for label in labels}
    url, server, thread = start_service(database_url, str(policy))
    try:
        summary = send(list(enumerate(events, 1)), url, tokens["registry"], 250, 8)
        verdicts = script_verdicts(url, tokens["moderator"], truth)
        files = {kind: str(export(url, tokens["analyst"], kind, out_dir)[0]) for kind in KINDS}
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    return {"events": summary.sent, "decisions": dict(summary.decisions),
            "verdicts": dict(verdicts), "files": files}

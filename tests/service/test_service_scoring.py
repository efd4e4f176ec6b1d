"""The service's use of the detector: deferred code scans decide through the detector's
own decision function, and a rebuilt state takes the stored breaker and re-arms."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from svc_helpers import BAD_SETUP, Server, project_event, run_service

from detector.policy import load_policy
from detector.replay import whole_type
from detector.stream import StreamScorer
from detector.stream.events import format_ts
from service.scoring import Scorer

# Weights and thresholds far from the shipped ones: a deferred scan that used any other
# numbers than the detector's, from this policy, would decide differently.
ODD_POLICY = ("[stream]\nreview_threshold = 0.3\nblock_threshold = 0.97\ncode = 0.6\n"
              "code_min_score = 0.1\n")
WHOLE_TYPE = whole_type(None)
# Big enough not to count as an empty project, small enough to scan quickly.
FILES = {"setup.py": BAD_SETUP + "# " + "padding " * 60 + "\n"}


def _event(i: int, ts: float, files: bool = True, user: str | None = None) -> dict:
    project: dict = {"name": f"reqeusts-{i}"}
    if files:
        project["files"] = FILES
    return {"id": f"e{i}", "ts": format_ts(ts), "type": "project.created",
            "account": {"username": user or f"author{i}"}, "project": project}


@pytest.mark.parametrize("odd", [True, False])
def test_a_deferred_scan_decides_exactly_like_an_inline_scan(tmp_path: Path, odd: bool) -> None:
    policy = None
    if odd:
        path = tmp_path / "policy.toml"
        path.write_text(ODD_POLICY)
        policy = load_policy(path)
    now = time.time()
    event = _event(1, now - 60)
    inline = StreamScorer(policy).process(event)[0]
    scorer = Scorer(policy)
    first = scorer.process(_event(1, now - 60, files=False), now).decision
    merged = scorer.complete(first, FILES)
    assert merged["decision"] == inline["decision"]
    assert merged["score"] == pytest.approx(inline["score"], abs=1e-3)
    assert merged["reasons"] == inline["reasons"]
    assert [s["signal"] for s in merged["signals"]] == [s["signal"] for s in inline["signals"]]
    assert {f["rule"] for f in merged["findings"]} == {f["rule"] for f in inline["findings"]}
    # the policy matters: the shipped thresholds block this event, the odd ones review it
    assert inline["decision"] == ("review" if odd else "block")


def test_a_deferred_scan_of_clean_files_changes_nothing() -> None:
    now = time.time()
    scorer = Scorer()
    first = scorer.process(_event(2, now - 60, files=False), now).decision
    merged = scorer.complete(first, {"setup.py": "from setuptools import setup\nsetup()\n"})
    assert {k: merged[k] for k in ("score", "decision", "reasons", "signals")} == \
        {k: first[k] for k in ("score", "decision", "reasons", "signals")}


def test_rebuild_takes_the_stored_breaker_and_re_arms() -> None:
    """After a restart the replayed events trip the breaker again in memory, but the
    stored state (a moderator resumed since) is the truth: the detector must be open and
    counting afresh, not blind for hours. (Whole-type pauses here: the wave's squats of
    one target would otherwise pause only that cohort.)"""
    now = time.time()
    wave = [_event(i, now - 3000 + i) for i in range(20)]
    scorer = Scorer(WHOLE_TYPE)
    scorer.rebuild(wave, {}, now)
    assert scorer.breaker_state.scopes["project.created"].state == "paused"

    resumed = {"state": "open", "kind": None, "confirmed": False,
               "since": format_ts(now - 2000), "expires_at": None,
               "reason": "looked fine", "actor": "moderator:m"}
    scorer = Scorer(WHOLE_TYPE)
    assert scorer.rebuild(wave, {"project.created": resumed}, now) == 20
    assert scorer.breaker_state.scopes["project.created"].state == "open"
    lines = [t for i in range(20, 40)
             for t in scorer.process(_event(i, now - 1000 + i), now).breaker]
    assert [t["action"] for t in lines] == ["trip"]


@pytest.fixture(params=["sqlite", "postgresql"])
def odd_server(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    yield from run_service(request.param, tmp_path, ODD_POLICY, async_files_bytes=256)


def test_the_service_s_deferred_scan_matches_warden_score(odd_server: Server) -> None:
    """End to end: an event whose files are scanned after the answer ends with the
    decision `warden score` gives it with its files, under the same policy."""
    server = odd_server
    event = project_event(server, "reqeusts", files=FILES)
    with server.client("registry") as c:
        answer = c.post("/v1/events", json=event).json()
    assert answer.get("pending") is True
    deadline = time.monotonic() + 60
    with server.client("analyst") as c:
        while (stored := c.get(f"/v1/events/{event['id']}").json())["pending"]:
            assert time.monotonic() < deadline, "the deferred scan never finished"
            time.sleep(0.2)
    inline = StreamScorer(server.settings.policy).process(event)[0]
    assert stored["decision"] == inline["decision"] == "review"
    assert stored["score"] == pytest.approx(inline["score"], abs=1e-3)
    assert stored["reasons"] == inline["reasons"]

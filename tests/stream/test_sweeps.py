"""Sweeps in a stream (`warden score`, the service's scorer): names imitating one target
registered within the window raise the later ones; the memory is stream state."""

from __future__ import annotations

import json
import math
import zlib
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from score_cli import warden_score

from detector.names import check_names
from detector.policy import load_policy
from detector.stream import StreamScorer
from detector.stream.checkpoint import VERSION, decode, dump, encode, restore

CFG = load_policy().names
SQUAT = load_policy().stream.name_squat
SWEEP = ["pyperclipe", "pyperclp", "pypreclip", "pyperclpi", "pyperrclip"]
FAMILY = ["acme-core", "acme-cli", "acme-utils", "acme-api", "acme-sdk"]
UNRELATED = ["reqeusts", "nunpy", "djagno", "zqvtlamb", "hortenzia-qq"]
START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def event(i: int, name: str, hours: float, kind: str = "project.created") -> dict[str, Any]:
    ts = (START + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"id": f"s{i}", "ts": ts, "type": kind, "account": {"username": f"user{i}"},
            "project": {"name": name}}


def stream(names: list[str], step_hours: float = 1.0) -> list[dict[str, Any]]:
    """One project a step; with steps over an hour, unrelated accounts every half hour
    between (a stream's clock does not leap ahead on one event: ``StreamClock``)."""
    events = []
    for i, name in enumerate(names):
        hours = i * step_hours
        if i and step_hours > 1.0:
            ticks = int((step_hours - 0.01) / 0.5)
            events += [{"id": f"t{i}-{k}", "type": "account.created",
                        "ts": event(0, "", hours - step_hours + 0.5 * (k + 1))["ts"],
                        "account": {"username": f"tick{i}-{k}"}} for k in range(ticks)]
        events.append(event(i, name, hours))
    return events


def projects(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in decisions if d["id"].startswith("s")]


def logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def name_signal(decision: dict[str, Any]) -> dict[str, Any] | None:
    return next((s for s in decision["signals"] if s["signal"] == "name"), None)


def score_all(events: list[dict[str, Any]], scorer: StreamScorer | None = None
              ) -> list[dict[str, Any]]:
    scorer = scorer or StreamScorer()
    return [scorer.process(e)[0] for e in events]


ALONE = {r.name: r for r in check_names(SWEEP + FAMILY + UNRELATED)}


@pytest.mark.parametrize(("names", "sweep"), [
    (SWEEP, True), (FAMILY, False), (UNRELATED, False),
])
def test_later_members_of_a_sweep_score_higher(names: list[str], sweep: bool) -> None:
    decisions = score_all(stream(names))
    for i, (name, decision) in enumerate(zip(names, decisions, strict=True)):
        signal = name_signal(decision)
        alone = ALONE[name]
        if not sweep or i == 0:
            # As the name alone: no sweep reason, the individual score (when flagged).
            assert signal is None or "sweep:" not in signal["reason"]
            if alone.flagged:
                assert signal is not None and signal["score"] == round(SQUAT * alone.score, 4)
            continue
        assert signal is not None, name  # raised over the flag threshold, or already there
        assert signal["score"] > round(SQUAT * alone.score, 4)
        assert "sweep:" in signal["reason"] and "'pyperclip'" in signal["reason"]
        assert all(f"'{earlier}'" in signal["reason"] for earlier in names[:i][-CFG.sweep_listed:])
        assert not any(f"'{later}'" in signal["reason"] for later in names[i + 1:])
    if sweep:
        # On the log-odds of the name score, each later member gains more than the one before.
        gains = [logit(name_signal(d)["score"] / SQUAT) - logit(ALONE[n].score)  # type: ignore[index]
                 for n, d in zip(names[1:], decisions[1:], strict=True)]
        assert all(b > a for a, b in pairwise(gains))


def test_a_sweep_is_interleaved_with_other_names_and_accounts() -> None:
    names = [n for trio in zip(SWEEP, FAMILY, UNRELATED, strict=True) for n in trio]
    decisions = score_all(stream(names, 0.5))
    for name, decision in zip(names, decisions, strict=True):
        signal = name_signal(decision)
        swept = signal is not None and "sweep:" in signal["reason"]
        assert swept == (name in SWEEP[1:]), name


def test_siblings_beyond_the_window_are_forgotten() -> None:
    window = CFG.sweep_window_hours
    decisions = projects(score_all(stream(SWEEP[:3], window + 1)))
    assert len(decisions) == 3
    assert all(name_signal(d) is None or "sweep:" not in name_signal(d)["reason"]  # type: ignore[index]
               for d in decisions)
    scorer = StreamScorer()
    score_all(stream(SWEEP[:4], window + 1), scorer)
    assert sum(len(m) for m in scorer.sweeps.targets.values()) == 1  # only the newest held


def test_a_release_of_a_member_is_not_its_own_sibling() -> None:
    events = [event(0, SWEEP[0], 0), event(1, SWEEP[0], 1, "release.uploaded"),
              event(2, SWEEP[0], 2, "release.uploaded")]
    for decision in score_all(events):
        signal = name_signal(decision)
        assert signal is None or "sweep:" not in signal["reason"]


def test_releases_of_existing_projects_do_not_join_a_sweep_but_are_raised_by_one() -> None:
    events = [event(0, SWEEP[0], 0, "release.uploaded"), event(1, SWEEP[1], 1),
              event(2, SWEEP[2], 2), event(3, SWEEP[3], 3, "release.uploaded")]
    decisions = score_all(events)
    reasons = [(name_signal(d) or {"reason": ""})["reason"] for d in decisions]
    assert "sweep:" not in reasons[0] and "sweep:" not in reasons[1]  # the release joined none
    assert "sweep: 1 other name" in reasons[2] and f"'{SWEEP[1]}'" in reasons[2]
    assert "sweep: 2 other names" in reasons[3]  # raised by the two new projects


def test_the_sweep_memory_is_checkpointed() -> None:
    events = stream(SWEEP + FAMILY, 0.5)
    whole = score_all(events)
    scorer = StreamScorer()
    score_all(events[:3], scorer)
    restored = decode(encode(scorer))
    assert restored.sweeps.targets == scorer.sweeps.targets
    assert score_all(events[:3]) == whole[:3]
    assert score_all(events[3:], restored) == whole[3:]


def test_an_older_checkpoint_is_read_with_no_sweep_members() -> None:
    scorer = StreamScorer()
    score_all(stream(SWEEP[:2]), scorer)
    data = dump(scorer)
    assert data["version"] == VERSION and data["sweeps"][1]
    data["version"] = 2
    del data["sweeps"]
    old = restore(json.loads(json.dumps(data)))
    assert old.sweeps.targets == {}
    assert old.clock.now == scorer.clock.now
    assert json.loads(zlib.decompress(encode(old)))["version"] == VERSION


def test_warden_score_reports_the_sweep(tmp_path) -> None:
    events = stream(SWEEP + FAMILY, 0.25)
    decisions = warden_score(events, tmp_path)
    assert decisions == score_all(events)
    swept = [d["id"] for d in decisions if any("sweep:" in r for r in d["reasons"])]
    assert swept == [e["id"] for e in events[1:len(SWEEP)]]

"""Time that can't be fooled: an ancient event, a future event, the server clock, warm-up."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from detector.policy import load_policy
from detector.stream import StreamScorer, score_lines
from detector.stream.clock import StreamClock
from detector.stream.cohorts import DAY, HOUR, CohortTracker, ObservedTime
from detector.stream.events import EventError, format_ts, parse_ts
from detector.stream.simulate import SimConfig, simulate
from tests.stream.conftest import make_event

REPO = Path(__file__).resolve().parents[2]
T0 = parse_ts("2025-03-03T00:00:00Z")


def _warden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warden", *args], capture_output=True,
                          text=True, timeout=600, cwd=REPO, check=False)


def _flag_counts(stdout: str) -> tuple[Counter[str], int, list[dict]]:
    decisions: Counter[str] = Counter()
    breakers = 0
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    for out in lines:
        if "breaker" in out:
            breakers += 1
        elif "error" in out:
            decisions["error"] += 1
        else:
            decisions[out["decision"]] += 1
    return decisions, breakers, lines


def test_one_ancient_event_before_a_normal_stream_keeps_flags_at_the_normal_rate(
        tmp_path: Path) -> None:
    """Issue 12: one account event dated 9 months before a 3-day stream with no attacker
    used to satisfy the 72 h warm-up guard: 63% of the stream came back flagged, with a
    fake campaign and automatic pauses. `warden score` alone, as the issue reproduced it."""
    plain = tmp_path / "plain.jsonl"
    made = _warden("simulate", "--days", "3", "--seed", "0", "--out", str(plain))
    assert made.returncode == 0, made.stderr
    text = plain.read_text(encoding="utf-8")
    first = json.loads(text.splitlines()[0])
    ancient = {"id": "ancient", "ts": format_ts(parse_ts(first["ts"]) - 270 * DAY),
               "type": "account.created",
               "account": {"username": "oldtimer", "email": "oldtimer@example.org"}}
    poisoned = tmp_path / "poisoned.jsonl"
    poisoned.write_text(json.dumps(ancient) + "\n" + text, encoding="utf-8")
    campaigns = tmp_path / "campaigns.jsonl"

    base = _warden("score", str(plain), "--json")
    hit = _warden("score", str(poisoned), "--json", "--campaigns", str(campaigns))
    assert base.returncode == 0 and hit.returncode == 0, hit.stderr
    normal, normal_breakers, _ = _flag_counts(base.stdout)
    after, breakers, lines = _flag_counts(hit.stdout)
    events = sum(normal.values())
    assert events > 2000 and sum(after.values()) == events + 1
    flagged_normal = normal["review"] + normal["block"]
    flagged_after = after["review"] + after["block"]
    assert after["error"] == 0
    assert flagged_after <= flagged_normal + 2, (normal, after)
    assert flagged_after <= 0.01 * events
    assert breakers == normal_breakers == 0
    sizes = [json.loads(line)["size"] for line in campaigns.read_text().splitlines()]
    assert max(sizes, default=0) < 20
    # every decision says the baselines are still warming up (3 days < 72 h + 1 h)
    decisions = [out for out in lines if "decision" in out]
    assert all(any("baseline warming up" in r for r in d["reasons"]) for d in decisions)


def _maintainer_stream(future_after: int | None) -> list[dict]:
    """A new account creating ten projects one hour apart, with one event dated 23 h
    ahead slipped in after project number ``future_after``."""
    events = [make_event(0, format_ts(T0), username="maintainer")]
    for i in range(1, 11):
        events.append(make_event(i, format_ts(T0 + i * HOUR), kind="project.created",
                                 username="maintainer", project={"name": f"tool-part-{i}"}))
        if i == future_after:
            events.append(make_event(100, format_ts(T0 + 23 * HOUR + i * HOUR),
                                     username="time-traveller"))
    return events


def test_one_event_far_ahead_does_not_move_the_stream_clock_in_warden_score() -> None:
    """Issue 12: one event dated up to 24 h ahead moved the stream clock, and a maintainer
    creating 10 projects an hour apart was then blocked as "10 projects in 1 h"."""
    honest = [o for o in score_lines(json.dumps(e) for e in _maintainer_stream(None))
              if "decision" in o or "error" in o]
    mixed = [o for o in score_lines(json.dumps(e) for e in _maintainer_stream(1))
             if "decision" in o or "error" in o]
    assert not any("error" in o for o in mixed)
    by_id = {o["id"]: o for o in mixed}
    assert "e100" in by_id  # the far-ahead event itself is scored, at the stream's clock
    for o in honest:
        assert by_id[o["id"]]["decision"] == o["decision"]
        assert by_id[o["id"]]["score"] == o["score"]
        assert not any("projects in 1 h" in r for r in by_id[o["id"]]["reasons"])


def test_a_real_gap_moves_the_clock_once_the_next_event_confirms_it() -> None:
    scorer = StreamScorer()
    scorer.process(make_event(1, format_ts(T0)))
    scorer.process(make_event(2, format_ts(T0 + 3 * DAY)))
    assert scorer.last_event_ts == T0  # one event far ahead: scored at the stream's clock
    scorer.process(make_event(3, format_ts(T0 + 3 * DAY + 60)))
    assert scorer.last_event_ts == T0 + 3 * DAY + 60  # the next one agrees: time moved on
    with pytest.raises(EventError, match="earlier than an event already scored"):
        scorer.process(make_event(4, format_ts(T0 + HOUR)))


def test_stream_clock_forgets_an_outlier_that_the_next_event_does_not_confirm() -> None:
    clock = StreamClock(max_leap=HOUR)
    assert clock.place(T0) == T0
    assert clock.place(T0 + DAY) == T0  # outlier: placed at the clock, clock unmoved
    assert clock.place(T0 + 60) == T0 + 60 and clock.now == T0 + 60
    assert clock.place(T0 + 2 * DAY) == T0 + 60
    assert clock.place(T0 + 5 * DAY) == T0 + 60  # another outlier, not near the first
    assert clock.place(T0 + 5 * DAY + 10) == T0 + 5 * DAY + 10 and clock.now == T0 + 5 * DAY + 10


def test_with_a_server_clock_future_and_stale_events_are_refused_and_change_nothing() -> None:
    cfg = load_policy().stream
    scorer = StreamScorer()
    now = T0 + 10 * HOUR
    scorer.process(make_event(1, format_ts(now - HOUR)), now=now)
    ahead = cfg.max_future_skew_minutes * 60
    with pytest.raises(EventError, match="ahead of the server clock") as caught:
        scorer.process(make_event(2, format_ts(now + ahead + 60)), now=now)
    assert "outside the accepted range" in str(caught.value)
    assert scorer.clock.now == now - HOUR
    old = now - cfg.live_window_hours * HOUR - 60
    with pytest.raises(EventError, match="older than the live window"):
        scorer.process(make_event(3, format_ts(old)), now=now)
    # the refused ids were not remembered: the same ids with sane times are scored
    scorer.process(make_event(2, format_ts(now + ahead - 60)), now=now)
    assert scorer.clock.now == now + ahead - 60
    # a late event inside the window is scored at the newest time seen, as before
    scorer.process(make_event(3, format_ts(now - 2 * HOUR)), now=now)
    assert scorer.last_event_ts == now + ahead - 60


def test_observed_time_ignores_long_silences() -> None:
    decay = math.log(2) / (30 * DAY)
    observed = ObservedTime(max_quiet=6 * HOUR)
    for i in range(0, 5 * 24 * 6):  # every 10 minutes for 5 days
        observed.add(T0 + i * 600)
    cutoff = T0 + 4 * DAY
    closed = (1 - math.exp(-decay * (cutoff - T0))) / decay / DAY
    assert observed.decayed_days(cutoff, decay) == closed
    assert observed.before(cutoff) == 4 * DAY
    ancient = ObservedTime(max_quiet=6 * HOUR)
    ancient.add(T0 - 270 * DAY)
    for i in range(0, 5 * 24 * 6):
        ancient.add(T0 + i * 600)
    assert ancient.before(cutoff) == 4 * DAY
    assert ancient.decayed_days(cutoff, decay) == pytest.approx(closed)


def test_baselines_warm_up_from_events_spread_over_time_not_one_old_timestamp() -> None:
    cfg = load_policy().stream.cohorts
    steady, poisoned = CohortTracker(cfg), CohortTracker(cfg)
    poisoned.observe("a", {"a|x:old": "old"}, T0 - 270 * DAY, "old", "e-old", False)
    warmth: dict[float, tuple[float, float]] = {}
    for i in range(0, 4 * 24 * 6):  # an event every 10 minutes for 4 days
        ts = T0 + i * 600
        for tracker in (steady, poisoned):
            tracker.observe("a", {f"a|x:{i}": "x"}, ts, f"u{i}", f"e{i}", False)
        if i % 36 == 0:
            warmth[ts] = (steady.warmth(ts), poisoned.warmth(ts))
    for ts, (plain, hit) in warmth.items():
        assert hit == pytest.approx(plain, abs=0.02)  # the old timestamp buys nothing
        hours = (ts - T0) / HOUR
        if hours < cfg.min_history_hours:
            assert plain < 1.0
        elif hours > cfg.min_history_hours + 2:
            assert plain == 1.0


def test_a_burst_during_warm_up_is_damped_and_links_no_campaign() -> None:
    cfg = load_policy().stream.cohorts
    tracker = CohortTracker(cfg)
    t = T0
    for i in range(36 * 6):  # 36 hours of quiet background, one event every 10 minutes
        t = T0 + i * 600
        tracker.observe("a", {f"a|domain:d{i}.example": "d"}, t, f"u{i}", f"e{i}", False)
    verdicts = []
    for i in range(60):  # sixty sign-ups on one new domain within ten minutes
        verdicts += tracker.observe("a", {"a|domain:wave.example": "wave"}, t + i * 10,
                                    f"w{i}", f"w{i}", False)
    bursting = [v for v in verdicts if v.bursting]
    assert bursting and all(0 < v.warmth < 1 for v in bursting)
    assert all(v.surprise * v.warmth >= tracker.threshold for v in bursting)

    # A typosquat wave on day 1-2 of a stream: its bursts count as weak evidence (as a
    # broad cohort's do, scaled by warmth) and open no campaign; on their own they
    # flag no bystander.
    weight = load_policy().stream.broad_burst
    scorer = StreamScorer()
    events, labels = simulate(SimConfig(days=5, seed=3, campaigns=("typosquat-waves",),
                                        first_campaign_day=1.0, scale=0.5))
    damped = []
    for event, label in zip(events, labels, strict=True):
        decision = scorer.process(event)[0]
        bursts = [s for s in decision["signals"] if s["signal"] == "burst"]
        if any("warming up" in s["reason"] for s in bursts):
            damped.append((bursts, decision, label))
    assert len(damped) > 100
    linking = {"campaign-account", "campaign-tail"}
    for bursts, decision, _label in damped:
        warming = [s for s in bursts if "warming up" in s["reason"]]
        assert len(warming) == 1 and 0 < warming[0]["score"] <= weight
        others = {s["signal"] for s in decision["signals"]} - {"warming-up"}
        if others == {"burst"} and len(bursts) == 1:  # nothing but the damped burst
            assert decision["decision"] == "allow" and decision["campaign"] is None
        if len(bursts) == 1 and not others & linking:
            assert decision["campaign"] is None

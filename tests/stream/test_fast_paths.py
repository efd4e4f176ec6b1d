"""The scorer's shortcuts give exactly the answers of the plain computation.

The cohort tracker skips trims that would move nothing, keeps keys seen once as
tuples, prunes by walking keys in order of latest arrival, and counts the hours
of each seasonal slot incrementally; full garbage collections are paced while
streams are scored. None of it may change a decision.
"""

from __future__ import annotations

import gc
import json
import math
import random
from typing import Any

import pytest

from detector.policy import CohortsPolicy, load_policy
from detector.stream import StreamScorer, score_lines
from detector.stream.cohorts import (
    DAY,
    HOUR,
    CohortTracker,
    KeyState,
    KeyVerdict,
    SeasonalProfile,
    _slot_hours,
)
from detector.stream.simulate import SimConfig, simulate

Observation = tuple[str, dict[str, str], float, str, str, bool]


class PlainTracker(CohortTracker):
    """The tracker without its shortcuts: every key kept in full, trimmed at every
    arrival, and every key visited when pruning."""

    def __init__(self, cfg: CohortsPolicy) -> None:
        super().__init__(cfg)
        self._compact = False

    def _trim(self, state: KeyState, now: float) -> None:
        super()._trim(state, now)
        state.trim_at = -math.inf

    def _prune(self, now: float) -> None:
        self._ordered = False
        super()._prune(now)


@pytest.fixture(scope="module")
def long_stream() -> list[dict[str, Any]]:
    """Twelve days, longer than the 7-day window, so keys leave it and are pruned."""
    events, _ = simulate(SimConfig(days=12, seed=11, scale=0.3, first_campaign_day=4.0,
                                   campaigns=("typosquat-waves", "account-flood")))
    return events


def _observations(events: list[dict[str, Any]]) -> list[Observation]:
    """The tracker's inputs for a stream, recorded from a real scorer."""
    scorer = StreamScorer()
    recorded: list[Observation] = []
    observe = scorer.tracker.observe

    def record(scope: str, keys: dict[str, str], ts: float, account: str, event_id: str,
               distinct: bool) -> list[KeyVerdict]:
        recorded.append((scope, dict(keys), ts, account, event_id, distinct))
        return observe(scope, keys, ts, account, event_id, distinct)

    scorer.tracker.observe = record  # type: ignore[method-assign]
    for event in events:
        scorer.process(event)
    return recorded


def _verdict(v: KeyVerdict) -> tuple[Any, ...]:
    return (v.key, v.count, v.window, v.expected, v.surprise, v.bursting, v.expected_day)


def _full(tracker: CohortTracker, key: str) -> KeyState:
    state = tracker.keys[key]
    return tracker._expand(state) if isinstance(state, tuple) else state


def test_tracker_shortcuts_keep_states_and_verdicts_exact(long_stream) -> None:
    observations = _observations(long_stream)
    assert observations[-1][2] - observations[0][2] > 10 * DAY
    cfg = load_policy().stream.cohorts
    fast, plain = CohortTracker(cfg), PlainTracker(cfg)
    campaigns = 0
    for scope, keys, ts, account, event_id, distinct in observations:
        got = fast.observe(scope, keys, ts, account, event_id, distinct)
        want = plain.observe(scope, keys, ts, account, event_id, distinct)
        assert [_verdict(v) for v in got] == [_verdict(v) for v in want]
        for a, b in zip(got, want, strict=True):  # as the scorer does when a key bursts
            if a.bursting and a.state.campaign is None:
                campaigns += 1
                a.state.campaign = b.state.campaign = campaigns
    assert campaigns > 0
    assert set(fast.keys) == set(plain.keys)
    singles = sum(isinstance(state, tuple) for state in fast.keys.values())
    assert 0 < singles < len(fast.keys)
    for key, reference in plain.keys.items():
        state = _full(fast, key)
        fast._trim(state, observations[-1][2])
        plain._trim(reference, observations[-1][2])  # type: ignore[arg-type]
        assert reference.matured == state.matured  # the same floats, not just close
        assert reference.times[reference.starts[-1]:] == state.times[state.starts[-1]:]


def test_pruning_drops_keys_that_left_the_window(long_stream) -> None:
    observations = _observations(long_stream)
    tracker = CohortTracker(load_policy().stream.cohorts)
    arrivals: dict[str, list[float]] = {}
    for scope, keys, ts, account, event_id, distinct in observations:
        tracker.observe(scope, keys, ts, account, event_id, distinct)
        for key in keys:
            arrivals.setdefault(key, []).append(ts)
    cutoff = tracker._last_prune - tracker.long_window
    assert tracker._last_prune > observations[0][2] + 9 * DAY
    # Keys seen once, before the last prune's window: a negligible history, all gone.
    stale = [key for key, times in arrivals.items() if len(times) == 1 and times[0] < cutoff]
    assert len(stale) > 500
    assert not any(key in tracker.keys for key in stale)
    # Account keys (every sign-up counts, none is skipped as a repeat) with an arrival
    # inside the window are all kept.
    recent = [key for key, times in arrivals.items()
              if key.startswith("a|") and times[-1] >= cutoff]
    assert recent
    assert all(key in tracker.keys for key in recent)


def test_scoring_with_and_without_the_shortcuts_gives_the_same_lines(long_stream) -> None:
    fast, plain = StreamScorer(), StreamScorer()
    plain.tracker = PlainTracker(plain.cfg.cohorts)
    lines = [json.dumps(e) for e in long_stream]
    got = list(score_lines(lines, scorer=fast))
    want = [out for event in long_stream for out in plain.process(event)]
    assert got == want
    assert fast.campaigns() == plain.campaigns()


def _brute_slot_hours(first: int, hour: int, period: int, width: int) -> list[int]:
    counts = [0] * period
    for h in range(first, hour + 1):
        counts[(h // width) % period] += 1
    return counts


@pytest.mark.parametrize(("period", "width"), [(24, 1), (7, 24), (5, 3)])
def test_slot_hours_counts_every_hour_once(period: int, width: int) -> None:
    rng = random.Random(period * 100 + width)
    for _ in range(300):
        first = rng.randint(-500, 500_000)
        hour = first + rng.choice([0, 1, 23, 24, 167, 168, rng.randint(0, 3000)])
        assert _slot_hours(first, hour, period, width) == _brute_slot_hours(
            first, hour, period, width)


def test_seasonal_hours_advanced_incrementally_match_the_closed_form() -> None:
    rng = random.Random(4)
    profile = SeasonalProfile(shrink=3.0)
    ts = 1_736_121_600.0 + 7 * HOUR
    for _ in range(2000):
        ts += rng.choice([30.0, 600.0, HOUR, 5 * HOUR, 3 * DAY])
        profile.add(ts)
        hour = int(ts // HOUR)
        first = profile.first_hour
        assert first is not None
        daily, weekly = profile._seen(first, hour)
        assert daily == _slot_hours(first, hour, 24, 1)
        assert weekly == _slot_hours(first, hour, 7, 24)
        assert profile.factor(ts, HOUR) > 0


def test_score_lines_gives_back_the_collector_thresholds(long_stream) -> None:
    outer = gc.get_threshold()  # whatever earlier tests (an in-process service) left
    before = (700, 10, 10)
    gc.set_threshold(*before)
    try:
        lines = [json.dumps(e) for e in long_stream[:3000]]
        outputs = score_lines(lines, batch=500)
        next(outputs)
        assert gc.get_threshold()[2] > before[2]  # full collections paced while scoring
        outputs.close()  # abandoned half way
        assert gc.get_threshold() == before
        assert sum(1 for _ in score_lines(lines, batch=500)) >= len(lines)
        assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*outer)


def _policy(tmp_path: Any, mode: str) -> str:
    path = tmp_path / f"{mode}.toml"
    path.write_text(f'[stream]\nscan_code = "{mode}"\n', encoding="utf-8")
    return str(path)


def test_stats_count_name_checks_and_code_scans(long_stream, tmp_path) -> None:
    pytest.importorskip("detector.code")
    lines = [json.dumps(e) for e in long_stream[:1500]]
    uploads = {json.dumps(e["project"]["files"], sort_keys=True) for e in long_stream[:1500]
               if e.get("project", {}).get("files")}
    stats = {}
    for mode in ("all", "none"):
        scorer = StreamScorer(load_policy(_policy(tmp_path, mode)))
        list(score_lines(lines, scorer=scorer, parallel=False))
        stats[mode] = scorer.stats()
    assert stats["all"]["code_scans"] == len(uploads) > 0
    assert stats["all"]["code_scan_cpu_seconds"] > 0
    assert stats["none"]["code_scans"] == 0
    assert stats["none"]["code_scan_cpu_seconds"] == 0
    assert stats["none"]["name_checks"] == stats["all"]["name_checks"] > 0


def test_breaker_advance_one_equals_advance() -> None:
    from detector.breaker import Breaker, BreakerState, Observation

    rng = random.Random(9)
    breaker = Breaker()
    one, many = BreakerState(), BreakerState()
    ts = 1_736_121_600.0
    transitions = 0
    for i in range(6000):
        wave = (i // 700) % 2 == 1  # quiet and busy stretches, so scopes pause and reopen
        ts += rng.choice([5.0, 20.0]) if wave else rng.choice([30.0, 120.0, 900.0])
        scope = rng.choice(["account.created", "project.created", "release.uploaded"])
        flagged = rng.random() < (0.6 if wave else 0.02)
        campaign = rng.choice([None, "c-1", "c-2"])
        got = breaker.advance_one(one, scope, ts, flagged, campaign, ts)
        want = breaker.advance(many, [Observation(scope, ts, flagged, campaign)], ts)
        assert got == want
        transitions += len(got)
    assert one.to_dict() == many.to_dict()
    assert transitions >= 6
    with pytest.raises(ValueError, match="unknown breaker scope"):
        breaker.advance_one(one, "x", ts, True, None, ts)


def test_forgetting_settled_accounts_changes_no_decision() -> None:
    """Accounts with nothing against them, created over 30 days ago (or before the
    stream) and without an event in 7 days are dropped; scoring is the same as
    keeping every account."""
    events, _ = simulate(SimConfig(days=38, seed=5, scale=0.3, first_campaign_day=4.0,
                                   campaigns=("typosquat-waves", "account-flood")))
    pruned, kept = StreamScorer(), StreamScorer()
    pruned.prune_accounts_every = 3 * DAY
    kept._prune_accounts = lambda now: None  # type: ignore[method-assign]
    for event in events:
        assert pruned.process(event) == kept.process(event)
    assert pruned.campaigns() == kept.campaigns()
    dropped = {name: account for name, account in kept.accounts.items()
               if name not in pruned.accounts}
    assert sum(a.created is None for a in dropped.values()) > 1000  # from before the stream
    assert sum(a.created is not None for a in dropped.values()) > 100  # signed up in it
    assert all(a.score == 0.0 and a.campaign is None for a in dropped.values())

"""The breaker policy: trips, hysteresis, expiry, manual pauses, serialisation, purity."""

from __future__ import annotations

import copy

import pytest

from detector.breaker import (
    Breaker,
    BreakerPolicy,
    BreakerState,
    Observation,
    TripRule,
)
from detector.stream.events import parse_ts

MIN = 60.0
POLICY = BreakerPolicy(trip_rules=(TripRule(60, 10), TripRule(360, 25)),
                       reset_window_minutes=60, reset_flagged=2, min_pause_minutes=120,
                       expire_hours=12)
T0 = 1_700_000_000.0


def _flag(breaker: Breaker, state: BreakerState, n: int, start: float, spacing: float,
          scope: str = "project.created", campaign: str | None = "c-1") -> list[dict]:
    out = []
    for i in range(n):
        at = start + i * spacing
        out += breaker.advance(state, [Observation(scope, at, True, campaign)], at)
    return out


def test_trips_exactly_at_the_threshold_with_a_readable_reason() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    assert _flag(breaker, state, 9, T0, MIN) == []
    (line,) = _flag(breaker, state, 1, T0 + 9 * MIN, MIN)
    assert line["scope"] == "project.created" and line["state"] == "paused"
    assert line["reason"].startswith("10 flagged new projects in 60 min (threshold 10)")
    assert "campaign c-1" in line["reason"]
    assert state.scopes["project.created"].state == "paused"
    assert state.scopes["account.created"].state == "open"


def test_unflagged_registrations_never_trip() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    for i in range(500):
        at = T0 + i
        assert breaker.advance(state, [Observation("account.created", at, False)], at) == []


def test_slow_trickle_trips_the_long_window_rule() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    lines = _flag(breaker, state, 25, T0, 12 * MIN)  # 5 an hour for 5 hours
    assert len(lines) == 1 and "in 360 min (threshold 25)" in lines[0]["reason"]


def test_hysteresis_holds_the_pause_until_quiet_and_min_pause_elapsed() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    _flag(breaker, state, 10, T0, MIN)
    tripped = T0 + 9 * MIN
    # Still busy two hours later: stays paused although the trip count is no longer met.
    _flag(breaker, state, 5, tripped + 100 * MIN, 5 * MIN)
    assert state.scopes["project.created"].state == "paused"
    # Quiet, but the minimum pause has elapsed only now: it reopens with a reason.
    at = tripped + 200 * MIN
    (line,) = breaker.advance(state, [], at)
    assert line["state"] == "open" and line["reason"].startswith("quiet again")


def test_no_reset_before_the_minimum_pause_even_when_quiet() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    _flag(breaker, state, 10, T0, 1)
    assert breaker.advance(state, [], T0 + 100 * MIN) == []
    assert breaker.advance(state, [], T0 + 121 * MIN)[0]["state"] == "open"


def test_pause_expires_even_while_busy_and_counting_restarts() -> None:
    policy = BreakerPolicy(trip_rules=(TripRule(60, 10),), reset_flagged=0,
                           min_pause_minutes=60, expire_hours=2)
    breaker, state = Breaker(policy), BreakerState()
    _flag(breaker, state, 10, T0, 1)
    lines = _flag(breaker, state, 45, T0 + 10, 4 * MIN)  # keeps flagging for 3 hours
    assert [line["state"] for line in lines] == ["open", "paused"]
    assert lines[0]["reason"].startswith("pause expired after 2 h")
    # After expiry only new flagged registrations count: the re-trip needs ten fresh ones.
    reopened, retripped = parse_ts(lines[0]["at"]), parse_ts(lines[1]["at"])
    assert retripped - reopened == pytest.approx(9 * 4 * MIN, abs=4 * MIN)
    assert lines[1]["reason"].startswith("10 flagged")


def test_manual_pause_is_not_ended_by_quiet_traffic_only_by_resume_or_expiry() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    line = breaker.pause(state, "account.created", "wave of sign-ups", T0, expires_in_minutes=600)
    assert line["state"] == "paused" and line["reason"] == "wave of sign-ups"
    assert breaker.advance(state, [], T0 + 300 * MIN) == []
    assert breaker.resume(state, "account.created", "handled", T0 + 301 * MIN)["state"] == "open"
    breaker.pause(state, "account.created", "again", T0 + 302 * MIN, expires_in_minutes=10)
    (line,) = breaker.advance(state, [], T0 + 313 * MIN)
    assert line["state"] == "open" and "expired" in line["reason"]


def test_state_round_trips_through_a_dict() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    _flag(breaker, state, 10, T0, MIN)
    data = state.to_dict()
    restored = BreakerState.from_dict(copy.deepcopy(data))
    assert restored.to_dict() == data
    # The restored state behaves like the original.
    later = T0 + 400 * MIN
    assert breaker.advance(restored, [], later) == breaker.advance(state, [], later)


def test_step_is_pure() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    before = state.to_dict()
    obs = [Observation("release.uploaded", T0 + i, True) for i in range(10)]
    new_state, lines = breaker.step(state, obs, T0 + 10)
    assert state.to_dict() == before
    assert lines[0]["scope"] == "release.uploaded"
    assert new_state.scopes["release.uploaded"].state == "paused"
    again, lines_again = breaker.step(state, obs, T0 + 10)
    assert lines_again == lines and again.to_dict() == new_state.to_dict()


@pytest.mark.parametrize("bad", [{"state": "half-open"}, {"bogus.scope": {}}])
def test_bad_serialised_state_is_rejected(bad: dict) -> None:
    data = bad if "bogus.scope" in bad else {"account.created": bad}
    with pytest.raises(ValueError):
        BreakerState.from_dict(data)


def test_unknown_scope_in_an_observation_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown breaker scope"):
        Breaker(POLICY).advance(BreakerState(), [Observation("x", T0, True)], T0)


def test_policy_file_overrides_the_shipped_table(tmp_path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[breaker]\ntrip_rules = [{window_minutes = 30, flagged = 3}]\n"
                    "expire_hours = 5\n")
    policy = BreakerPolicy.from_policy(str(path))
    assert policy.trip_rules == (TripRule(30, 3),) and policy.expire_hours == 5
    shipped = BreakerPolicy.from_policy()
    assert shipped.trip_rules != policy.trip_rules
    assert policy.min_pause_minutes == shipped.min_pause_minutes


def test_policy_with_no_trip_rules_is_an_error(tmp_path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[breaker]\ntrip_rules = []\n")
    with pytest.raises(ValueError, match="trip_rules"):
        BreakerPolicy.from_policy(str(path))

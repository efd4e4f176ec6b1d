"""The one breaker model: trips, lapse unless confirmed, confirmation, hysteresis, manual
pauses, resume, re-arming, adoption of a persisted state, serialisation, purity."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from detector.breaker import (
    Breaker,
    BreakerError,
    BreakerState,
    Observation,
)
from detector.policy import BreakerPolicy, PolicyError, TripRule, load_policy
from detector.stream.events import parse_ts

MIN = 60.0
POLICY = BreakerPolicy(trip_rules=(TripRule(window_minutes=60, flagged=10),
                                   TripRule(window_minutes=360, flagged=25)),
                       auto_trip_minutes=30, reset_window_minutes=60, reset_flagged=2,
                       min_pause_minutes=120, manual_pause_default_minutes=60,
                       manual_pause_max_minutes=600, cohort_kinds=(),
                       cohort_min_share=0.9, cohort_max_bystander_share=0.5)
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
    assert line["action"] == "trip" and line["kind"] == "automatic"
    assert line["confirmed"] is False and line["actor"] == "detector"
    assert line["reason"].startswith("10 flagged new projects in 60 min (threshold 10)")
    assert "campaign c-1" in line["reason"]
    assert parse_ts(line["expires_at"]) - parse_ts(line["at"]) == 30 * MIN
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


def test_unconfirmed_trip_lapses_and_a_continuing_wave_trips_again_within_the_window(
) -> None:
    """The blind spell of issue 12: after a lapse the breaker counts afresh at once."""
    breaker, state = Breaker(POLICY), BreakerState()
    lines = _flag(breaker, state, 100, T0, 2 * MIN)  # 30 an hour for 200 minutes
    actions = [(line["action"], line["state"]) for line in lines]
    assert actions[:3] == [("trip", "paused"), ("lapse", "open"), ("trip", "paused")]
    trip, lapse, retrip = (parse_ts(line["at"]) for line in lines[:3])
    assert lapse - trip == pytest.approx(30 * MIN, abs=2 * MIN)
    assert lines[1]["reason"].startswith("automatic pause lapsed unconfirmed")
    # ten fresh flagged registrations at 30 an hour: 18 minutes, inside the 60-minute rule
    assert retrip - lapse == pytest.approx(18 * MIN, abs=2 * MIN)
    assert retrip - lapse <= 60 * MIN


def test_resume_then_continuing_wave_trips_again() -> None:
    """15 flagged trip it, a moderator resumes, 100 more flagged must trip it again."""
    breaker, state = Breaker(POLICY), BreakerState()
    _flag(breaker, state, 15, T0, 10)
    assert state.scopes["project.created"].state == "paused"
    line = breaker.resume(state, "project.created", "looked fine", T0 + 200, "moderator:m")
    assert line["action"] == "resume" and line["state"] == "open"
    assert line["actor"] == "moderator:m" and line["previous"] == "paused"
    # the 15 before the resume no longer count: the 10th after it trips
    lines = _flag(breaker, state, 100, T0 + 201, 10)
    assert lines and lines[0]["action"] == "trip"
    assert parse_ts(lines[0]["at"]) == T0 + 201 + 9 * 10


def test_confirmed_trip_neither_lapses_nor_resets_and_expires_at_its_new_expiry() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    _flag(breaker, state, 10, T0, 1)
    line = breaker.confirm(state, "project.created", "real wave", T0 + 60, minutes=240,
                           actor="moderator:m")
    assert line["action"] == "confirm" and line["confirmed"] is True
    assert "confirmed: real wave" in line["reason"]
    assert breaker.tick(state, T0 + 200 * MIN) == []  # quiet for hours: still paused
    (line,) = breaker.tick(state, T0 + 60 + 240 * MIN)
    assert line["action"] == "expire" and line["state"] == "open"


def test_hysteresis_ends_an_unconfirmed_trip_early_only_when_quiet() -> None:
    policy = dataclasses.replace(
        POLICY, trip_rules=(TripRule(window_minutes=60, flagged=10),), auto_trip_minutes=300,
        min_pause_minutes=120, reset_window_minutes=60, reset_flagged=2)
    breaker, state = Breaker(policy), BreakerState()
    _flag(breaker, state, 10, T0, MIN)
    tripped = T0 + 9 * MIN
    # still busy two hours later: stays paused although the trip count is no longer met
    _flag(breaker, state, 5, tripped + 100 * MIN, 5 * MIN)
    assert state.scopes["project.created"].state == "paused"
    assert breaker.tick(state, tripped + 119 * MIN) == []  # before min_pause_minutes
    (line,) = breaker.tick(state, tripped + 200 * MIN)
    assert line["action"] == "reset" and line["reason"].startswith("quiet again")


def test_manual_pause_ends_only_by_resume_or_expiry_within_the_policy_limits() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    line = breaker.pause(state, "account.created", "wave of sign-ups", T0, 500, "moderator:m")
    assert line["state"] == "paused" and line["kind"] == "manual"
    assert line["reason"] == "wave of sign-ups" and line["action"] == "pause"
    assert breaker.tick(state, T0 + 300 * MIN) == []
    assert breaker.resume(state, "account.created", "handled", T0 + 301 * MIN)["state"] == "open"
    line = breaker.pause(state, "account.created", "again", T0 + 302 * MIN)  # the default
    assert parse_ts(line["expires_at"]) - parse_ts(line["at"]) == 60 * MIN
    (line,) = breaker.tick(state, T0 + 363 * MIN)
    assert line["action"] == "expire" and "expired" in line["reason"]
    with pytest.raises(BreakerError, match="at most 600"):
        breaker.pause(state, "account.created", "too long", T0, 601)
    with pytest.raises(BreakerError, match="positive"):
        breaker.pause(state, "account.created", "negative", T0, -1)
    with pytest.raises(BreakerError, match="nothing to confirm"):
        breaker.confirm(state, "account.created", "open scope", T0 + 400 * MIN)


def test_adopting_a_resume_decided_elsewhere_re_arms_here() -> None:
    """Another replica resumed: this one must count afresh too, not stay blind."""
    mine, theirs = BreakerState(), BreakerState()
    breaker = Breaker(POLICY)
    _flag(breaker, mine, 10, T0, 10)
    _flag(breaker, theirs, 10, T0, 10)
    breaker.resume(theirs, "project.created", "false alarm", T0 + 120, "moderator:m")
    control = theirs.scopes["project.created"].control()
    assert breaker.adopt(mine, "project.created", control) is True
    assert breaker.adopt(mine, "project.created", control) is False  # nothing new
    assert mine.scopes["project.created"].state == "open"
    assert len(mine.scopes["project.created"].flagged) == 10  # its observations stay
    lines = _flag(breaker, mine, 10, T0 + 130, 10)
    assert [line["action"] for line in lines] == ["trip"]


def test_state_round_trips_through_json() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    _flag(breaker, state, 10, T0, MIN)
    breaker.pause(state, "account.created", "manual", T0 + 5, 30, "moderator:m")
    data = json.loads(json.dumps(state.to_dict()))
    restored = BreakerState.from_dict(copy.deepcopy(data))
    assert restored.to_dict() == data
    later = T0 + 400 * MIN
    assert breaker.tick(restored, later) == breaker.tick(state, later)


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


@pytest.mark.parametrize("bad", [{"state": "half-open"}, {"state": "paused", "kind": "x"},
                                 {"bogus.scope": {}}])
def test_bad_serialised_state_is_rejected(bad: dict) -> None:
    data = bad if "bogus.scope" in bad else {"account.created": bad}
    with pytest.raises(ValueError):
        BreakerState.from_dict(data)


def test_unknown_scope_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown breaker scope"):
        Breaker(POLICY).advance(BreakerState(), [Observation("x", T0, True)], T0)
    with pytest.raises(BreakerError, match="unknown breaker scope"):
        Breaker(POLICY).pause(BreakerState(), "everything", "x", T0)


def test_policy_file_overrides_the_shipped_table(tmp_path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[breaker]\ntrip_rules = [{window_minutes = 30, flagged = 3}]\n"
                    "auto_trip_minutes = 5\n")
    policy = load_policy(path).breaker
    assert policy.trip_rules == (TripRule(window_minutes=30, flagged=3),)
    assert policy.auto_trip_minutes == 5
    shipped = load_policy().breaker
    assert shipped.trip_rules != policy.trip_rules
    assert policy.min_pause_minutes == shipped.min_pause_minutes


@pytest.mark.parametrize(("table", "key", "advice"), [
    ("service", "auto_trip_minutes", "[breaker] auto_trip_minutes"),
    ("service", "manual_pause_max_minutes", "[breaker] manual_pause_max_minutes"),
    ("breaker", "expire_hours", "manual_pause_max_minutes"),
])
def test_moved_policy_keys_are_refused_with_their_new_place(tmp_path, table: str, key: str,
                                                            advice: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(f"[{table}]\n{key} = 5\n")
    with pytest.raises(PolicyError, match=r"no longer read") as caught:
        load_policy(path)
    assert advice in str(caught.value)


@pytest.mark.parametrize("text", ["[breaker]\ntrip_rules = []\n",
                                  "[breaker]\nauto_trip_minutes = 0\n",
                                  "[breaker]\nmanual_pause_default_minutes = 20000\n"])
def test_bad_breaker_policy_is_an_error(tmp_path, text: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=r"policy key breaker"):
        load_policy(path)

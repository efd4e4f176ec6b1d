"""Cohort scopes of the one breaker: the narrowest scope holding a wave, per campaign
shape, and cohort pauses with the same lapse, expiry, confirmation, resume and reasons as
a whole event type's."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from detector.breaker import Breaker, BreakerError, BreakerState, Observation
from detector.breaker_scope import CohortError, choose, matches, parse_cohort, split_scope
from detector.policy import BreakerPolicy, TripRule, load_policy
from detector.stream.scope import event_cohorts, name_templates

MIN = 60.0
T0 = 1_700_000_000.0
SHIPPED = load_policy().breaker
POLICY = dataclasses.replace(SHIPPED, trip_rules=(TripRule(window_minutes=60, flagged=20),),
                             auto_trip_minutes=30, min_pause_minutes=120,
                             manual_pause_default_minutes=60, manual_pause_max_minutes=600)
_WORDS = ("data", "flow", "graph", "parse", "json", "tool", "kit", "core", "http", "api",
          "cache", "queue", "task", "image", "text", "model", "cloud", "vault", "sync")


def _benign(rng: random.Random, i: int, scope: str) -> Observation:
    domain = rng.choice(["gmail.com", "gmail.com", "outlook.com", "yahoo.com",
                         f"corp{rng.randint(1, 400)}.com"])
    ip = f"{rng.randint(11, 190)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.7"
    name = f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}{i}"
    return Observation(scope, 0.0, False, None,
                       event_cohorts(domain, ip, name, None, f"user{rng.randrange(10**6)}"))


def _attack(shape: str, rng: random.Random, i: int) -> tuple[str, str, str]:
    """(e-mail domain, IP, project name) of one attacker registration of a shape."""
    ip = f"{rng.randint(11, 190)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.9"
    name = f"{rng.choice(_WORDS)}{rng.choice(_WORDS)}{i}"
    domain = rng.choice(["gmail.com", "outlook.com", "yahoo.com", "proton.me", "qq.com"])
    if shape == "one-domain":
        domain = "quickmail-drop.net"
    elif shape == "subdomain-rotation":
        domain = f"m{i}.rotating-relay.org"
    elif shape == "template":
        name = f"{rng.choice(_WORDS)}{i}-telemetry-hook"
    elif shape == "ip-range":
        ip = f"203.0.113.{rng.randint(1, 254)}"
    elif shape == "gmail-wave":
        domain = "gmail.com"
    elif shape == "odd-domain":  # one domain no scope can be named by: not chosen
        domain = "bad|domain.example"
    return domain, ip, name


def _run(shape: str, scope: str = "account.created", benign_per_attack: int = 3,
         seed: int = 7) -> tuple[Breaker, BreakerState, list[dict]]:
    rng = random.Random(seed)
    breaker, state = Breaker(POLICY), BreakerState()
    out: list[dict] = []
    at = T0
    for i in range(30):
        for j in range(benign_per_attack):
            at += 20
            obs = dataclasses.replace(_benign(rng, i * 10 + j, scope), ts=at)
            out += breaker.advance(state, [obs], at)
        at += 20
        domain, ip, name = _attack(shape, rng, i)
        user = "flooder" if shape == "one-account" else f"bot{i}"
        obs = Observation(scope, at, True, "c-1", event_cohorts(domain, ip, name, None, user))
        out += breaker.advance(state, [obs], at)
    return breaker, state, out


@pytest.mark.parametrize(("shape", "scope", "paused"), [
    ("one-domain", "account.created", "account.created|email_domain:quickmail-drop.net"),
    ("subdomain-rotation", "account.created",
     "account.created|registrable_domain:rotating-relay.org"),
    ("template", "project.created", "project.created|template:*-telemetry-hook"),
    ("ip-range", "account.created", "account.created|ip_prefix:203.0.113.0/24"),
    ("one-account", "project.created", "project.created|account:flooder"),
    ("odd-domain", "account.created", "account.created"),
    ("mixed", "account.created", "account.created"),
    ("gmail-wave", "account.created", "account.created"),
])
def test_an_automatic_trip_pauses_the_narrowest_scope_that_holds_the_wave(
        shape: str, scope: str, paused: str) -> None:
    breaker, state, out = _run(shape, scope)
    trips = [t for t in out if t["action"] == "trip"]
    assert [t["scope"] for t in trips] == [paused]
    assert trips[0]["expires_at"] is not None and trips[0]["kind"] == "automatic"
    assert "20 flagged" in trips[0]["reason"] and "campaign c-1" in trips[0]["reason"]
    if paused != scope:
        assert "paused that cohort only" in trips[0]["reason"]
        assert state.scopes[scope].state == "open"
        # the wave's later registrations are refused by the cohort, the crowd is not
        domain, ip, name = _attack(shape, random.Random(99), 99)
        user = "flooder" if shape == "one-account" else "bot99"
        assert breaker.holds(state, scope, event_cohorts(domain, ip, name, None, user)) \
            == paused
        benign = _benign(random.Random(5), 1, scope)
        assert breaker.holds(state, scope, benign.cohorts) is None
    else:
        assert state.scopes[scope].state == "paused"


def test_a_large_provider_is_chosen_only_when_the_wave_is_nearly_all_of_its_traffic() -> None:
    wave = [("provider:google", "email_domain:gmail.com")] * 20
    kinds = ("email_domain", "provider")
    assert choose(wave, lambda c: 200, kinds, 0.9, 0.5) is None
    chosen = choose(wave, lambda c: 24, kinds, 0.9, 0.5)
    assert chosen is not None and chosen.bystanders == 4
    assert chosen.cohort == "email_domain:gmail.com"  # tie on bystanders: the narrower kind


def test_with_no_cohort_kinds_every_trip_pauses_the_whole_type() -> None:
    global POLICY
    saved = POLICY
    POLICY = dataclasses.replace(saved, cohort_kinds=())
    try:
        _, _state, out = _run("one-domain")
    finally:
        POLICY = saved
    assert [t["scope"] for t in out if t["action"] == "trip"] == ["account.created"]


def test_a_wave_leaving_its_cohort_trips_the_whole_type() -> None:
    breaker, state, _out = _run("one-domain")
    at = state.clock or T0
    rng = random.Random(3)
    trips = []
    for i in range(25):  # the same campaign moves to mixed providers
        at += 30
        domain, ip, name = _attack("mixed", rng, 100 + i)
        obs = Observation("account.created", at, True, "c-1", event_cohorts(domain, ip, name))
        trips += [t for t in breaker.advance(state, [obs], at) if t["action"] == "trip"]
    assert [t["scope"] for t in trips] == ["account.created"]


def test_a_cohort_pause_lapses_unconfirmed_and_a_confirmed_one_expires() -> None:
    breaker, state, _out = _run("one-domain")
    key = "account.created|email_domain:quickmail-drop.net"
    start = state.clock or T0
    done = breaker.tick(state, start + 31 * MIN)
    assert [(t["scope"], t["action"]) for t in done] == [(key, "lapse")]
    assert key not in state.scopes  # an open cohort is not held
    breaker2, state2, _ = _run("one-domain")
    confirmed = breaker2.confirm(state2, key, "seen it", start + 5 * MIN, 90, "mod")
    assert confirmed["confirmed"] and "confirmed: seen it" in confirmed["reason"]
    assert breaker2.tick(state2, start + 60 * MIN) == []
    done = breaker2.tick(state2, start + 96 * MIN)
    assert [(t["scope"], t["action"]) for t in done] == [(key, "expire")]


def test_manual_cohort_pause_and_resume() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    key = "account.created|ip_prefix:198.51.100.0/22"
    line = breaker.pause(state, key, "abuse report", T0, 45, "mod")
    assert line["scope"] == key and line["kind"] == "manual" and line["action"] == "pause"
    inside = event_cohorts("x.org", "198.51.102.17", None)
    assert breaker.holds(state, "account.created", inside) == key
    assert breaker.holds(state, "project.created", inside) is None
    assert breaker.holds(state, "account.created", event_cohorts("x.org", "198.51.104.1")) \
        is None
    template = "project.created|template:acme-*"
    breaker.pause(state, template, "sprint spam", T0, 45, "mod")
    assert breaker.holds(state, "project.created", event_cohorts(None, None, "ACME_Tools")) \
        == template
    back = breaker.resume(state, key, "fixed", T0 + 60, "mod")
    assert back["state"] == "open" and back["previous"] == "paused"
    assert breaker.holds(state, "account.created", inside) is None
    with pytest.raises(BreakerError, match="not paused"):
        breaker.confirm(state, key, "x", T0 + 90)
    with pytest.raises(BreakerError):
        breaker.pause(state, "account.created|colour:red", "x", T0)
    with pytest.raises(BreakerError):
        breaker.pause(state, "account.created|email_domain:UPPER.com", "x", T0)


def test_cohort_state_round_trips_through_json_and_reads_the_older_form() -> None:
    _breaker, state, _ = _run("ip-range")
    text = json.dumps(state.to_dict())
    again = BreakerState.from_dict(json.loads(text))
    assert again.to_dict() == state.to_dict()
    assert "account.created|ip_prefix:203.0.113.0/24" in again.scopes
    old = state.to_dict()
    for value in old["scopes"].values():
        value["flagged"] = [item[:2] for item in value["flagged"]]
    del old["traffic"]
    restored = BreakerState.from_dict(old)
    assert all(item[2] == () for s in restored.scopes.values() for item in s.flagged)


def test_cohort_names_are_checked_and_normalized() -> None:
    assert parse_cohort("ip_prefix: 10.1.2.3/24") == "ip_prefix:10.1.2.0/24"
    assert parse_cohort("template:ACME_*") == "template:acme-*"
    assert parse_cohort("email_domain:Uni.EDU") == "email_domain:uni.edu"
    for bad in ("colour:red", "ip_prefix:nope", "template:*", "email_domain:", "nokind"):
        with pytest.raises(CohortError):
            parse_cohort(bad)
    assert split_scope("release.uploaded") == ("release.uploaded", None)
    with pytest.raises(CohortError):
        split_scope("account.deleted|email_domain:x.com")
    assert name_templates("alice-first-package") == (
        "alice-*", "*-package", "alice-first-*", "*-first-package")
    cohorts = event_cohorts("a7.mail.example.co.uk", "2001:db8:1:2::5", "Acme.Thing")
    assert "registrable_domain:example.co.uk" in cohorts
    assert "ip_prefix:2001:db8:1::/48" in cohorts
    assert matches("ip_prefix:2001:db8::/32", cohorts)
    assert matches("template:acme-*", cohorts) and not matches("template:*-other", cohorts)
    assert "provider:google" in event_cohorts("googlemail.com")


def test_shipped_policy_enables_cohort_scopes() -> None:
    assert isinstance(SHIPPED, BreakerPolicy) and SHIPPED.cohort_kinds
    assert 0 < SHIPPED.cohort_min_share <= 1


def test_adopting_cohort_scopes_stored_by_another_process() -> None:
    breaker, state = Breaker(POLICY), BreakerState()
    key = "account.created|email_domain:adopted.example"
    other = BreakerState()
    stored = Breaker(POLICY).pause(other, key, "elsewhere", T0, 30, "mod")
    control = other.scopes[key].control()
    assert stored["state"] == "paused"
    assert breaker.adopt(state, key, control) is True
    assert breaker.holds(state, "account.created", ("email_domain:adopted.example",)) == key
    assert breaker.adopt(state, key, control) is False  # nothing new
    # an open cohort never paused here: nothing to hold
    quiet = "account.created|email_domain:never.example"
    assert breaker.adopt(state, quiet, {"state": "open", "since": None}) is False
    assert quiet not in state.scopes
    # resumed elsewhere: open here too, then forgotten
    Breaker(POLICY).resume(other, key, "over", T0 + 60, "mod")
    assert breaker.adopt(state, key, other.scopes[key].control()) is True
    assert breaker.holds(state, "account.created", ("email_domain:adopted.example",)) is None
    breaker.tick(state, T0 + 61)
    assert key not in state.scopes

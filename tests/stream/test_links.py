"""Campaign links (issue 16), table-driven: what links, how strongly, how a link decays,
and how a benign verdict clears it. Small hand-made streams on a cold scorer (bursts are
judged without days of history, as in the service tests)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from detector.policy import load_policy
from detector.stream import StreamScorer
from detector.stream.checkpoint import decode, encode
from detector.stream.events import format_ts, parse_ts

START = parse_ts("2025-03-03T09:00:00Z")
DAY = 86400.0
_ids = itertools.count()
# People's names: no username template shared by the crowd.
_NAMES = ("alice", "bob", "carol", "dmitri", "evangeline", "fu", "gretchen", "hu", "ines",
          "jorge", "kalinda", "lu")


@pytest.fixture(scope="module")
def cold_policy(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("links") / "policy.toml"
    path.write_text("[stream.cohorts]\nmin_history_hours = 0\n")
    return load_policy(path)


def _send(scorer: StreamScorer, at: float, kind: str, user: str, **body: Any
          ) -> dict[str, Any]:
    event: dict[str, Any] = {"id": f"x{next(_ids)}", "ts": format_ts(at), "type": kind,
                             "account": {"username": user, **body.pop("account", {})}}
    event.update(body)
    return scorer.process(event, now=at)[0]


def _wave(scorer: StreamScorer, tag: str, size: int = 12, domain: str = "inbox.ru",
          ip: str | None = None, at: float = START) -> list[str]:
    """History 3 h back, then ``size`` sign-ups sharing ``domain`` (and the /24 of ``ip``)
    within two minutes. Returns the usernames."""
    _send(scorer, at - 3 * 3600, "account.created", f"first{tag}")
    users = [f"{name}{tag}" for name in _NAMES[:size]]
    for i, user in enumerate(users):
        account: dict[str, Any] = {"email": f"{user}@{domain}"}
        if ip:
            account["ip"] = f"{ip}.{10 + i}"
        _send(scorer, at + i * 10, "account.created", user, account=account)
    return users


def _project(scorer: StreamScorer, at: float, user: str, name: str) -> dict[str, Any]:
    return _send(scorer, at, "project.created", user, project={"name": name})


def _membership(out: dict[str, Any]) -> float:
    return max((s["score"] for s in out["signals"] if s["signal"] == "campaign-account"),
               default=0.0)


@pytest.mark.parametrize(("domain", "ip", "linked_as", "reviewed"), [
    # one mail provider's domain: anyone can open many mailboxes there: the wave's trait
    ("inbox.ru", None, "wave", True),
    # an organisation's own domain and network (a class, an onboarding): a weak link
    ("cs.example-university.edu", "198.51.100", "site", False),
    ("tinysystems.example", "198.51.100", "site", False),
])
def test_what_a_sign_up_wave_links_through(cold_policy: Any, domain: str, ip: str | None,
                                           linked_as: str, reviewed: bool) -> None:
    """A wave on a mail provider's domain links fully: a member's next project is reviewed
    for its membership alone. A crowd on an organisation's own domain and network links
    weakly (``site_link``): the membership shows, below review."""
    scorer = StreamScorer(cold_policy)
    users = _wave(scorer, "w", domain=domain, ip=ip)
    cfg = scorer.cfg
    state = scorer.accounts[users[0]]
    assert state.campaign is not None
    assert state.link_site is (linked_as == "site")
    out = _project(scorer, START + 600, users[0], "wtool")
    expected = cfg.campaign_member * (cfg.site_link if linked_as == "site" else 1.0)
    assert _membership(out) == pytest.approx(expected, abs=0.01)
    assert (out["decision"] != "allow") is reviewed
    # a crowd grouped through its site is kept (listed), its events not labelled members
    assert (out["campaign"] is not None) is reviewed
    assert len(scorer.campaigns()) == 1


def test_a_template_alone_does_not_link(cold_policy: Any) -> None:
    """Twelve sign-ups sharing only a username shape (a template many people share) in
    minutes: the burst is evidence on each of them, but nobody is linked."""
    scorer = StreamScorer(cold_policy)
    _send(scorer, START - 3 * 3600, "account.created", "early")
    outs = [_send(scorer, START + i * 10, "account.created", f"qzx{i:02d}kvw")
            for i in range(12)]
    assert any(s["signal"] == "burst" for s in outs[-1]["signals"])
    assert all(o["campaign"] is None for o in outs)
    assert not scorer.campaigns()


@pytest.mark.parametrize(("days", "releases", "strength"), [
    (0.0, 0, 1.0),
    (30.0, 0, 0.5),     # one half-life
    (0.01, 1, 0.5),     # one release of its own project with nothing of its own
    (15.0, 1, 0.5 * 2 ** -0.5),
    (0.01, 3, 0.0),     # 0.125 < link_min_strength: cleared
    (90.0, 0, 0.0),     # 0.125: cleared
])
def test_a_link_weakens_with_time_and_benign_activity(cold_policy: Any, days: float,
                                                      releases: int, strength: float) -> None:
    """The link is 1 at the wave; it halves every ``link_half_life_days`` and each benign
    release multiplies it by ``link_benign_decay``; below ``link_min_strength`` it is gone
    (the account's next project carries no membership and no campaign)."""
    scorer = StreamScorer(cold_policy)
    users = _wave(scorer, "d")
    member = users[0]
    first = _project(scorer, START + 300, member, "dtool")
    assert _membership(first) == pytest.approx(scorer.cfg.campaign_member)
    at = START + 300
    for i in range(releases):
        at += 60
        _send(scorer, at, "release.uploaded", member,
              project={"name": "dtool", "version": f"0.{i + 1}"})
    later = _project(scorer, START + 300 + days * DAY, member, "dtool-two")
    assert _membership(later) == pytest.approx(scorer.cfg.campaign_member * strength,
                                               abs=0.005)
    assert (later["campaign"] is None) is (strength == 0.0)


@pytest.mark.parametrize(("clear", "cleared", "still_linked", "newcomer_linked"), [
    ({"campaign": True}, {0, 1}, set(), False),
    ({"account": 0}, {0}, {1}, True),
    ({"accounts": [0, 1]}, {0, 1}, set(), True),
])
def test_a_benign_verdict_clears_at_once(cold_policy: Any, clear: dict[str, Any],
                                         cleared: set[int], still_linked: set[int],
                                         newcomer_linked: bool) -> None:
    """Clearing the campaign unlinks every member and stops its traits linking newcomers;
    clearing members unlinks only them. Their next events carry no membership, and a
    checkpoint keeps the clear."""
    scorer = StreamScorer(cold_policy)
    users = _wave(scorer, "c")
    campaign = scorer.campaigns()[0]["id"]
    args: dict[str, Any] = {}
    if clear.get("campaign"):
        args["campaign"] = campaign
    if "account" in clear:
        args["account"] = users[clear["account"]]
    if "accounts" in clear:
        args["accounts"] = [users[i] for i in clear["accounts"]]
    assert scorer.clear(**args) == len(cleared) + (len(users) - 2 if clear.get("campaign")
                                                   else 0)
    restored = decode(encode(scorer), cold_policy)
    for copy in (scorer, restored):
        for i in (0, 1):
            out = _project(copy, START + 600 + i, users[i], f"ctool{i}")
            assert (_membership(out) > 0) is (i in still_linked), (i, out)
            assert (out["campaign"] is not None) is (i in still_linked)
        late = _send(copy, START + 700, "account.created", "cnewcomer",
                     account={"email": "cnewcomer@inbox.ru"})
        assert (late["campaign"] is not None) is newcomer_linked


def test_clearing_an_unknown_campaign_is_refused(cold_policy: Any) -> None:
    with pytest.raises(KeyError):
        StreamScorer(cold_policy).clear(campaign="c-000000000000")


def test_a_sleeper_on_a_big_provider_links_through_its_shared_client() -> None:
    """A sleeper signing up on outlook.com: its sign-up bursts are a big provider's, not
    enough to link alone (a benign crowd there looks the same), but its sign-ups share one
    client (no user agent) far beyond outlook.com's own mix: that links them (issue 16,
    ``within_cohorts``), and nearly all its sign-ups and projects are flagged."""
    from detector.stream.simulate import SimConfig, simulate

    events, labels = simulate(SimConfig(days=40, seed=10, campaigns=("sleeper",), crowds=(),
                                        first_campaign_day=8.0))
    scorer = StreamScorer()
    signups = projects = flagged = linked = flagged_signups = 0
    for event, label in zip(events, labels, strict=True):
        out = scorer.process(event)[0]
        if label["kind"] != "sleeper":
            continue
        if event["type"] == "account.created":
            assert event["account"]["email"].endswith("@outlook.com")
            signups += 1
            linked += out["campaign"] is not None
            flagged_signups += out["decision"] != "allow"
            if out["campaign"] is not None:
                assert any("sign-ups on outlook.com" in r or "campaign" in r
                           for r in out["reasons"])
        else:
            projects += 1
            flagged += out["decision"] != "allow"
    assert signups >= 100 and projects >= 500
    assert linked >= 0.9 * signups and flagged_signups >= 0.9 * signups
    assert flagged >= 0.9 * projects

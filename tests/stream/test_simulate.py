"""The simulator: reproducible, PyPI-like volumes and shape, labelled campaigns."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from detector.stream.events import parse_event
from detector.stream.simulate import CAMPAIGN_KINDS, SimConfig, season, simulate


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    a = simulate(SimConfig(days=3, seed=11))
    b = simulate(SimConfig(days=3, seed=11))
    c = simulate(SimConfig(days=3, seed=12))
    assert a == b
    assert a[0] != c[0]


def test_baseline_volumes_and_validity() -> None:
    events, labels = simulate(SimConfig(days=14, seed=5, campaigns=()))
    assert len(events) == len(labels)
    assert all(label["id"] == event["id"] for event, label in zip(events, labels, strict=True))
    assert all(label["campaign"] is None for label in labels)
    per_day = Counter(e["type"] for e in events)
    assert 280 <= per_day["account.created"] / 14 <= 380
    assert 300 <= per_day["project.created"] / 14 <= 420
    stamps = [e["ts"] for e in events]
    assert stamps == sorted(stamps)
    assert len({e["id"] for e in events}) == len(events)
    for event in events[:2000]:
        parse_event(event)


def test_weekly_and_daily_shape() -> None:
    events, _ = simulate(SimConfig(days=14, seed=5, campaigns=()))
    hours = Counter(datetime.fromisoformat(e["ts"]).hour for e in events)
    days = Counter(datetime.fromisoformat(e["ts"]).weekday() for e in events)
    assert hours[15] > 2 * hours[3]
    assert days[1] > 1.4 * days[5]
    assert season(datetime.fromisoformat("2025-12-27T15:00:00+00:00").timestamp()) < \
        season(datetime.fromisoformat("2025-12-10T15:00:00+00:00").timestamp())


def test_every_campaign_kind_appears_with_its_shape() -> None:
    events, labels = simulate(SimConfig(days=90, seed=3))
    by_kind: dict[str, list[dict]] = {}
    for event, label in zip(events, labels, strict=True):
        if label["campaign"]:
            by_kind.setdefault(label["kind"], []).append(event)
    assert set(by_kind) == set(CAMPAIGN_KINDS)
    typo = by_kind["typosquat-waves"]
    accounts = [e for e in typo if e["type"] == "account.created"]
    projects = [e for e in typo if e["type"] == "project.created"]
    assert len(accounts) == len(projects) >= 100  # one project per fresh account
    flood = by_kind["account-flood"]
    assert len({e["account"]["username"] for e in flood}) == 1 and len(flood) > 500
    sleeper = by_kind["sleeper"]
    domains = {e["account"]["email"].split("@")[1] for e in sleeper
               if e["type"] == "account.created"}
    assert len(domains) == 1
    first_project = min(e["ts"] for e in sleeper if e["type"] == "project.created")
    last_account = max(e["ts"] for e in sleeper if e["type"] == "account.created")
    assert first_project > last_account  # the sleeper gap


def test_benign_crowds_are_labelled_and_shaped() -> None:
    from detector.stream.crowds import CROWD_KINDS

    events, labels = simulate(SimConfig(days=40, seed=2, campaigns=()))
    by_kind: dict[str, list[dict]] = {}
    for event, label in zip(events, labels, strict=True):
        assert label["campaign"] is None
        by_kind.setdefault(label["kind"], []).append(event)
    assert {f"crowd-{k}" for k in CROWD_KINDS} <= set(by_kind)
    classroom = by_kind["crowd-classroom"]
    firsts = [e for e in classroom if e["type"] == "project.created"]
    assert firsts and all(e["project"]["name"].endswith("-first-package") for e in firsts)
    assert any(e["type"] == "release.uploaded" for e in classroom)
    bot = by_kind["crowd-ci-bot"]
    assert len({e["account"]["username"] for e in bot}) <= len(
        [e for e in bot if e["type"] == "account.created"])
    assert simulate(SimConfig(days=5, seed=2, campaigns=(), crowds=()))[1][0]["kind"] == \
        "baseline"

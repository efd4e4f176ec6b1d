"""A benign verdict clears a campaign in the one stream state (issue 16): through the log,
so the next events show it on every replica, after a restart from a checkpoint, and
after a replay of the whole log. Real server processes, SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from svc_cluster import Replica, post, start
from svc_helpers import TEST_POLICY, add_tokens, new_database

from detector.stream.events import format_ts
from service.db import make_engine
from service.models import ScorerCheckpoint, StreamMark

MEMBERSHIP = "belongs to campaign"


def _wave(tag: str, now: float, size: int = 12) -> tuple[list[dict[str, Any]], list[str]]:
    """One sign-up 3 h back (history for the 1-hour windows), then ``size`` sign-ups on one
    mail provider's domain within two minutes: a wave linked by its shared domain."""
    events = [{"id": f"early-{tag}", "ts": format_ts(now - 3 * 3600),
               "type": "account.created", "account": {"username": f"early{tag}"}}]
    users = [f"member{tag}n{i}" for i in range(size)]
    for i, user in enumerate(users):
        events.append({"id": f"a{i}-{tag}", "ts": format_ts(now - 180 + i * 10),
                       "type": "account.created",
                       "account": {"username": user, "email": f"{user}@inbox.ru"}})
    return events, users


def _project(user: str, name: str) -> dict[str, Any]:
    return {"id": f"p-{uuid.uuid4().hex[:12]}", "ts": format_ts(time.time()),
            "type": "project.created", "account": {"username": user},
            "project": {"name": name}}


def _member_of_campaign(answer: dict[str, Any]) -> bool:
    return any(MEMBERSHIP in reason for reason in answer["reasons"])


def _verdict(url: str, token: str, campaign: str) -> dict[str, Any]:
    r = httpx.post(f"{url}/v1/campaigns/{campaign}/verdict", timeout=60,
                   json={"verdict": "benign", "note": "a class signing up"},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_benign_campaign_verdict_clears_membership_everywhere(tmp_path: Path,
                                                               kind: str) -> None:
    """A wave links its accounts; a member's project is flagged for campaign membership.
    A benign verdict on the campaign (on one replica) clears it: the next project of a
    member, sent to the other replica, carries no membership and no campaign, and a
    newcomer on the wave's trait is not linked. The clear is a mark in the log: a
    restart from the checkpoint, and a replay of the whole log with no checkpoint, keep
    it cleared."""
    policy = tmp_path / "policy.toml"
    policy.write_text(TEST_POLICY + "[service]\ncheckpoint_events = 5\n")
    database = new_database(kind, tmp_path)
    log = tmp_path / "servers.log"
    tag = uuid.uuid4().hex[:6]
    replicas: list[Replica] = []
    try:
        tokens = add_tokens(database.url)
        registry, moderator = tokens["registry"], tokens["moderator"]
        replicas = start(database.url, policy, log, 2)
        first, second = replicas
        events, users = _wave(tag, time.time())
        answers = post(first.url, registry, events)
        campaign = answers[-1]["campaign"]
        assert campaign, answers[-1]
        # before the verdict: a member's project is flagged for its membership alone
        before = post(first.url, registry, [_project(users[0], f"tool-{tag}-a")])[0]
        assert before["campaign"] == campaign
        assert before["decision"] == "review" and _member_of_campaign(before), before

        _verdict(first.url, moderator, campaign)

        # the other replica sees it at once (it replays the mark from the log)
        after = post(second.url, registry, [_project(users[1], f"tool-{tag}-b")])[0]
        assert after["campaign"] is None and not _member_of_campaign(after), after
        assert after["decision"] == "allow"
        # the wave's trait no longer links a newcomer
        newcomer = f"late{tag}"
        late = post(second.url, registry, [{
            "id": f"late-{tag}", "ts": format_ts(time.time()), "type": "account.created",
            "account": {"username": newcomer, "email": f"{newcomer}@inbox.ru"}}])[0]
        assert late["campaign"] is None, late
        for replica in replicas:
            replica.stop()  # a checkpoint at shutdown
        engine = make_engine(database.url)
        with engine.connect() as connection:
            marks = connection.execute(select(StreamMark.campaign, StreamMark.kind)).all()
            assert [(m.campaign, m.kind) for m in marks] == [(campaign, "clear")]
            assert connection.execute(select(func.count()).select_from(
                ScorerCheckpoint)).scalar()

        # restart: from the newest checkpoint
        (third,) = replicas = start(database.url, policy, log)
        restarted = post(third.url, registry, [_project(users[2], f"tool-{tag}-c")])[0]
        assert restarted["campaign"] is None and not _member_of_campaign(restarted)
        third.stop()

        # restart with no checkpoint at all: the whole log is replayed, the mark with it
        with engine.begin() as connection:
            connection.execute(delete(ScorerCheckpoint))
        engine.dispose()
        (fourth,) = replicas = start(database.url, policy, log)
        assert fourth.ready["rebuilt_events"] >= len(events) + 4
        replayed = post(fourth.url, registry, [_project(users[3], f"tool-{tag}-d")])[0]
        assert replayed["campaign"] is None and not _member_of_campaign(replayed)
        # an account judged on its own stays linked only until its own verdict
        fourth.stop()
    finally:
        for replica in replicas:
            replica.kill()
        if database.drop:
            database.drop()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_benign_verdict_on_one_member_clears_only_that_member(tmp_path: Path,
                                                                kind: str) -> None:
    """A benign verdict on one member's event unlinks that account only: its next project
    is not flagged for membership, another member's still is."""
    policy = tmp_path / "policy.toml"
    policy.write_text(TEST_POLICY)
    database = new_database(kind, tmp_path)
    tag = uuid.uuid4().hex[:6]
    replicas: list[Replica] = []
    try:
        tokens = add_tokens(database.url)
        registry, moderator = tokens["registry"], tokens["moderator"]
        (server,) = replicas = start(database.url, policy, tmp_path / "server.log")
        events, users = _wave(tag, time.time())
        answers = post(server.url, registry, events)
        campaign = answers[-1]["campaign"]
        assert campaign
        flagged = post(server.url, registry, [_project(users[0], f"tool-{tag}-a")])[0]
        assert _member_of_campaign(flagged)
        r = httpx.post(f"{server.url}/v1/queue/{flagged['id']}/verdict", timeout=60,
                       json={"verdict": "benign", "note": "a student"},
                       headers={"Authorization": f"Bearer {moderator}"})
        assert r.status_code == 200, r.text
        cleared = post(server.url, registry, [_project(users[0], f"tool-{tag}-b")])[0]
        assert cleared["campaign"] is None and not _member_of_campaign(cleared), cleared
        other = post(server.url, registry, [_project(users[1], f"tool-{tag}-c")])[0]
        assert other["campaign"] == campaign and _member_of_campaign(other), other
        server.stop()
    finally:
        for replica in replicas:
            replica.kill()
        if database.drop:
            database.drop()

"""The triage view of the queue: waves grouped into one row each, lone items as their
own rows, and what a moderator needs at a glance (plain-language chips, the imitated
project, the account's age), with totals for pagination.

`service.queue` holds the filter and the verdicts; this module only reads."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from service import queue
from service.db import utc
from service.models import Event
from service.queue import QueueFilter, conditions, item, order
from service.signal_labels import chips

# The name signal's reason names the project imitated and its popularity rank, e.g.
# "one adjacent swap away from 'requests' (rank 6 of 15000): ..." (detector.names).
_TARGET = re.compile(r"'([^']+)' \(rank (\d+)")
# Signals that tie an event to its campaign: their reasons say why it is a member.
LINK_SIGNALS = ("burst", "campaign-tail", "campaign-account", "account-flood")
_BURST_TRAIT = re.compile(r"^(.*?): \d+ in ")
_TAIL_TRAIT = re.compile(r"^shares (.*) with an earlier wave$")
MEMBERS_SHOWN = 20


def _signals(detail: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((detail or {}).get("signals") or [])


def imitated(detail: dict[str, Any] | None) -> tuple[str, int] | None:
    """The popular project a name imitates, and its rank, from the name signal."""
    for s in _signals(detail):
        if s.get("signal") == "name":
            match = _TARGET.search(str(s.get("reason") or ""))
            if match:
                return match.group(1), int(match.group(2))
    return None


# A flood's first events are scored before their wave is recognised; the campaign is
# written onto them afterwards (service.stream_log relabels), so their own detail holds
# no linking signal.
EARLY_MEMBER = "an early member: joined when the wave was recognised"


def link_reasons(detail: dict[str, Any] | None) -> list[str]:
    """Why an event belongs to its campaign (the reasons of its linking signals)."""
    return [str(s.get("reason") or s.get("signal")) for s in _signals(detail)
            if s.get("signal") in LINK_SIGNALS]


def traits(details: Iterable[dict[str, Any] | None], limit: int = 6) -> list[tuple[str, int]]:
    """The cohorts a campaign's members share (the traits `warden score --campaigns`
    lists), with how many members show each, most shared first."""
    counts: Counter[str] = Counter()
    for detail in details:
        seen = set()
        for s in _signals(detail):
            reason = str(s.get("reason") or "")
            if s.get("signal") == "burst":
                match = _BURST_TRAIT.match(reason)
            elif s.get("signal") == "campaign-tail":
                match = _TAIL_TRAIT.match(reason)
            else:
                continue
            if match:
                seen.add(match.group(1))
        counts.update(seen)
    return counts.most_common(limit)


def account_created(session: Session, usernames: Iterable[str]) -> dict[str, datetime]:
    """When each account was created, for those whose account.created event is stored."""
    names = sorted(set(usernames))
    if not names:
        return {}
    query = (select(Event.username, func.min(Event.ts))
             .where(Event.type == "account.created", Event.username.in_(names))
             .group_by(Event.username))
    return {name: utc(ts) for name, ts in session.execute(query)}


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = max(0.0, seconds)
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def decorate(session: Session, rows: list[Event]) -> list[dict[str, Any]]:
    """Queue items with chips, the imitated project and the account's age at the event."""
    created = account_created(session, (r.username for r in rows))
    out = []
    for r in rows:
        data = item(r)
        target = imitated(r.detail)
        born = created.get(r.username)
        age = None if born is None else (utc(r.ts) - born).total_seconds()
        data.update(chips=chips(_signals(r.detail)), target=target,
                    account_age=None if r.type == "account.created" else age_text(age),
                    links=link_reasons(r.detail) or [EARLY_MEMBER])
        out.append(data)
    return out


@dataclass
class Group:
    kind: str  # "campaign" or "item"
    campaign: str | None
    size: int
    first_ts: datetime
    last_ts: datetime
    max_score: float
    decisions: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    traits: list[str] = field(default_factory=list)
    top_target: str | None = None
    item: dict[str, Any] | None = None
    members: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "members"}
        if data["item"] is not None:
            data["item"] = {k: data["item"][k] for k in (
                "id", "type", "ts", "username", "project", "score", "decision", "reasons",
                "campaign", "signals", "pending", "verdict")}
        return data


def grouped(session: Session, f: QueueFilter) -> tuple[int, list[Group]]:
    """One page of the queue with each campaign folded into one row (its members that
    match the filter), and the total number of rows over all pages."""
    where = conditions(f)
    # A campaign with one matching member is shown as that item: a wave row for one
    # event would only cost the moderator a page.
    waves = (select(literal("campaign").label("kind"), Event.campaign.label("key"),
                    func.max(Event.score).label("score"), func.max(Event.ts).label("ts"))
             .where(*where, Event.campaign.is_not(None)).group_by(Event.campaign)
             .having(func.count() > 1))
    alone = (select(Event.campaign).where(*where, Event.campaign.is_not(None))
             .group_by(Event.campaign).having(func.count() == 1))
    lone = (select(literal("item").label("kind"), Event.id.label("key"),
                   Event.score.label("score"), Event.ts.label("ts"))
            .where(*where, Event.campaign.is_(None) | Event.campaign.in_(alone)))
    rows = union_all(waves, lone).subquery()
    total = session.scalar(select(func.count()).select_from(rows)) or 0
    keys = [rows.c.ts.desc(), rows.c.score.desc()] if f.sort == "time" else \
        [rows.c.score.desc(), rows.c.ts.desc()]
    page = list(session.execute(select(rows.c.kind, rows.c.key).order_by(
        *keys, rows.c.key).limit(f.limit).offset(f.offset)))
    lone_ids = [key for kind, key in page if kind == "item"]
    campaigns = [key for kind, key in page if kind == "campaign"]
    singles = {r.id: r for r in session.scalars(select(Event).where(Event.id.in_(lone_ids)))}
    members: dict[str, list[Event]] = {c: [] for c in campaigns}
    if campaigns:
        for r in session.scalars(select(Event).where(*where, Event.campaign.in_(campaigns))
                                 .order_by(*order(f))):
            members[r.campaign].append(r)  # type: ignore[index]
    shown = decorate(session, [singles[k] for k in lone_ids if k in singles]
                     + [r for c in campaigns for r in members[c][:MEMBERS_SHOWN]])
    by_id = {d["id"]: d for d in shown}
    groups = []
    for kind, key in page:
        if kind == "item":
            if key not in by_id:
                continue
            data = by_id[key]
            groups.append(Group("item", None, 1, data["ts"], data["ts"], data["score"],
                                {data["decision"]: 1}, {data["verdict"] or "none": 1},
                                [], data["target"][0] if data["target"] else None, data))
            continue
        rows_ = members[key]
        targets = Counter(t[0] for t in (imitated(r.detail) for r in rows_) if t)
        groups.append(Group(
            "campaign", key, len(rows_), min(utc(r.ts) for r in rows_),
            max(utc(r.ts) for r in rows_), max(r.score for r in rows_),
            dict(Counter(r.decision for r in rows_)),
            dict(Counter(r.verdict or "none" for r in rows_)),
            [t for t, _ in traits(r.detail for r in rows_)],
            targets.most_common(1)[0][0] if targets else None, None,
            [by_id[r.id] for r in rows_[:MEMBERS_SHOWN]]))
    return total, groups


def chips_of(detail: dict[str, Any] | None) -> list[str]:
    return chips(_signals(detail), limit=6)


def account_view(session: Session, row: Event) -> dict[str, Any]:
    """The account behind an event: e-mail domain, age at the event, its other events."""
    created = account_created(session, [row.username]).get(row.username)
    email = str(((row.payload or {}).get("account") or {}).get("email") or "")
    others = list(session.execute(
        select(Event.id, Event.type, Event.project, Event.ts, Event.decision, Event.verdict)
        .where(Event.username == row.username, Event.id != row.id)
        .order_by(Event.ts).limit(50)))
    age = None if created is None else (utc(row.ts) - created).total_seconds()
    return {"username": row.username, "domain": email.rpartition("@")[2] or None,
            "created": created, "age": age_text(age) if created else "unknown",
            "others": [dict(o._mapping) for o in others]}


def campaign_view(session: Session, campaign: str) -> dict[str, Any]:
    """A campaign page: why its members are linked (shared traits, each member's link
    reasons and time) and which of them already carry a verdict of their own."""
    rows = queue.campaign_events(session, campaign)
    members = decorate(session, sorted(rows, key=lambda r: (utc(r.ts), r.id)))
    targets = Counter(m["target"][0] for m in members if m["target"])
    return {
        "campaign": campaign, "events": len(rows),
        "first_ts": min(utc(r.ts) for r in rows), "last_ts": max(utc(r.ts) for r in rows),
        "max_score": max(r.score for r in rows),
        "decisions": dict(Counter(r.decision for r in rows)),
        "verdicts": dict(Counter(r.verdict or "none" for r in rows)),
        "accounts": len({r.username for r in rows}),
        "projects": len({r.project for r in rows if r.project}),
        "traits": traits(r.detail for r in rows),
        "targets": targets.most_common(3),
        "members": members,
        "batches": {r.id: r.verdict_batch for r in rows},
        "sources": {r.id: r.verdict_source for r in rows},
    }

"""Campaigns: registrations linked through bursting cohorts and shared accounts.

Each burst of a cohort key opens (or joins) a campaign; campaigns that share
an account or an event are merged (union-find), so an account wave and the
project flood its accounts start days later become one campaign.

A campaign's id is derived from the event that founded it (``c-`` and 12 hex digits of
its SHA-256), not from a counter: event ids are unique, so campaign ids are unique
across processes and stay the same after a restart, whatever was replayed. A merged
campaign keeps the oldest member's id. ``moved`` and ``merged`` journal, per event, the
earlier events that joined a campaign and the ids merged away (a service relabels its
stored events with them, see ``StreamScorer.relabels``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from detector.stream.events import format_ts


@dataclass(slots=True)
class Campaign:
    """One group of related registrations a moderator can act on at once."""

    number: int
    name: str
    first_seen: float
    last_seen: float
    events: dict[str, None] = field(default_factory=dict)  # ordered set
    accounts: dict[str, None] = field(default_factory=dict)
    projects: dict[str, None] = field(default_factory=dict)
    traits: Counter[str] = field(default_factory=Counter)
    scopes: Counter[str] = field(default_factory=Counter)

    @property
    def id(self) -> str:
        return self.name

    def to_dict(self, max_members: int | None = None) -> dict[str, Any]:
        def clip(values: dict[str, None]) -> list[str]:
            items = list(values)
            return items if max_members is None else items[:max_members]

        return {
            "id": self.id,
            "size": len(self.events),
            "accounts_count": len(self.accounts),
            "projects_count": len(self.projects),
            "first_seen": format_ts(self.first_seen),
            "last_seen": format_ts(self.last_seen),
            "traits": [trait for trait, _ in self.traits.most_common(8)],
            "scopes": dict(self.scopes),
            "events": clip(self.events),
            "accounts": clip(self.accounts),
            "projects": clip(self.projects),
        }


class Campaigns:
    """Union-find over campaigns, with their members."""

    def __init__(self) -> None:
        self._parent: dict[int, int] = {}
        self._records: dict[int, Campaign] = {}
        self._next = 1
        self._founder: tuple[str, int] = ("", 0)  # the last founding event, campaigns it made
        self.moved: dict[str, int] = {}  # event id -> campaign it joined (journal)
        self.merged: list[int] = []  # campaigns merged into another (journal)
        self._names: dict[int, str] = {}  # merged-away number -> its own id

    @staticmethod
    def name_for(founder: str, ordinal: int) -> str:
        """The id of the ``ordinal``-th campaign (from 0) founded by event ``founder``."""
        digest = hashlib.sha256(f"{founder}#{ordinal}".encode()).hexdigest()
        return f"c-{digest[:12]}"

    def new(self, ts: float, founder: str) -> int:
        """A new campaign founded by event ``founder``; returns its (internal) number."""
        ordinal = self._founder[1] + 1 if self._founder[0] == founder else 0
        self._founder = (founder, ordinal)
        number = self._next
        self._next += 1
        self._parent[number] = number
        self._records[number] = Campaign(number, self.name_for(founder, ordinal), ts, ts)
        return number

    def find(self, number: int) -> int:
        parent = self._parent
        root = number
        while parent[root] != root:
            root = parent[root]
        while parent[number] != root:
            parent[number], number = root, parent[number]
        return root

    def union(self, numbers: list[int]) -> int:
        roots = {self.find(n) for n in numbers}
        if len(roots) == 1:
            return roots.pop()
        # Keep the oldest id so a campaign's name stays stable as it grows.
        keep = min(roots)
        merged = self._records[keep]
        for root in sorted(roots - {keep}):
            other = self._records.pop(root)
            self.merged.append(root)
            self._names[root] = other.name
            self._parent[root] = keep
            merged.first_seen = min(merged.first_seen, other.first_seen)
            merged.last_seen = max(merged.last_seen, other.last_seen)
            merged.events.update(other.events)
            merged.accounts.update(other.accounts)
            merged.projects.update(other.projects)
            merged.traits.update(other.traits)
            merged.scopes.update(other.scopes)
        return keep

    def name_of(self, number: int) -> str:
        """The id campaign ``number`` had of its own (before any merge)."""
        record = self._records.get(number)
        return record.name if record is not None else self._names[number]

    def record(self, number: int) -> Campaign:
        return self._records[self.find(number)]

    def add_member(self, number: int, ts: float, event_id: str | None, account: str | None,
                   project: str | None = None, scope: str | None = None,
                   trait: str | None = None, journal: bool = True) -> None:
        """Add an event and its account; ``journal``: the event's stored answer gets the
        campaign (``moved``), else it is kept in the record only."""
        campaign = self.record(number)
        campaign.first_seen = min(campaign.first_seen, ts)
        campaign.last_seen = max(campaign.last_seen, ts)
        if event_id is not None and event_id not in campaign.events:
            campaign.events[event_id] = None
            if journal:
                self.moved[event_id] = campaign.number
            if scope:
                campaign.scopes[scope] += 1
        if account:
            campaign.accounts[account] = None
        if project:
            campaign.projects[project] = None
        if trait:
            campaign.traits[trait] += 1

    def all(self) -> list[Campaign]:
        return sorted(self._records.values(), key=lambda c: c.first_seen)

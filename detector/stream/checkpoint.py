"""A versioned checkpoint of a ``StreamScorer``'s whole state, as plain JSON.

State only, never code: accounts, cohort keys with their windows and baselines, the
seasonal profiles and the cached figures derived from them, observed time, campaigns,
the stream clock, the ids seen and the breaker. ``restore(dump(s))`` followed by more
events answers exactly as ``s`` would have (floats round-trip exactly through JSON's
``repr``; infinities as ``Infinity``, which Python's json reads back), tested event for
event in ``tests/stream/test_checkpoint.py``. The name and code caches are not state:
they are pure and refilled on demand.

``encode``/``decode`` add zlib compression (what a service stores). A checkpoint of
a version not in ``READS`` is refused with ``CheckpointError``: the caller replays the
events instead. An older version that is read starts what it lacks empty. Version 2
(before cohort scopes, sweeps and link evidence): its breaker held no cohort pause and
no cohort traffic, its flagged registrations carry no cohorts, it has no sweep members
(sweeps count from the restore on), and its links rest on more than a site. Versions 2
and 3 hold no burst window (bursts count the names from the restore on).
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from typing import Any

from detector.breaker import BreakerState, ScopeState
from detector.policy import Policy
from detector.stream.campaigns import Campaign, Campaigns
from detector.stream.cohorts import CohortTracker, KeyState, SeasonalProfile
from detector.stream.scorer import AccountState, StreamScorer

# 2: campaign links' strength and time per account; keys cleared by verdicts.
# 3: the breaker's cohort scopes, flagged registrations' cohorts and cohort traffic;
#    the sweeps' recent members (detector.sweeps.SweepMemory); what a link rests on
#    (an organisation's site only; version 2 links rest on more), the broad sign-up
#    burst of an account and the broad keys' burst episodes.
# 4: the names of the burst window (detector.names.BurstMemory; null when bursts are off).
#    Since runs (detector.names.runs) it holds a third list, the names of the runs'
#    window and its past; a version 4 checkpoint without it restores empty ones.
#    Since echoes (detector.names.echoes) it holds "echoes", the twins of the window
#    (null when echoes are off); a version 4 checkpoint without it restores none.
VERSION = 4
READS = (2, 3, 4)
# A version 2 account row lacks the last two fields: (link_site, cohort).
_V2_ACCOUNT_TAIL = [False, None]

_KEY_SLOTS = ("times", "weights", "accounts", "events", "starts", "matured", "last_counted",
              "campaign", "burst_at", "description", "trim_at")
_PROFILE_FIELDS = ("by_hour", "by_day", "first_hour", "_cache_hour", "_daily", "_weekly",
                   "_terms", "_seen_from", "_seen_to", "_seen_daily", "_seen_weekly")
_SCOPE_FIELDS = ("state", "kind", "confirmed", "since", "expires_at", "reason", "actor",
                 "counting_from")


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored (another version, or damaged)."""


def _tracker(tracker: CohortTracker) -> dict[str, Any]:
    profile_scope = {id(profile): scope for scope, profile in tracker.profiles.items()}
    keys = []
    for key, state in tracker.keys.items():
        if isinstance(state, tuple):
            keys.append([key, 0, list(state)])
        else:
            keys.append([key, 1, [getattr(state, name) for name in _KEY_SLOTS]])
    return {
        "start": tracker.start, "last_prune": tracker._last_prune,
        "warmth": list(tracker._warmth), "last_ts": tracker._last_ts,
        "ordered": tracker._ordered, "observed": tracker.observed.spans,
        "profiles": {scope: {**{name: getattr(p, name) for name in _PROFILE_FIELDS},
                             "_means": list(p._means.items())}
                     for scope, p in tracker.profiles.items()},
        "contexts": [[profile_scope[pid], minute, context]
                     for pid, (minute, context) in tracker._contexts.items()
                     if pid in profile_scope],
        "keys": keys,
    }


def _restore_tracker(tracker: CohortTracker, data: dict[str, Any]) -> None:
    tracker.start = data["start"]
    tracker._last_prune = data["last_prune"]
    tracker._warmth = (data["warmth"][0], data["warmth"][1])
    tracker._last_ts = data["last_ts"]
    tracker._ordered = data["ordered"]
    tracker.observed.spans = [list(span) for span in data["observed"]]
    for scope, fields in data["profiles"].items():
        profile = SeasonalProfile(tracker.shrink)
        for name in _PROFILE_FIELDS:
            setattr(profile, name, fields[name])
        profile._means = {int(hours): mean for hours, mean in fields["_means"]}
        tracker.profiles[scope] = profile
    for scope, minute, context in data["contexts"]:
        tracker._contexts[id(tracker.profiles[scope])] = (
            minute, [tuple(item) for item in context])
    keys: dict[str, Any] = {}
    for key, full, values in data["keys"]:
        if not full:
            keys[key] = tuple(values)
            continue
        state = KeyState(tracker._n_windows)
        for name, value in zip(_KEY_SLOTS, values, strict=True):
            setattr(state, name, value)
        keys[key] = state
    tracker.keys = keys


def _campaigns(store: Campaigns) -> dict[str, Any]:
    return {
        "next": store._next, "parent": list(store._parent.items()),
        "names": list(store._names.items()),
        "records": [[c.number, c.name, c.first_seen, c.last_seen, list(c.events),
                     list(c.accounts), list(c.projects), list(c.traits.items()),
                     list(c.scopes.items())] for c in store._records.values()],
    }


def _restore_campaigns(store: Campaigns, data: dict[str, Any]) -> None:
    store._next = data["next"]
    store._parent = {int(k): int(v) for k, v in data["parent"]}
    store._names = {int(k): v for k, v in data["names"]}
    for number, name, first, last, events, accounts, projects, traits, scopes in \
            data["records"]:
        store._records[number] = Campaign(
            number, name, first, last, dict.fromkeys(events), dict.fromkeys(accounts),
            dict.fromkeys(projects), Counter(dict(traits)), Counter(dict(scopes)))


def _breaker(state: BreakerState) -> dict[str, Any]:
    return {"clock": state.clock,
            "scopes": {scope: [*(getattr(s, name) for name in _SCOPE_FIELDS),
                               [[ts, campaign, list(cohorts)]
                                for ts, campaign, cohorts in s.flagged]]
                       for scope, s in state.scopes.items()},
            "traffic": state.traffic, "traffic_pruned_at": state.traffic_pruned_at}


def _restore_breaker(data: dict[str, Any]) -> BreakerState:
    state = BreakerState(clock=data["clock"])
    for scope, values in data["scopes"].items():
        fields = dict(zip(_SCOPE_FIELDS, values[:-1], strict=True))
        state.scopes[scope] = ScopeState(
            **fields, flagged=[(item[0], item[1], tuple(item[2]) if len(item) > 2 else ())
                               for item in values[-1]])
    state.traffic = data.get("traffic", {})  # absent in version 2
    state.traffic_pruned_at = data.get("traffic_pruned_at", state.traffic_pruned_at)
    return state


def dump(scorer: StreamScorer) -> dict[str, Any]:
    """The scorer's whole state as JSON-ready data (see the module docstring)."""
    return {
        "version": VERSION,
        "clock": [scorer.clock.now, scorer.clock.leap],
        "seen_ids": list(scorer._seen_ids),
        "accounts_pruned_at": scorer._accounts_pruned_at,
        "last_event": [scorer.last_event_type, scorer.last_event_ts, scorer.last_event_id],
        "accounts": [[name, a.created, a.domain, a.score, list(a.reasons), a.campaign,
                      a.recent, a.recent_events, a.flood_campaign, a.link, a.linked_at,
                      a.link_site, a.cohort]
                     for name, a in scorer.accounts.items()],
        "campaigns": _campaigns(scorer.campaign_store),
        "cleared_keys": scorer.cleared_keys,
        "broad_episodes": scorer.broad_episodes,
        "tracker": _tracker(scorer.tracker),
        "breaker": _breaker(scorer.breaker_state),
        "sweeps": scorer.sweeps.dump(),
        "bursts": scorer.bursts.dump() if scorer.bursts is not None else None,
        "echoes": scorer.echoes.dump() if scorer.echoes is not None else None,
    }


def restore(data: dict[str, Any], policy: Policy | None = None) -> StreamScorer:
    """A scorer in exactly the state ``dump`` saw (under the same policy)."""
    if not isinstance(data, dict) or data.get("version") not in READS:
        found = data.get("version") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"scorer checkpoint version {found!r}; this build reads "
                              f"versions {', '.join(map(str, READS))}")
    scorer = StreamScorer(policy)
    try:
        scorer.clock.now, scorer.clock.leap = data["clock"]
        scorer._seen_ids = dict.fromkeys(data["seen_ids"])
        scorer._accounts_pruned_at = data["accounts_pruned_at"]
        scorer.last_event_type, scorer.last_event_ts, scorer.last_event_id = \
            data["last_event"]
        scorer.accounts = {
            name: AccountState(created, domain, score, tuple(reasons), campaign, recent,
                               recent_events, flood, link, linked_at, link_site, cohort)
            for (name, created, domain, score, reasons, campaign, recent, recent_events, flood,
                 link, linked_at, link_site, cohort) in (
                     row if len(row) == 13 else [*row, *_V2_ACCOUNT_TAIL]
                     for row in data["accounts"])}
        _restore_campaigns(scorer.campaign_store, data["campaigns"])
        scorer.cleared_keys = dict(data["cleared_keys"])
        scorer.broad_episodes = dict(data.get("broad_episodes", {}))  # absent in version 2
        _restore_tracker(scorer.tracker, data["tracker"])
        scorer.breaker_state = _restore_breaker(data["breaker"])
        if data["version"] >= 3:
            scorer.sweeps.load(data["sweeps"])
        if data["version"] >= 4 and data["bursts"] is not None and scorer.bursts is not None:
            scorer.bursts.load(data["bursts"])
        if data.get("echoes") is not None and scorer.echoes is not None:
            scorer.echoes.load(data["echoes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"damaged scorer checkpoint: {type(exc).__name__}: {exc}"
                              ) from None
    return scorer


def encode(scorer: StreamScorer) -> bytes:
    """``dump`` as compressed JSON bytes."""
    text = json.dumps(dump(scorer), separators=(",", ":"), ensure_ascii=False)
    return zlib.compress(text.encode("utf-8"), 1)


def decode(blob: bytes, policy: Policy | None = None) -> StreamScorer:
    try:
        data = json.loads(zlib.decompress(blob).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"damaged scorer checkpoint: {exc}") from None
    return restore(data, policy)

"""The stream scorer: one decision per registry event, causal and incremental.

``StreamScorer.process(event)`` updates the state with one event and returns
its decision (CONTRACT §3) followed by any breaker transitions it caused. The
same sequence of events always yields the same answers, whether it comes from
a file (``warden score``) or one request at a time (the service, which also
passes its clock: see ``detector.stream.clock``). Signals are combined by
``detector.decision.decide``, the one decision function.
"""

from __future__ import annotations

import gc
import ipaddress
import json
import math
import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from detector.breaker import Breaker, BreakerState
from detector.decision import Signal, code_signal, decide, noisy_or
from detector.policy import Policy, StreamPolicy, resolve
from detector.popular import shipped_corpus
from detector.stream import accounts as acc_signals
from detector.stream.campaigns import Campaigns
from detector.stream.clock import StreamClock, TimePolicy, check_event_time
from detector.stream.cohorts import DAY, HOUR, CohortTracker, KeyState, KeyVerdict
from detector.stream.events import Event, EventError, parse_event, parse_ts
from detector.stream.scope import event_cohorts
from detector.stream.signals import (
    CodeCache,
    NameCache,
    NameSignal,
    SignalTimes,
    burst_memory,
    canonical_name,
    compute_batch,
    echo_memory,
    exact_hash,
    recent_attacks,
)
from detector.stream.templates import (
    coarse_shape,
    files_hash,
    name_head,
    name_shape,
    shape,
    text_hash,
)
from detector.sweeps import SweepMemory
from detector.vocab import EventType, ScanCode

_SCOPE_PREFIX: dict[str, str] = {EventType.ACCOUNT: "a", EventType.PROJECT: "p",
                                 EventType.RELEASE: "r"}


@lru_cache(maxsize=2)
def _popular_tokens(top: int) -> frozenset[str]:
    """The ``top`` popular project names, for usernames posing as a project's team."""
    return frozenset(shipped_corpus().top(top))


@dataclass(slots=True)
class AccountState:
    """What the scorer remembers about one account.

    Kept lean, one per account for the whole stream: ``reasons`` is a tuple and
    the per-account flood lists are made on the account's first project or upload.
    """

    created: float | None = None
    domain: str | None = None
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    campaign: int | None = None
    recent: list[float] | None = None
    recent_events: list[str] | None = None
    flood_campaign: int | None = None
    # Strength of the link to ``campaign`` (1 when last confirmed, at ``linked_at``): it
    # halves every ``link_half_life_days`` and with each benign release (``_account_link``).
    link: float = 0.0
    linked_at: float = 0.0
    # The evidence of the link: only an organisation's own traits (its e-mail domain, its
    # network: ``site_cohorts``), which link weakly (``site_link``).
    link_site: bool = False
    # The broad sign-up burst the account arrived in (key@episode start), if any: not a
    # link, but a trait its later projects share (``_project_signals``).
    cohort: str | None = None


def _ip_prefix(ip: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of an address; None when it is not one."""
    ip = ip.strip()
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) < 256 for p in parts):
        return f"{int(parts[0])}.{int(parts[1])}.{int(parts[2])}.0/24"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


def _burst_reason(v: KeyVerdict) -> str:
    return (f"{v.state.description}: {v.count} in {_fmt_window(v.window)} "
            f"(baseline expects {v.expected:.2f})")


def _burst_signal(v: KeyVerdict, threshold: float, cfg: StreamPolicy) -> Signal:
    """A cohort's burst as evidence, stronger the more surprising it is."""
    strength = cfg.burst_base + cfg.burst_per_surprise * (v.surprise - threshold)
    return Signal("burst", min(0.95, strength), _burst_reason(v))


def _fmt_window(seconds: float) -> str:
    return f"{seconds / DAY:.0f} d" if seconds >= DAY else f"{seconds / HOUR:.0f} h"


class StreamScorer:
    """Scores registry events one at a time; see the module docstring."""

    # How often (stream time) settled accounts are forgotten (``_prune_accounts``); each
    # pass walks every account held.
    prune_accounts_every: float = 14 * DAY

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy = resolve(policy)
        self.cfg = policy.stream
        self.tracker = CohortTracker(self.cfg.cohorts)
        self.campaign_store = Campaigns()
        self.time = TimePolicy.from_cfg(self.cfg)
        self.clock = StreamClock(self.time.max_leap)
        self.breaker = Breaker(policy.breaker)
        self.breaker_state = BreakerState()
        self.accounts: dict[str, AccountState] = {}
        # CPU spent on name checks and code scans, here or in score_lines' worker.
        self.signal_times = SignalTimes()
        self.names = NameCache(policy, times=self.signal_times)
        self.code = CodeCache(policy, times=self.signal_times)
        # The recent members of each sweep (names imitating one target): stream state.
        self.sweeps = SweepMemory(policy.names)
        # Every name registered in the window and its pieces, for generator bursts
        # (detector.names.burst_memory): stream state too; None when bursts are off.
        self.bursts = burst_memory(policy)
        # The window's names scoring at least echo_min_score, for echoes
        # (detector.names.echoes): stream state too; None when echoes are off.
        self.echoes = echo_memory(policy)
        # Recent attacks on a name's target (detector.names.attacks): shipped data, no
        # state; None when off.
        self.attacks = recent_attacks(policy)
        self.findings_for_last_event: list[dict[str, Any]] = []
        self._seen_ids: dict[str, None] = {}  # a dict: 2-4x smaller than a set this size
        self._accounts_pruned_at = -math.inf
        self.last_event_type: str | None = None
        self.last_event_id: str | None = None
        self.last_event_ts: float | None = None
        # The breaker cohorts of the last event (``detector.stream.scope``).
        self.last_event_cohorts: tuple[str, ...] = ()
        self._popular = _popular_tokens(self.cfg.impersonation_top_projects)
        self._broad = frozenset(self.cfg.broad_cohorts)
        # Cohort keys of campaigns cleared by a benign verdict -> when: for tail_days
        # their bursts neither link nor count (``clear``).
        self.cleared_keys: dict[str, float] = {}
        # Broad keys bursting on sign-ups -> when their current burst episode began.
        self.broad_episodes: dict[str, float] = {}
        self._common = frozenset(self.cfg.broad_when_common)
        self._site = frozenset(self.cfg.site_cohorts)
        self._paired = frozenset(self.cfg.paired_cohorts)
        self._site_explains = frozenset(self.cfg.site_explains)
        self._within = frozenset(self.cfg.within_cohorts)
        self._tail_paired = frozenset(self.cfg.tail_paired_cohorts)
        self._signup_key: str | None = None  # the account event's sign-up template key

    # -- public API -------------------------------------------------------------------------

    def process(self, event: dict[str, Any], now: float | None = None
                ) -> list[dict[str, Any]]:
        """Score one event: its decision object, then zero or more ``{"breaker": ...}``.

        ``now``: the server clock, when there is one (the service). The event must then
        lie within the accepted range around it (``check_event_time``), and an event
        older than one already scored is scored at the newest time seen. Without it (a
        file), such an event is an error, and one event far ahead of the stream does not
        move its clock (``StreamClock``). Raises ``EventError`` for an event that cannot
        be scored; the state is then unchanged.
        """
        ev = parse_event(event)
        if ev.id in self._seen_ids:
            raise EventError(f"duplicate id {ev.id!r}", ev.id)
        clock = self.clock
        if now is not None:
            check_event_time(ev.ts, now, self.time, ev.ts_text, ev.id)
            if ev.ts < clock.now:
                ev.ts = clock.now  # late: scored as if it arrived at the newest time seen
            clock.now = ev.ts
        elif ev.ts < clock.now:
            raise EventError(
                f"timestamp {ev.ts_text} is earlier than an event already scored; "
                "events must be ordered by ts", ev.id)
        else:
            ev.ts = clock.place(ev.ts)
        self._seen_ids[ev.id] = None
        self.last_event_type, self.last_event_ts = ev.type, ev.ts
        self.last_event_id = ev.id
        self.campaign_store.moved.clear()
        self.campaign_store.merged.clear()
        decision = self._score(ev)
        self.last_event_cohorts = cohorts = self._cohorts(ev)
        transitions = self.breaker.advance_one(self.breaker_state, ev.type, ev.ts,
                                               decision["decision"] != "allow",
                                               decision["campaign"], ev.ts, cohorts)
        if ev.ts - self._accounts_pruned_at > self.prune_accounts_every:
            self._prune_accounts(ev.ts)
        if not transitions:
            return [decision]
        return [decision, *({"breaker": t} for t in transitions)]

    def _observe_burst(self, ev: Event, name: NameSignal, score: float
                       ) -> tuple[float, str] | None:
        """Count a new project's name in the burst window (every name counts, members or
        not; a release's name does not join it) and answer a member's burst, if any:
        its raised score and its reason."""
        created = ev.type == "project.created"
        if self.bursts is None or not (created or name.burst_member or name.pair_member):
            return None
        canonical = name.normalized or canonical_name(ev.project or "")
        if canonical is None:
            return None
        burst = self.bursts.observe(canonical, ev.ts, score if name.burst_member else None,
                                    register=created,
                                    pair_score=score if name.pair_member else None)
        return None if burst is None else (burst.score, burst.reason)

    def _observe_echo(self, ev: Event, name: NameSignal, score: float
                      ) -> tuple[float, str] | None:
        """An echo candidate's echo, if any (``detector.names.echoes``): its raised score
        and its reason; a new project's name scoring at least ``echo_min_score`` (before
        any echo) is kept as a twin."""
        if self.echoes is None or not (name.echo_candidate
                                       or score >= self.policy.names.echo_min_score):
            return None
        canonical = name.normalized or canonical_name(ev.project or "")
        if canonical is None:
            return None
        echo = self.echoes.observe(canonical, ev.ts, score, name.echo_candidate,
                                   register=ev.type == "project.created")
        return None if echo is None else (echo.score, echo.reason)

    def _lifted(self, score: float, flagged: bool, reason: str,
                found: tuple[float, str] | None) -> tuple[float, bool, str]:
        """A name's score, flag and reason after a window rule's raise (``found``: the
        raised score and its reason, or None for no change)."""
        if found is None:
            return score, flagged, reason
        raised, why = found
        return (raised, flagged or raised >= self.policy.names.flag_threshold,
                f"{reason}; {why}" if reason else why)

    def _recent_attack(self, ev: Event, name: NameSignal, score: float
                       ) -> tuple[float, str] | None:
        """The raise of a look-alike whose target known malicious names squatted in the days
        before (``detector.names.attacks``): its raised score and its reason."""
        if self.attacks is None or name.target is None:
            return None
        squats = self.attacks.target_squats(name.target, ev.ts)
        attack = self.attacks.judge(name.target, squats, score, ev.ts)
        return None if attack is None else (attack.score, attack.reason)

    def _cohorts(self, ev: Event) -> tuple[str, ...]:
        """The breaker cohorts of an event (e-mail domain: the account's)."""
        account = self.accounts.get(ev.username)
        name = self.names.get(ev.project) if ev.project else None
        target = name.target if name is not None and name.flagged else None
        return event_cohorts(account.domain if account else None, ev.ip, ev.project, target,
                             ev.username)

    def prime_names(self, events: Iterable[dict[str, Any]]) -> None:
        """Check the project names of upcoming events in one batch (pure, so still causal)."""
        names = []
        for event in events:
            project = event.get("project") if isinstance(event, dict) else None
            name = project.get("name") if isinstance(project, dict) else None
            if isinstance(name, str) and name.strip():
                names.append(name.strip())
        self.names.prime(names)

    def relabels(self) -> tuple[dict[str, str], dict[str, str]]:
        """What the last ``process`` changed in campaigns other than its own event's:
        earlier events that joined a campaign (event id -> campaign id: a flood's first
        events, a burst window's arrivals) and campaign ids merged into another
        (old id -> surviving id). A service that stored earlier answers relabels them."""
        store = self.campaign_store
        current = self.last_event_id
        moved = {event_id: store.record(number).id for event_id, number in store.moved.items()
                 if event_id != current}
        renamed = {}
        for number in store.merged:
            old = store.name_of(number)
            new = store.record(number).id
            if old != new:
                renamed[old] = new
        return moved, renamed

    def clear(self, campaign: str | None = None, account: str | None = None,
              accounts: Iterable[str] = ()) -> int:
        """A benign verdict: unlink a campaign's members (or one account) at once.

        The accounts lose their link (their next events carry no campaign-account
        signal), and the campaign's cohort keys stop linking later arrivals and tails
        for ``tail_days`` (their bursts are not even evidence then). The campaign record
        stays for the record. ``account``/``accounts``: members judged benign one by one
        (their link only). Returns how many accounts were unlinked. A caller that shares
        the stream state (the service) must log the verdict in the stream, so that a
        replay clears at the same point.
        """
        store = self.campaign_store
        unlinked = 0
        if campaign is not None:
            root = next((c.number for c in store.all() if c.id == campaign), None)
            if root is None:
                raise KeyError(f"no campaign {campaign!r}")
            for name in store.record(root).accounts:
                state = self.accounts.get(name)
                if state is not None and state.campaign is not None \
                        and store.find(state.campaign) == root:
                    state.campaign, state.link, state.link_site = None, 0.0, False
                    state.cohort = None  # nor the broad sign-up burst it came in
                    unlinked += 1
            now = self.clock.now
            for key, key_state in self.tracker.keys.items():
                if not isinstance(key_state, tuple) and key_state.campaign is not None \
                        and store.find(key_state.campaign) == root:
                    key_state.campaign = None
                    key_state.burst_at = -math.inf
                    self.cleared_keys[key] = now
        for name in ([account] if account is not None else []) + list(accounts):
            state = self.accounts.get(name)
            if state is not None and state.campaign is not None:
                state.campaign, state.link, state.link_site = None, 0.0, False
                state.cohort = None
                unlinked += 1
        return unlinked

    def campaigns(self, max_members: int | None = None) -> list[dict[str, Any]]:
        """Every campaign so far, oldest first."""
        return [c.to_dict(max_members) for c in self.campaign_store.all()]

    def stats(self) -> dict[str, float]:
        """Name checks and code scans computed so far and their CPU seconds, wherever
        they ran (``score_lines`` computes them in a worker process)."""
        return self.signal_times.to_dict()

    # -- scoring ----------------------------------------------------------------------------

    def _prune_accounts(self, now: float) -> None:
        """Forget accounts whose state can no longer change a decision.

        An account with no signal of its own (score 0), no campaign, created (if in
        the stream) long enough ago to be neither young nor recently created, and
        with no event within the longest cohort window, is answered exactly as an
        account first seen now: ``AccountState()`` (created before the stream,
        established). Its next event recreates it; and no bursting key can list it
        among its window's arrivals without that event having recreated it first.
        """
        self._accounts_pruned_at = now
        old = max(self.cfg.recent_account_days * DAY, self.cfg.young_account_hours * HOUR)
        quiet = now - self.tracker.long_window
        stale = []
        for name, account in self.accounts.items():
            created = account.created
            if created is not None and (now - created <= old or created >= quiet):
                continue  # most accounts held: created recently
            if (account.score != 0.0 or account.campaign is not None
                    or account.flood_campaign is not None):
                continue
            recent = account.recent
            if recent and recent[-1] >= quiet:
                continue
            stale.append(name)
        for name in stale:
            del self.accounts[name]

    def _score(self, ev: Event) -> dict[str, Any]:
        cfg = self.cfg
        signals: list[Signal] = []
        self.findings_for_last_event = []
        prefix = _SCOPE_PREFIX[ev.type]
        self._signup_key = None
        if ev.type == "account.created":
            account = self._new_account(ev, signals)
            keys = self._account_keys(ev, account)
            distinct = False
        else:
            known = self.accounts.get(ev.username)
            if known is None:
                # Created before the stream began: age unknown, treated as established.
                known = self.accounts[ev.username] = AccountState()
            account = known
            keys = self._project_signals(ev, account, signals, prefix)
            distinct = True
        verdicts = self.tracker.observe(prefix, keys, ev.ts, ev.username, ev.id, distinct)
        linked, traits, fresh_link = self._link(ev, account, verdicts, signals)
        warmth = self.tracker.warmth(ev.ts)
        if warmth < 1.0:
            hours = self.tracker.observed_hours(ev.ts)
            signals.append(Signal(
                "warming-up", 0.0,
                f"baseline warming up: {hours:.0f} of {self.tracker.min_history / HOUR:g} h "
                f"of history; burst signals damped"))
        # Only fresh evidence (a burst, a tail) makes campaign membership alone reviewable;
        # an account's older link speaks through its (decaying) campaign-account signal.
        result = decide(signals, cfg, campaign=fresh_link)
        campaign_id = None
        if linked is not None:
            # A crowd grouped only through its site is kept (``campaigns()`` lists it, with
            # its evidence) but its events are not labelled campaign members: membership in
            # an organisation's crowd is not enough on its own (issue 16).
            site_only = not fresh_link and account.link_site
            self.campaign_store.add_member(linked, ev.ts, ev.id, ev.username, ev.project,
                                           ev.type, None, journal=not site_only)
            record = self.campaign_store.record(linked)
            record.traits.update(traits)
            campaign_id = None if site_only else record.id
        return {
            "id": ev.id,
            "score": round(result.score, 4),
            "decision": result.decision,
            "reasons": result.reasons,
            "campaign": campaign_id,
            "signals": [s.to_dict() for s in result.signals],
            "findings": self.findings_for_last_event,
        }

    def _new_account(self, ev: Event, signals: list[Signal]) -> AccountState:
        cfg = self.cfg
        domain = acc_signals.email_domain(ev.email)
        if domain is not None:
            domain = sys.intern(domain)  # one string per domain, not one per account
        account = AccountState(created=ev.ts, domain=domain)
        if domain and acc_signals.is_disposable(domain):
            signals.append(Signal("disposable-email", cfg.disposable_email,
                                  f"throwaway email domain {domain}"))
        machine, why = acc_signals.machine_username_score(ev.username)
        if machine > cfg.machine_username_min:
            signals.append(Signal("machine-username", cfg.machine_username * machine, why))
        posing, why = acc_signals.impersonation_score(ev.username, ev.email, self._popular)
        if posing > 0:
            signals.append(Signal("impersonation", cfg.impersonation * posing, why))
        account.score = noisy_or(s.score for s in signals)
        account.reasons = tuple(s.reason for s in signals if s.score >= cfg.account_reason_min)
        self.accounts[ev.username] = account
        return account

    def _account_keys(self, ev: Event, account: AccountState) -> dict[str, str]:
        template = shape(ev.username)
        keys = {f"a|ushape:{template}": f"username template {template!r}"}
        if account.domain:
            keys[f"a|domain:{account.domain}"] = f"email domain {account.domain}"
            registrable = acc_signals.registrable_domain(account.domain)
            if registrable != account.domain:
                keys[f"a|regdomain:{registrable}"] = f"email domain *.{registrable}"
        if (mailbox := acc_signals.mailbox_key(ev.email)) is not None:
            keys[f"a|mailbox:{mailbox}"] = f"one mailbox {mailbox}"
            provider = acc_signals.provider_of(account.domain or "")
            if provider != account.domain:
                keys[f"a|provider:{provider}"] = f"email provider {provider}"
        if ev.ip and (prefix := _ip_prefix(ev.ip)):
            keys[f"a|ip:{prefix}"] = f"IP range {prefix}"
        if ev.user_agent:
            keys[f"a|ua:{ev.user_agent[:200]}"] = f"user agent {ev.user_agent[:60]!r}"
        domain = account.domain
        if domain and (acc_signals.provider_of(domain) != domain
                       or acc_signals.is_disposable(domain)):
            # Traits a wave shares inside one mail provider's sign-ups (``within_cohorts``):
            # its client (one user agent, or none) and its username template.
            client = ev.user_agent[:200] if ev.user_agent else "-"
            said = f"user agent {ev.user_agent[:60]!r}" if ev.user_agent else "no user agent"
            keys[f"a|client:{domain}/{client}"] = f"sign-ups on {domain} with {said}"
            template = coarse_shape(ev.username)
            self._signup_key = f"a|signup:{domain}/{client}/{template}"
            keys[self._signup_key] = \
                f"sign-ups on {domain} with {said} and username template {template!r}"
        return keys

    def _project_signals(self, ev: Event, account: AccountState, signals: list[Signal],
                         prefix: str) -> dict[str, str]:
        cfg = self.cfg
        keys: dict[str, str] = {}
        if account.score > 0:
            signals.append(Signal("account", cfg.account_carry * account.score,
                                  "account: " + "; ".join(account.reasons)
                                  if account.reasons else ""))
        young = (account.created is not None
                 and ev.ts - account.created <= cfg.young_account_hours * HOUR)
        if young:
            assert account.created is not None
            hours = (ev.ts - account.created) / HOUR
            signals.append(Signal("young-account", cfg.young_account,
                                  f"account created {hours:.0f} h earlier"))
            if not account.recent_events and ev.type == "project.created":
                keys[f"{prefix}|young-first"] = "first projects of accounts under " \
                                                f"{cfg.young_account_hours} h old"
        if ev.project:
            name = self.names.get(ev.project)
            score, flagged, reason = name.score, name.flagged, name.reason
            if name.sweep_target is not None and name.normalized is not None:
                # Other names imitating the same target in the window (detector.sweeps).
                sweep = self.sweeps.observe(name.normalized, name.sweep_target, score, ev.ts,
                                            register=ev.type == "project.created")
                if sweep is not None:
                    score, flagged, reason = self._lifted(score, flagged, reason,
                                                          (sweep.score, sweep.reason))
            # In a batch's order: a burst on top of any sweep, then an echo, a recent attack
            # last; each on the score so far.
            for rule in (self._observe_burst, self._observe_echo, self._recent_attack):
                score, flagged, reason = self._lifted(score, flagged, reason,
                                                      rule(ev, name, score))
            if flagged:
                signals.append(Signal("name", cfg.name_squat * score, reason))
                if name.target:
                    keys[f"{prefix}|target:{name.target}"] = f"typosquats of {name.target!r}"
            if ev.type == "project.created":  # a release's name is not new
                if account.cohort is not None and not young:
                    # Accounts of one broad sign-up burst (a big provider's, not enough to
                    # link alone) that wake after their youth and create projects together:
                    # a sleeper's flood. Their burst is the second trait.
                    keys[f"{prefix}|cohort:{account.cohort}"] = \
                        "new projects of dormant accounts from one sign-up burst"
                if account.campaign is not None:
                    # A campaign's accounts creating projects together again (a sleeper's
                    # flood weeks after its sign-ups) is fresh evidence of the wave.
                    wave = self.campaign_store.record(account.campaign).id
                    keys[f"{prefix}|campaign:{wave}"] = f"new projects of campaign {wave}"
                template = name_shape(ev.project)
                keys[f"{prefix}|pshape:{template}"] = f"project-name template {template!r}"
                head = name_head(ev.project)
                keys[f"{prefix}|phead:{head}"] = f"project-name family {head!r}"
        if ev.files:
            digest = files_hash(ev.files, ev.project)
            keys[f"{prefix}|files:{digest}"] = f"identical files ({digest})"
            size = sum(len(text.strip()) for text in ev.files.values())
            if size < cfg.empty_project_chars:
                signals.append(Signal("empty-project", cfg.empty_project,
                                      f"project files hold only {size} characters"))
            code = self.code.get(ev.files) if self._scan_code(account, ev.ts) else None
            if code is not None:
                self.findings_for_last_event = code.findings
                found = code_signal(code, cfg)
                if found is not None:
                    signals.append(found)
        if (digest := text_hash(ev.summary)) is not None:
            keys[f"{prefix}|summary:{digest}"] = "identical summary"
        if ev.version:
            keys[f"{prefix}|version:{ev.version}"] = f"version {ev.version}"
        self._flood(ev, account, young or self._recently_created(account, ev.ts), signals)
        return keys

    def _scan_code(self, account: AccountState, now: float) -> bool:
        """Whether to run the code scanner on this event's files (policy ``scan_code``)."""
        mode = self.cfg.scan_code
        return mode == ScanCode.ALL or (mode == ScanCode.YOUNG
                                        and self._recently_created(account, now))

    def _recently_created(self, account: AccountState, now: float) -> bool:
        return (account.created is not None
                and now - account.created <= self.cfg.recent_account_days * DAY)

    def _flood(self, ev: Event, account: AccountState, young: bool,
               signals: list[Signal]) -> None:
        """One young account creating projects far faster than people do."""
        cfg = self.cfg
        recent, recent_events = account.recent, account.recent_events
        if recent is None or recent_events is None:
            recent = account.recent = []
            recent_events = account.recent_events = []
        recent.append(ev.ts)
        recent_events.append(ev.id)
        if len(recent) > 400:
            del recent[:200], recent_events[:200]
        if not young:
            return
        hour = sum(1 for t in recent[-cfg.flood_per_hour:] if t >= ev.ts - HOUR)
        day = sum(1 for t in recent[-cfg.flood_per_day:] if t >= ev.ts - DAY)
        if hour < cfg.flood_per_hour and day < cfg.flood_per_day:
            return
        reason = (f"one new account created {hour} projects in 1 h" if
                  hour >= cfg.flood_per_hour else
                  f"one new account created {day} projects in 24 h")
        signals.append(Signal("account-flood", cfg.account_flood, reason))
        if account.flood_campaign is None:
            number = self.campaign_store.new(ev.ts, ev.id)
            account.flood_campaign = number
            for event_id in recent_events[:-1]:
                self.campaign_store.add_member(number, ev.ts, event_id, ev.username,
                                               None, None, reason)
            # (a link through a site only gives way: the site's crowd is not merged in)
            account.campaign = (number if account.campaign is None or account.link_site
                                else self.campaign_store.union([account.campaign, number]))
            account.link, account.linked_at, account.link_site = 1.0, ev.ts, False

    def _is_site(self, key: str, kind: str) -> bool:
        """Whether a cohort key names an organisation's site: one of ``site_cohorts``, and
        for an e-mail domain, an organisation's own (not a mail provider's, not a
        throwaway one: anyone can open many mailboxes there, not here)."""
        if kind not in self._site:
            return False
        if kind in ("domain", "regdomain"):
            domain = key.split(":", 1)[1]
            return (acc_signals.provider_of(domain) == domain
                    and not acc_signals.is_disposable(domain))
        return True

    def _link(self, ev: Event, account: AccountState, verdicts: list[KeyVerdict],
              signals: list[Signal]) -> tuple[int | None, list[str], bool]:
        """Campaign links of this event: bursting keys, campaign tails, its account.

        A link carries its evidence (``AccountState.link_site``): a burst of a trait the
        wave shares links; a burst of an organisation's own traits (its e-mail domain,
        its network, and what its members share there: ``site_explains``) links too,
        but weakly (``site_link``) and is weak evidence (``site_burst``): a classroom, a
        sprint or an onboarding is such a crowd. A key common in its own baseline (over
        A template shared by many unrelated people (``paired_cohorts``: a username shape,
        a browser) links only with a second trait of the event bursting with it (alone,
        its burst window holds bystanders). Weak cohort
        evidence (broad and site bursts) counts once, at its strongest.
        """
        cfg = self.cfg
        store = self.campaign_store
        traits: list[str] = []
        threshold = self.tracker.threshold
        broad = self._broad
        warming: KeyVerdict | None = None
        individual = noisy_or(s.score for s in signals)  # before any cohort signal
        weak: list[Signal] = []
        cleared = self.cleared_keys
        bursts: list[tuple[KeyVerdict, str]] = []
        tails: list[tuple[KeyVerdict, str]] = []
        for v in verdicts:
            state = v.state
            if cleared and v.key in cleared:
                if ev.ts - cleared[v.key] <= cfg.tail_days * DAY:
                    continue  # judged benign by a moderator
                del cleared[v.key]
            if v.bursting and v.warmth < 1.0:
                # A baseline still warming up: its bursts are weak evidence (the most
                # surprising one counts, as a broad cohort's would) and link nothing.
                if warming is None or v.surprise > warming.surprise:
                    warming = v
                continue
            kind = v.key.split("|", 1)[1].split(":", 1)[0]
            # A key that linked a wave within link_half_life_days and bursts again is that
            # wave again, however common its own history (the wave's first burst) made it.
            returning = (state.campaign is not None
                         and ev.ts - state.burst_at <= cfg.link_half_life_days * DAY)
            if v.bursting and (kind in broad or (kind in self._common and not returning
                                                 and v.expected_day >= cfg.broad_key_per_day)):
                # A broad cohort (all young accounts, a whole mail provider, an e-mail
                # domain as common as hotmail.com, version 0.0.1) bursting is evidence, not
                # membership: it holds too many bystanders to link through.
                weak.append(Signal(
                    "broad-burst", cfg.broad_burst,
                    f"{state.description}: {v.count} in {_fmt_window(v.window)} "
                    f"(baseline expects {v.expected:.2f})"))
                if ev.type == "account.created" and account.cohort is None:
                    episode = self.broad_episodes.get(v.key)
                    fresh = episode is None or ev.ts - episode > cfg.tail_days * DAY
                    if fresh:
                        episode = self.broad_episodes[v.key] = ev.ts
                    account.cohort = cohort = sys.intern(f"{v.key}@{episode:.0f}")
                    if fresh:  # the burst window's earlier arrivals are of it too
                        for name in self.tracker.window_members(state, ev.ts, v.window)[0]:
                            other = self.accounts.get(name)
                            if other is not None and other.cohort is None:
                                other.cohort = cohort
                continue
            if v.bursting and kind in self._within:
                # A trait inside one mail provider's sign-ups links only when the burst
                # holds more of it than the provider's own mix explains (a benign crowd on
                # the provider brings the provider's usual clients and names), and adopts
                # the arrivals of the narrowest window where it does.
                narrow = self.tracker.within(v.key, f"a|domain:{account.domain}", ev.ts,
                                             cfg.within_surprise) if account.domain else None
                if narrow is None:
                    continue
                v = replace(v, window=narrow[0], count=narrow[1])
                if v.window > cfg.within_link_minutes * 60:
                    # Over-represented only over days (a slow wave, or the days after a
                    # fast one): evidence, not a link (it would adopt later bystanders).
                    signals.append(_burst_signal(v, threshold, cfg))
                    continue
            if v.bursting:
                bursts.append((v, kind))
            elif (state.campaign is not None
                  and ev.ts - state.burst_at <= cfg.tail_days * DAY
                  and v.expected_day <= cfg.tail_max_per_day):
                tails.append((v, kind))
        site_link = (account.campaign is not None and account.link_site
                     and ev.type != "account.created")
        # An organisation's mail domain bursts as itself; a registrable domain bursting
        # over addresses that each use a new subdomain is a rotation, not a site.
        own_domain = any(kind == "domain" for _, kind in bursts)
        bursts_site = {v.key: self._is_site(v.key, kind)
                       and (kind != "regdomain" or own_domain) for v, kind in bursts}
        sited = site_link or any(bursts_site.values())
        # Links through the wave's own traits (strong) and through a site's (weak); the
        # two are never merged into one campaign through this event.
        strong_links: list[int] = []
        site_links: list[int] = []
        # The site's own traits, what its members share there (one browser image in one
        # network), and the bursts of a crowd linked only through its site.
        site_of = {v.key: bursts_site[v.key] or (sited and (
            kind in self._site_explains or site_link)) for v, kind in bursts}
        for v, kind in tails:
            site_of[v.key] = self._is_site(v.key, kind) or site_link
        # A template links only beside a second trait of the wave (not of a site).
        shared = sum(1 for site in site_of.values() if not site)
        windows: dict[str, set[str]] = {}
        if shared >= 2:
            for v, _ in bursts:
                if not site_of[v.key]:
                    windows[v.key] = set(
                        self.tracker.window_members(v.state, ev.ts, v.window)[0])
        for v, kind in bursts:
            state = v.state
            site = site_of[v.key]
            if site:
                weak.append(Signal("site-burst", cfg.site_burst, _burst_reason(v)))
            else:
                signals.append(_burst_signal(v, threshold, cfg))
            paired = kind in self._paired
            if paired and shared < 2:
                continue  # a template alone: evidence, not a link
            fresh = state.campaign is None or ev.ts - state.burst_at > cfg.tail_days * DAY
            if fresh:
                state.campaign = store.new(ev.ts, ev.id)
                others: set[str] | None = None
                if paired:
                    others = set().union(*(m for k, m in windows.items() if k != v.key))
                self._adopt_window(state, v, ev.ts, site, others)
            state.burst_at = ev.ts
            assert state.campaign is not None
            (site_links if site else strong_links).append(state.campaign)
            traits.append(state.description)
        for v, kind in tails:
            if (kind in self._paired or kind in self._tail_paired) and shared < 2:
                continue  # a template alone: no tail either
            state = v.state
            assert state.campaign is not None
            site = site_of[v.key]
            reason = f"shares {state.description} with an earlier wave"
            if site:
                weak.append(Signal("campaign-tail", cfg.site_burst, reason))
            else:
                signals.append(Signal("campaign-tail", cfg.campaign_member, reason))
            (site_links if site else strong_links).append(state.campaign)
            traits.append(state.description)
        if not strong_links and self._signup_key is not None:
            joined = self._signup_tail(ev, self._signup_key)
            if joined is not None:
                number, members = joined
                description = self.tracker.keys[self._signup_key]
                assert not isinstance(description, tuple)
                signals.append(Signal(
                    "campaign-tail", cfg.campaign_member,
                    f"shares {description.description} with {members} accounts of campaign "
                    f"{store.record(number).id} in {_fmt_window(self.tracker.long_window)}"))
                strong_links.append(number)
                traits.append(description.description)
        if warming is not None:
            signals.append(Signal(
                "burst", cfg.broad_burst * warming.warmth,
                f"{warming.state.description}: {warming.count} in "
                f"{_fmt_window(warming.window)} (baseline expects {warming.expected:.2f}); "
                f"damped, baseline warming up"))
        strong, fresh_site = bool(strong_links), bool(site_links)
        if account.campaign is not None:
            strength = self._account_link(ev, account, individual)
            if strength > 0.0:
                if ev.type != "account.created":
                    # through its site only: weak cohort evidence (counted once, below)
                    (weak if account.link_site else signals).append(Signal(
                        "campaign-account", cfg.campaign_member * strength,
                        f"account belongs to campaign {store.record(account.campaign).id}"
                        + ("" if strength >= 1.0 else f" (link {strength:.2f})")
                        + (" through its site" if account.link_site else "")))
                (site_links if account.link_site else strong_links).append(account.campaign)
        if weak:
            signals.append(max(weak, key=lambda s: s.score))
        linked = strong_links or site_links
        if not linked:
            return None, traits, False
        root = store.union(linked)
        account.campaign = root
        if strong:
            account.link, account.linked_at, account.link_site = 1.0, ev.ts, False
        elif fresh_site and (account.link_site or account.link < cfg.site_link):
            account.link, account.linked_at, account.link_site = cfg.site_link, ev.ts, True
        # Only a link through the wave's own traits makes membership alone reviewable.
        return root, traits, strong

    def _signup_tail(self, ev: Event, key: str) -> tuple[int, int] | None:
        """A slow wave's later sign-up: the campaign holding at least
        ``signup_tail_members`` of the accounts that shared this sign-up's template key
        (mail domain, client, username template) within the longest cohort window, each
        linked to it through the wave's own traits. (campaign number, members) or None."""
        state = self.tracker.keys.get(key)
        if not isinstance(state, KeyState):
            return None
        store = self.campaign_store
        members = self.tracker.window_members(state, ev.ts, self.tracker.long_window)[0]
        roots: dict[int, int] = {}
        for name in set(members):
            other = self.accounts.get(name)
            if (name == ev.username or other is None or other.campaign is None
                    or other.link_site or other.link < self.cfg.link_min_strength):
                continue
            root = store.find(other.campaign)
            roots[root] = roots.get(root, 0) + 1
        if not roots:
            return None
        root, count = max(roots.items(), key=lambda item: item[1])
        if count < self.cfg.signup_tail_members or 3 * count < 2 * len(set(members)):
            return None  # the wave is not most of the key's recent sign-ups
        # A key common in its own history is shared by anyone: no tail through it.
        if self.tracker.per_day(state, ev.ts) > self.cfg.signup_tail_max_per_day:
            return None
        return root, count

    def _account_link(self, ev: Event, account: AccountState, individual: float) -> float:
        """How strongly ``account`` still belongs to its campaign, at this event.

        The link was 1 when evidence last tied the account to the wave (a burst, a tail,
        a flood). It halves every ``link_half_life_days``, and a release of an existing
        project that carries no evidence of its own (individual signals at most
        ``benign_activity_max``) multiplies it by ``link_benign_decay``: a classroom's
        students keep releasing their first package for weeks, a sleeper's accounts
        create new projects. Below ``link_min_strength`` the link is cleared (0).
        """
        cfg = self.cfg
        age_days = max(0.0, ev.ts - account.linked_at) / DAY
        strength = account.link * 0.5 ** (age_days / cfg.link_half_life_days)
        if ev.type == "release.uploaded" and individual <= cfg.benign_activity_max:
            strength *= cfg.link_benign_decay
        if strength < cfg.link_min_strength:
            account.campaign, account.link = None, 0.0
            return 0.0
        account.link, account.linked_at = strength, ev.ts
        return strength

    def _adopt_window(self, state: Any, verdict: KeyVerdict, now: float, site: bool,
                      others: set[str] | None) -> None:
        """A key just burst: its arrivals in the burst window join the campaign (only
        those in ``others`` too, when given: a common key's arrivals that share a second
        bursting trait). Through a site's trait the link is weak (``site_link``)."""
        store = self.campaign_store
        members, events = self.tracker.window_members(state, now, verdict.window)
        number = state.campaign
        cfg = self.cfg
        for username, event_id in zip(members, events, strict=True):
            if others is not None and username not in others:
                continue
            other = self.accounts.get(username)
            if other is not None and other.campaign is not None and other.link_site != site:
                if site:
                    continue  # linked through the wave's own traits: stays there
                other.campaign = None  # a site's link gives way, the campaigns stay apart
            store.add_member(number, now, event_id, username, None, None, state.description,
                             journal=not site)
            if other is None:
                continue
            if other.campaign is None:
                other.campaign = number
            else:
                number = store.union([number, other.campaign])
                other.campaign = number
            if not site:
                other.link, other.linked_at, other.link_site = 1.0, now, False
            elif other.link_site or other.link < cfg.site_link:
                other.link, other.linked_at, other.link_site = cfg.site_link, now, True
        state.campaign = store.find(number)


def _batch_needs(scorer: StreamScorer, items: list[tuple[int, Any, str | None]],
                 fresh: dict[str, float]) -> tuple[list[str], list[tuple[str, dict[str, str]]]]:
    """Names and file sets of a batch that the scorer's caches do not hold yet.

    ``fresh`` collects the accounts created in the stream so far (batches ahead
    of the scorer included), for ``scan_code = "young"``.
    """
    names: dict[str, None] = {}
    files: dict[str, dict[str, str]] = {}
    mode = scorer.cfg.scan_code
    for _, item, error in items:
        if error is not None or not isinstance(item, dict):
            continue
        account = item.get("account")
        username = account.get("username") if isinstance(account, dict) else None
        project = item.get("project")
        if not isinstance(project, dict):
            continue
        name = project.get("name")
        if isinstance(name, str):
            name = name.strip()
            if name and name not in scorer.names:
                names[name] = None
        body = project.get("files")
        if mode == ScanCode.NONE or (mode == ScanCode.YOUNG and not _maybe_young(
                item, username, fresh, scorer.cfg.recent_account_days * DAY)):
            continue
        if isinstance(body, dict) and body and all(
                isinstance(k, str) and isinstance(v, str) for k, v in body.items()):
            digest = exact_hash(body)
            if digest not in scorer.code:
                files.setdefault(digest, body)
    return list(names), list(files.items())


def _maybe_young(item: dict[str, Any], username: Any, fresh: dict[str, float],
                 recent: float) -> bool:
    """Whether an upload's account was created in the stream within ``recent`` seconds."""
    created = fresh.get(username.strip()) if isinstance(username, str) else None
    if created is None:
        return False
    try:
        return parse_ts(item.get("ts")) - created <= recent
    except ValueError:
        return False


class _FullCollectionsPaused:
    """Garbage-collector pacing while streams are scored.

    A full (oldest-generation) collection walks every container object alive,
    and the scorer's state (accounts, cohort keys, cached signals) grows with the
    stream: left to the allocation counters, a 365-day stream paid ~30 of them,
    8-9 s of CPU; the younger generations, run every 700 allocations, kept walking
    the two batches of decoded events in flight (~1.5 s more). While any
    ``score_lines`` runs (nested or concurrent runs share one setting), the
    oldest generation is collected only every ``COLLECT_EVERY`` events and the
    youngest every 50,000 allocations; objects without reference cycles are
    freed at once as always. The process's thresholds come back when the last
    run ends (a process that turned collection off, threshold 0, keeps it off).
    """

    COLLECT_EVERY = 250_000
    THRESHOLDS = (50_000, 20, 1_000_000_000)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self.saved: tuple[int, ...] = gc.get_threshold()

    def __enter__(self) -> _FullCollectionsPaused:
        with self._lock:
            if self._users == 0:
                self.saved = gc.get_threshold()
                if self.saved[0] > 0:
                    gc.set_threshold(*self.THRESHOLDS)
            self._users += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                gc.set_threshold(*self.saved)


_GC_PAUSE = _FullCollectionsPaused()


def _start_worker() -> Any:
    """One worker process for the pure signals, or None on a single core."""
    if (os.cpu_count() or 1) < 2:
        return None
    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        return None
    # The worker keeps the process's own collection thresholds (see _FullCollectionsPaused).
    return ProcessPoolExecutor(
        max_workers=1, mp_context=context,
        initializer=gc.set_threshold, initargs=_GC_PAUSE.saved)  # type: ignore[arg-type]


def score_lines(lines: Iterable[str], policy: Policy | None = None,
                scorer: StreamScorer | None = None, batch: int = 2000,
                parallel: bool = True) -> Iterator[dict[str, Any]]:
    """Score JSON Lines text: one output object per non-blank input line, in order.

    A line that cannot be scored yields ``{"line": N, "id": ..., "error": ...}``
    and the rest of the stream is still scored. Breaker lines follow the event
    that caused them. On long inputs (at least one full batch) the name and code
    signals of each batch are computed in a worker process, the next batch's
    while this one is scored; they are pure, so the answers do not change (and
    this process never loads the name index or the code model).
    """
    scorer = scorer or StreamScorer(policy)
    queue: deque[tuple[list[tuple[int, Any, str | None]], Any]] = deque()
    worker = None
    young_only = scorer.cfg.scan_code == ScanCode.YOUNG
    created: dict[str, float] = {}  # for scan_code = "young" only
    newest = -math.inf

    def finish(items: list[tuple[int, Any, str | None]], future: Any
               ) -> Iterator[dict[str, Any]]:
        if future is not None:
            names, code, times = future.result()
            scorer.names.store(names)
            scorer.code.store(code)
            scorer.signal_times.add(times)
        else:
            scorer.prime_names(item for _, item, err in items if err is None)
        for number, item, error in items:
            if error is not None:
                yield {"line": number, "id": None, "error": error}
                continue
            try:
                yield from scorer.process(item)
            except EventError as exc:
                yield {"line": number, "id": exc.event_id, "error": str(exc)}

    def note_accounts(items: list[tuple[int, Any, str | None]]) -> None:
        """Creation times of the batch's new accounts (for scan_code = "young"), and
        only the recent ones: older ones no longer count as young."""
        nonlocal newest
        for _, item, error in items:
            if error is None and isinstance(item, dict) and item.get("type") == "account.created":
                account = item.get("account")
                username = account.get("username") if isinstance(account, dict) else None
                if isinstance(username, str):
                    with suppress(ValueError):
                        created[username.strip()] = ts = parse_ts(item.get("ts"))
                        newest = max(newest, ts)
        if len(created) > 50_000:
            stale = [name for name, ts in created.items()
                     if ts < newest - (scorer.cfg.recent_account_days + 1) * DAY]
            for name in stale:
                del created[name]

    def submit(items: list[tuple[int, Any, str | None]], full: bool
               ) -> Iterator[dict[str, Any]]:
        nonlocal worker
        future = None
        if young_only:
            note_accounts(items)
        if parallel and (worker is not None or full or queue):
            if worker is None:
                worker = _start_worker()
            if worker is not None:
                names, files = _batch_needs(scorer, items, created)
                future = worker.submit(compute_batch, scorer.policy, names, files)
        queue.append((items, future))
        if len(queue) > 1:
            yield from finish(*queue.popleft())

    pending: list[tuple[int, Any, str | None]] = []
    finished = False
    scored = 0
    with _GC_PAUSE:
        try:
            for number, line in enumerate(lines, start=1):
                if not line or line.isspace():  # blank (as line.strip() == "", without a copy)
                    continue
                try:
                    pending.append((number, json.loads(line), None))
                except json.JSONDecodeError as exc:
                    pending.append(
                        (number, None, f"not valid JSON: {exc.msg} at column {exc.colno}"))
                if len(pending) >= batch:
                    yield from submit(pending, full=True)
                    pending = []
                    scored += batch
                    if scored % _GC_PAUSE.COLLECT_EVERY < batch:
                        gc.collect()
            if pending:
                yield from submit(pending, full=False)
            while queue:
                yield from finish(*queue.popleft())
            finished = True
        finally:
            if worker is not None:
                worker.shutdown(wait=finished, cancel_futures=not finished)

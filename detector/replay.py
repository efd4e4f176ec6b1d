"""Replay a recorded event stream under a policy: when would the breaker have paused?

``replay(events, policy, labels)`` scores the stream exactly as
``warden score`` does and returns the timeline of pauses per scope (start,
end, reasons) and, when ground-truth labels are given, what the policy cost
and caught: false trips, campaign events let through, legitimate
registrations held by a pause.

The breaker is the service's own (``detector.breaker``, the ``[breaker]`` keys
the service enforces): an automatic trip lapses after ``auto_trip_minutes``
since nobody confirms it in a replay, and every reopening re-arms it, so a wave
that goes on trips it again.

Labels are JSON Lines ``{"id": ..., "campaign": "<name>" or null}`` (the
format ``warden simulate --labels`` writes); events without a label count as
legitimate. With a ``kind`` in the labels (baseline, ``crowd-<type>``, the campaign
shape) the cost is also reported per kind (``by_kind``): events, events refused by a
pause (by a whole event type's, or by a cohort's: ``detector.breaker_scope``) and, for
campaign events, those admitted. An event counts as refused when its scope, or a cohort
of it that it belongs to, is paused once it is scored (the what-if keeps the stream as
recorded: a refused sign-up's later projects are still replayed).

``collateral`` replays a stream twice, with cohort scopes (the policy's
``cohort_kinds``) and with whole-type pauses only (none), and sets the two side by side
per kind: legitimate events refused and attack events let through.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from os import PathLike
from pathlib import Path
from typing import Any

from detector.breaker_scope import scope_key
from detector.policy import Policy, resolve
from detector.stream.events import format_ts, parse_ts
from detector.stream.scorer import StreamScorer, score_lines

# A pause is a true trip when at least this share of the flagged registrations
# in its scope over the lookback before it belong to labelled campaigns.
TRUE_TRIP_SHARE = 0.5


def _lines(source: Iterable[dict[str, Any]] | Iterable[str] | str | PathLike[str]
           ) -> Iterator[str]:
    if isinstance(source, str | PathLike):
        with open(Path(source), encoding="utf-8") as handle:
            yield from handle
        return
    for item in source:
        yield item if isinstance(item, str) else json.dumps(item)


def read_labels(source: Iterable[dict[str, Any]] | str | PathLike[str]) -> dict[str, str | None]:
    """Event id -> campaign name (None for legitimate events)."""
    labels: dict[str, str | None] = {}
    for number, line in enumerate(_lines(source), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            labels[str(row["id"])] = row.get("campaign")
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"labels line {number}: expected a JSON object with an 'id' "
                             f"({exc.__class__.__name__})") from None
    return labels


def read_kinds(source: Iterable[dict[str, Any]] | str | PathLike[str]) -> dict[str, str]:
    """Event id -> label kind, for labels that carry one."""
    kinds: dict[str, str] = {}
    for line in _lines(source):
        if line.strip():
            row = json.loads(line)
            if isinstance(row, dict) and row.get("kind"):
                kinds[str(row["id"])] = str(row["kind"])
    return kinds


def replay(events: Iterable[dict[str, Any]] | Iterable[str] | str | PathLike[str],
           policy: Policy | None = None,
           labels: Iterable[dict[str, Any]] | str | PathLike[str] | None = None,
           keep_decisions: bool = False) -> dict[str, Any]:
    """Score ``events`` under ``policy`` (default: shipped); the breaker timeline and, with
    labels, its cost."""
    truth = read_labels(labels) if labels is not None else None
    kinds = read_kinds(labels) if labels is not None else {}
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    scorer = StreamScorer(policy)
    lookback = scorer.breaker.policy.horizon
    open_since: dict[str, dict[str, Any]] = {}
    timeline: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    flagged_log: dict[str, list[tuple[float, bool]]] = {}
    held: Counter[str] = Counter()
    let_through = while_open = campaign_total = legit_held = 0
    errors = 0
    for out in score_lines(_lines(events), scorer=scorer):
        if "error" in out:
            errors += 1
            if keep_decisions:
                decisions.append(out)
            continue
        if "breaker" in out:
            _on_breaker(out["breaker"], open_since, timeline, flagged_log, lookback)
            continue
        counts[out["decision"]] += 1
        if keep_decisions:
            decisions.append(out)
        if truth is None:
            continue
        scope, ts = scorer.last_event_type, scorer.last_event_ts
        assert scope is not None and ts is not None  # an event was scored
        is_campaign = truth.get(out["id"]) is not None
        holder = scorer.breaker.holds(scorer.breaker_state, scope, scorer.last_event_cohorts)
        paused = holder is not None
        row = by_kind[kinds.get(out["id"]) or ("campaign" if is_campaign else "baseline")]
        row["events"] += 1
        row["campaign"] += is_campaign
        if paused:
            row["refused"] += 1
            row["refused by cohort" if holder != scope else "refused by type"] += 1
        elif is_campaign:
            row["admitted"] += 1
        if out["decision"] != "allow":
            # A pause's scope is the event type or one cohort of it (breaker_scope): a
            # cohort pause is judged on the flagged events of its own cohort.
            for key in (scope, *(scope_key(scope, c) for c in scorer.last_event_cohorts)):
                flagged_log.setdefault(key, []).append((ts, is_campaign))
        if is_campaign:
            campaign_total += 1
            if not paused:
                while_open += 1
                if out["decision"] == "allow":
                    let_through += 1
        elif paused:
            legit_held += 1
            held[holder or scope] += 1
    end = scorer.last_event_ts
    for pause in open_since.values():
        timeline.append({**pause, "end": None, "end_reason": "still paused at the end",
                         "hours": round((end - parse_ts(pause["start"])) / 3600, 2)
                         if end is not None else None})
    timeline.sort(key=lambda p: p["start"])
    result: dict[str, Any] = {
        "events": sum(counts.values()),
        "errors": errors,
        "decisions": dict(counts),
        "timeline": timeline,
        "pauses": dict(Counter(p["scope"] for p in timeline)),
        "paused_hours": {scope: round(sum(p["hours"] or 0 for p in timeline
                                          if p["scope"] == scope), 2)
                         for scope in {p["scope"] for p in timeline}},
        "campaigns": scorer.campaigns(max_members=20),
    }
    if truth is not None:
        result["false_trips"] = sum(1 for p in timeline if not p["true_trip"])
        result["campaign_events"] = campaign_total
        result["campaign_events_while_open"] = while_open
        result["campaign_events_let_through"] = let_through
        result["legitimate_events_held"] = legit_held
        result["legitimate_events_held_by_scope"] = dict(held)
        result["by_kind"] = {kind: dict(row) for kind, row in sorted(by_kind.items())}
    if keep_decisions:
        result["scored"] = decisions
    return result


def _on_breaker(line: dict[str, Any], open_since: dict[str, dict[str, Any]],
                timeline: list[dict[str, Any]], flagged_log: dict[str, list[tuple[float, bool]]],
                lookback: float) -> None:
    scope, at = line["scope"], line["at"]
    if line["state"] == "paused":
        start = parse_ts(at)
        recent = [c for ts, c in flagged_log.get(scope, []) if start - lookback <= ts <= start]
        share = (sum(recent) / len(recent)) if recent else 0.0
        open_since[scope] = {"scope": scope, "start": at, "reason": line["reason"],
                             "expires_at": line.get("expires_at"),
                             "campaign_share": round(share, 3),
                             "true_trip": share >= TRUE_TRIP_SHARE}
    elif scope in open_since:
        pause = open_since.pop(scope)
        hours = (parse_ts(at) - parse_ts(pause["start"])) / 3600
        timeline.append({**pause, "end": at, "end_reason": line["reason"],
                         "hours": round(hours, 2)})


def timeline_text(result: dict[str, Any]) -> str:
    """A short human-readable report of a replay."""
    lines = [f"{result['events']} events, {result['errors']} errors, decisions "
             f"{result['decisions']}"]
    for pause in result["timeline"]:
        lines.append(f"  {pause['scope']:<17} {pause['start']} -> {pause['end'] or 'open-ended'}"
                     f" ({pause['hours']} h): {pause['reason']}")
    if "false_trips" in result:
        lines.append(f"false trips {result['false_trips']}, campaign events let through "
                     f"{result['campaign_events_let_through']} of {result['campaign_events']}, "
                     f"legitimate events held {result['legitimate_events_held']}")
    return "\n".join(lines)


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """The figures two replays are compared on."""
    out: dict[str, Any] = {"events": result["events"], "errors": result["errors"]}
    for decision, count in sorted(result["decisions"].items()):
        out[f"decision {decision}"] = count
    out["pauses"] = len(result["timeline"])
    out["paused hours"] = round(sum(p["hours"] or 0 for p in result["timeline"]), 2)
    for key in ("false_trips", "campaign_events_let_through", "legitimate_events_held"):
        if key in result:
            out[key.replace("_", " ")] = result[key]
    return out


def compare_text(first: dict[str, Any], second: dict[str, Any], names: tuple[str, str]
                 ) -> str:
    """Two replays side by side: one line per figure, then each timeline."""
    a, b = figures(first), figures(second)
    keys = list(dict.fromkeys([*a, *b]))
    width = max(len(k) for k in keys) + 2
    col = max(12, *(len(n) for n in names)) + 2
    lines = [f"{'':<{width}}{names[0]:>{col}}{names[1]:>{col}}"]
    lines += [f"{k:<{width}}{a.get(k, '-')!s:>{col}}{b.get(k, '-')!s:>{col}}" for k in keys]
    for name, result in zip(names, (first, second), strict=True):
        lines += ["", f"{name}:", timeline_text(result)]
    return "\n".join(lines)


def whole_type(policy: Policy | None) -> Policy:
    """``policy`` with cohort scopes turned off: every trip pauses its whole event type."""
    resolved = resolve(policy)
    return dataclasses.replace(resolved, breaker=dataclasses.replace(
        resolved.breaker, cohort_kinds=()))


def collateral(events: list[dict[str, Any]] | str | PathLike[str],
               labels: list[dict[str, Any]] | str | PathLike[str],
               policy: Policy | None = None) -> dict[str, Any]:
    """Replay ``events`` with cohort scopes and with whole-type pauses only: per label
    kind, legitimate events refused and attack events let through (admitted), each way.
    ``events`` and ``labels`` are read twice (a list or a file)."""
    scoped = replay(events, policy, labels)
    whole = replay(events, whole_type(policy), labels)
    rows: dict[str, dict[str, int]] = {}
    for kind in sorted(set(scoped["by_kind"]) | set(whole["by_kind"])):
        a, b = scoped["by_kind"].get(kind, {}), whole["by_kind"].get(kind, {})
        attack = bool(a.get("campaign") or b.get("campaign"))
        rows[kind] = {
            "events": a.get("events", 0),
            "attack": attack,
            "scoped": a.get("admitted", 0) if attack else a.get("refused", 0),
            "whole_type": b.get("admitted", 0) if attack else b.get("refused", 0),
            "scoped_refused": a.get("refused", 0),
            "whole_type_refused": b.get("refused", 0),
        }
    return {"by_kind": rows,
            "pauses": {"scoped": scoped["pauses"], "whole_type": whole["pauses"]},
            "paused_hours": {"scoped": scoped["paused_hours"],
                             "whole_type": whole["paused_hours"]}}


def collateral_text(report: dict[str, Any]) -> str:
    """``collateral`` as a table: legitimate kinds show events refused, campaign kinds
    attack events let through (admitted while no pause held them)."""
    lines = [f"{'kind':28} {'events':>8}  {'figure':<22} {'scoped':>8} {'whole type':>11}"]
    totals = Counter[str]()
    for kind, row in report["by_kind"].items():
        figure = "attack let through" if row["attack"] else "legitimate refused"
        lines.append(f"{kind:28} {row['events']:8d}  {figure:<22} {row['scoped']:8d} "
                     f"{row['whole_type']:11d}")
        side = "attack" if row["attack"] else "legit"
        totals[f"{side} scoped"] += row["scoped"]
        totals[f"{side} whole"] += row["whole_type"]
    lines.append(f"{'all legitimate':28} {'':8}  {'legitimate refused':<22} "
                 f"{totals['legit scoped']:8d} {totals['legit whole']:11d}")
    lines.append(f"{'all campaigns':28} {'':8}  {'attack let through':<22} "
                 f"{totals['attack scoped']:8d} {totals['attack whole']:11d}")
    return "\n".join(lines)


__all__ = ["collateral", "collateral_text", "compare_text", "figures", "format_ts",
           "read_kinds", "read_labels", "replay", "timeline_text", "whole_type"]

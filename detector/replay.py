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
legitimate.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from os import PathLike
from pathlib import Path
from typing import Any

from detector.policy import Policy
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


def replay(events: Iterable[dict[str, Any]] | Iterable[str] | str | PathLike[str],
           policy: Policy | None = None,
           labels: Iterable[dict[str, Any]] | str | PathLike[str] | None = None,
           keep_decisions: bool = False) -> dict[str, Any]:
    """Score ``events`` under ``policy`` (default: shipped); the breaker timeline and, with
    labels, its cost."""
    truth = read_labels(labels) if labels is not None else None
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
        paused = scorer.breaker_state.scopes[scope].state == "paused"
        if out["decision"] != "allow":
            flagged_log.setdefault(scope, []).append((ts, is_campaign))
        if is_campaign:
            campaign_total += 1
            if not paused:
                while_open += 1
                if out["decision"] == "allow":
                    let_through += 1
        elif paused:
            legit_held += 1
            held[scope] += 1
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


__all__ = ["compare_text", "figures", "format_ts", "read_labels", "replay", "timeline_text"]

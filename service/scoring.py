"""The one place the service calls the detector.

The detector's ``StreamScorer`` keeps the account, cohort and campaign state
of the stream, so every event goes through it in arrival order under one lock.
Two things differ from a file fed to ``warden score``:

* Events can reach a live service slightly out of timestamp order (several
  clients, retries). The scorer needs a causal order, so an event older than
  the newest one scored is scored *as if* it came at that newest time; the
  stored payload keeps its own timestamp.
* Events whose files are too big to scan before answering are scored without
  their files first; ``complete`` later adds the code signal with the stream
  policy's weight and thresholds.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from detector.code import scan_files
from detector.policy import section
from detector.stream import StreamScorer
from detector.stream.events import EventError, format_ts, parse_event

DECISION_ORDER = ("allow", "review", "block")


class ScoringError(ValueError):
    """The detector refused an event (the message says why)."""


@dataclass
class Outcome:
    """The detector's answer for one event and the breaker changes it caused."""

    decision: dict[str, Any]
    breaker: list[dict[str, Any]] = field(default_factory=list)


def validate(event: dict[str, Any]) -> None:
    """The detector's own validation, without touching any state."""
    try:
        parse_event(event)
    except EventError as exc:
        raise ScoringError(str(exc)) from None


class Scorer:
    """Thread-safe wrapper around the detector's stream scorer."""

    def __init__(self, policy_path: str | None = None) -> None:
        self._policy_path = policy_path
        self._stream_cfg = section("stream", policy_path)
        self._lock = threading.Lock()
        self._stream = StreamScorer(policy_path=policy_path)
        self._last_ts = -math.inf

    def _process(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Feed one event under the lock, moving a late timestamp up to the newest seen."""
        ts = parse_event(event).ts
        if ts < self._last_ts:
            event = {**event, "ts": format_ts(self._last_ts)}
        lines = self._stream.process(event)
        self._last_ts = max(self._last_ts, ts)
        return lines

    def prime(self, events: Iterable[dict[str, Any]]) -> None:
        """Check the project names of a group's events in one batch before they are scored
        one by one (the name check is pure, so the decisions are unchanged; a batch of 20
        costs about a quarter of 20 single checks)."""
        with self._lock:
            self._stream.prime_names(events)

    def process(self, event: dict[str, Any]) -> Outcome:
        with self._lock:
            try:
                lines = self._process(event)
            except EventError as exc:
                raise ScoringError(str(exc)) from None
        decision = next(line for line in lines if "breaker" not in line)
        return Outcome(decision, [line["breaker"] for line in lines if "breaker" in line])

    def complete(self, decision: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
        """Fold a deferred code scan into a decision made without the files.

        The code signal joins the others in the stream policy's noisy-OR, and
        the stream policy's thresholds give the decision (never lower than before).
        """
        cfg = self._stream_cfg
        scan = scan_files(files, origin=str(decision.get("id")), policy_path=self._policy_path)
        found = scan.to_dict()
        signals = list(decision.get("signals") or [])
        merged = dict(decision)
        merged["findings"] = list(decision.get("findings") or []) + found["findings"]
        if scan.score > 0.05:
            top = found["findings"][0] if found["findings"] else {}
            reason = f"code: {top.get('rule')} in {top.get('file')}" if top else \
                f"code scored {scan.score:.2f}"
            signals.append({"signal": "code", "score": round(cfg["code"] * scan.score, 4),
                            "reason": reason})
            keep = 1.0
            for s in signals:
                keep *= 1.0 - min(max(float(s.get("score", 0.0)), 0.0), 1.0)
            score = max(float(decision["score"]), 1.0 - keep)
            level = ("block" if score >= cfg["block_threshold"]
                     else "review" if score >= cfg["review_threshold"] else "allow")
            if DECISION_ORDER.index(level) > DECISION_ORDER.index(decision["decision"]):
                merged["decision"] = level
            merged["score"] = round(score, 4)
            merged["reasons"] = [reason, *decision.get("reasons", [])]
            merged["signals"] = sorted(signals, key=lambda s: -float(s.get("score", 0.0)))
        if found.get("error"):
            merged["scan_error"] = found["error"]
        return merged

    def rebuild(self, events: Iterable[dict[str, Any]]) -> int:
        """Replay stored events (oldest first) so the stream state survives a restart."""
        count = 0
        with self._lock:
            for event in events:
                try:
                    self._process(event)
                except EventError:
                    continue
                count += 1
        return count

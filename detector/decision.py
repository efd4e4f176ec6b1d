"""The one decision function: signals in; score, decision and reasons out.

Every caller that decides goes through ``decide``: the stream scorer for each event,
and the service when a deferred code scan adds the code signal to a decision made
without the files. The weights and thresholds are the ``[stream]`` table of the policy.

How signals combine: a noisy-OR (each signal is an independent chance that the event
is bad, so two moderate signals make a strong one and no signal can exceed 1), raised
to ``campaign_member`` when the event belongs to a campaign; ``review_threshold`` and
``block_threshold`` cut the score into allow / review / block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from detector.policy import StreamPolicy
from detector.vocab import Decision as Level
from detector.vocab import values

DECISIONS = values(Level)  # mildest first


@dataclass(frozen=True, slots=True)
class Signal:
    """One piece of evidence: its name, its weight in [0, 1] and why (may be empty)."""

    name: str
    score: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"signal": self.name, "score": round(self.score, 4), "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signal:
        return cls(str(data.get("signal") or ""), float(data.get("score") or 0.0),
                   str(data.get("reason") or ""))


@dataclass(frozen=True, slots=True)
class Decision:
    score: float
    decision: str
    reasons: list[str]
    signals: list[Signal]  # strongest first


class ScoredCode(Protocol):
    """What the code signal needs from a scan (``detector.stream.signals.CodeSignal``)."""

    @property
    def score(self) -> float: ...

    @property
    def reason(self) -> str: ...


def noisy_or(scores: Iterable[float]) -> float:
    keep = 1.0
    for s in scores:
        keep *= 1.0 - min(max(s, 0.0), 1.0)
    return 1.0 - keep


def level(score: float, cfg: StreamPolicy) -> str:
    """allow, review or block for a score, by the policy's thresholds."""
    if score >= cfg.block_threshold:
        return Level.BLOCK
    return Level.REVIEW if score >= cfg.review_threshold else Level.ALLOW


def decide(signals: Iterable[Signal], cfg: StreamPolicy, campaign: bool = False
           ) -> Decision:
    """Combine ``signals`` into a score, a decision and the reasons, strongest first.

    ``campaign``: the event belongs to a campaign, which alone makes it reviewable.
    """
    given = list(signals)
    score = noisy_or(s.score for s in given)
    if campaign:
        score = max(score, cfg.campaign_member)
    ordered = sorted(given, key=lambda s: -s.score)
    return Decision(score, level(score, cfg), [s.reason for s in ordered if s.reason],
                    ordered)


def code_signal(code: ScoredCode | None, cfg: StreamPolicy) -> Signal | None:
    """The code scan as a signal, or None when it found too little to count."""
    if code is None or code.score <= cfg.code_min_score:
        return None
    return Signal("code", cfg.code * code.score,
                  code.reason or f"code scored {code.score:.2f}")


def stricter(a: str, b: str) -> str:
    """The stricter of two decisions."""
    return a if DECISIONS.index(a) >= DECISIONS.index(b) else b

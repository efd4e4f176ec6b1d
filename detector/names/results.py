"""What a name check returns (CONTRACT §1)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

_dumps = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(frozen=True)
class NameMatch:
    """One popular project the name imitates, and how."""

    target: str
    target_rank: int
    kind: str
    distance: int
    score: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "target_rank": self.target_rank,
            "kind": self.kind,
            "distance": self.distance,
            "score": self.score,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class NameResult:
    name: str
    normalized: str | None
    score: float
    flagged: bool
    matches: list[NameMatch] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    # Set only on a member of a sweep (detector.sweeps): its target, siblings, own score.
    sweep: dict[str, Any] | None = None

    def raised(self, score: float, reason: str, sweep: dict[str, Any],
               threshold: float) -> NameResult:
        """This result raised to ``score`` (never lowered), flagged at ``threshold``, with
        ``reason`` added and ``sweep`` as its grouping object: what a sweep, a burst, a run or
        a grid (``detector.names.sweeps``, ``bursts``, ``runs``, ``grids``) makes of a member."""
        return NameResult(self.name, self.normalized, max(self.score, score),
                          self.flagged or score >= threshold, self.matches,
                          [*self.reasons, reason], self.error, sweep)

    @classmethod
    def unmatched(cls, name: str, normalized: str) -> NameResult:
        """A result with no match and no error (most names on a registry), built without
        the frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field)."""
        result = object.__new__(cls)
        result.__dict__.update(
            name=name, normalized=normalized, score=0.0, flagged=False, matches=[],
            reasons=[], error=None, sweep=None,
        )
        return result

    @property
    def best(self) -> NameMatch | None:
        return self.matches[0] if self.matches else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "normalized": self.normalized,
            "score": self.score,
            "flagged": self.flagged,
            "matches": [match.to_dict() for match in self.matches],
            "reasons": list(self.reasons),
            "error": self.error,
            **({} if self.sweep is None else {"sweep": self.sweep}),
        }

    def to_json(self) -> str:
        """``to_dict`` as one line of JSON. A result with no match and no error (most names
        on a registry) is written from a template, about ten times faster than encoding
        the dict; both spell the same object."""
        if self.matches or self.reasons or self.error is not None:
            # One shared encoder: json.dumps(..., ensure_ascii=False) builds a new one per call.
            return _dumps(self.to_dict())
        # encode_basestring is what the encoder calls for a str (with ensure_ascii=False),
        # without its Python-level dispatch.
        normalized = "null" if self.normalized is None else encode_basestring(self.normalized)
        return (
            f'{{"name": {encode_basestring(self.name)}, "normalized": {normalized}, '
            f'"score": {float(self.score)!r}, "flagged": {"true" if self.flagged else "false"}, '
            '"matches": [], "reasons": [], "error": null}'
        )

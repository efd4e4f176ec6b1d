"""Result types: one `Finding` per piece of evidence, one `ScanResult` per package."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("info", "low", "medium", "high")


@dataclass(slots=True)
class Finding:
    """One piece of evidence: which rule, where, and the code that tripped it."""

    rule: str
    file: str
    line: int | None
    severity: str
    evidence: str
    tier: str = "other"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "file": self.file,
            "line": self.line,
            "severity": self.severity,
            "evidence": self.evidence,
            "tier": self.tier,
        }


@dataclass(slots=True)
class ScanResult:
    """CONTRACT section 2: the verdict on one package."""

    path: str
    score: float
    flagged: bool
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    rule_score: float = 0.0
    model_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "score": round(self.score, 6),
            "flagged": self.flagged,
            "findings": [f.to_dict() for f in self.findings],
            "error": self.error,
            "rule_score": round(self.rule_score, 6),
            "model_score": None if self.model_score is None else round(self.model_score, 6),
        }


def clip_evidence(text: str, limit: int = 160) -> str:
    """One line of evidence, short enough for a table."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""Short plain-language chips for the detector's signal names, as the queue shows them.

The full reason of each signal stays on the item page; the queue shows at most three
chips per row, strongest first. A signal missing here is shown under its own name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SIGNAL_LABELS: dict[str, str] = {
    "code": "malicious code",
    "name": "typosquat",
    "impersonation": "impersonates",
    "burst": "part of a wave",
    "campaign-tail": "wave follow-up",
    "campaign-account": "wave account",
    "account-flood": "account flood",
    "broad-burst": "busy hour",
    "site-burst": "one organisation",
    "disposable-email": "throwaway email",
    "machine-username": "bot-like username",
    "account": "suspicious account",
    "young-account": "new account",
    "empty-project": "empty project",
}
# Context rather than evidence: never a chip.
QUIET = frozenset({"warming-up"})


def label(name: str) -> str:
    return SIGNAL_LABELS.get(name, name)


def chips(signals: Iterable[Mapping[str, Any]], limit: int = 3) -> list[str]:
    """The labels of the strongest distinct signals of a decision detail."""
    best: dict[str, float] = {}
    for s in signals:
        name = str(s.get("signal") or "")
        if name and name not in QUIET:
            best[name] = max(best.get(name, 0.0), float(s.get("score") or 0.0))
    ranked = sorted(best, key=lambda n: -best[n])
    return [label(n) for n in ranked[:limit]]

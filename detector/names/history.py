"""How often each popular project (and its family) was squatted before: its attack history.

Attackers return to the same targets: most squats of a year hit a project that was squatted
the year before. The history is data (``data/name_attacks.json``), refreshed by
``scripts/refresh_name_attacks.py`` from dated malicious names: each name counts once for
the popular project it imitates, weighted by ``0.5 ** (age / half_life)`` so that old
campaigns fade. A target's weight also takes half of its family's (the first word of the
name: a squat of ``discord-webhook`` says something about ``discord.py`` look-alikes).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

from detector.resources import data_path

SHIPPED_ATTACKS = data_path("name_attacks.json")
HALF_LIFE_DAYS = 365.0
# Share of a family's weight that each of its members inherits.
FAMILY_SHARE = 0.5


def _family(name: str) -> str:
    return name.split("-", 1)[0]


@dataclass(frozen=True)
class AttackHistory:
    """Decayed counts of past squats per target, as of one date."""

    as_of: str
    half_life_days: float
    targets: dict[str, float] = field(default_factory=dict)
    families: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        events: Iterable[tuple[str, str]],
        as_of: str,
        half_life_days: float = HALF_LIFE_DAYS,
    ) -> AttackHistory:
        """From (target, first_seen ISO date) pairs; events after ``as_of`` are ignored."""
        cut = date.fromisoformat(as_of)
        targets: defaultdict[str, float] = defaultdict(float)
        families: defaultdict[str, float] = defaultdict(float)
        for target, seen in events:
            when = date.fromisoformat(seen[:10])
            if when > cut:
                continue
            weight = 0.5 ** ((cut - when).days / half_life_days)
            targets[target] += weight
            families[_family(target)] += weight
        return cls(
            as_of=as_of,
            half_life_days=half_life_days,
            targets={name: round(value, 4) for name, value in sorted(targets.items())},
            families={name: round(value, 4) for name, value in sorted(families.items())},
        )

    def weight(self, target: str) -> float:
        """The decayed number of past squats of ``target``, plus a share of its family's."""
        own = self.targets.get(target, 0.0)
        family = self.families.get(_family(target), 0.0) - own
        return own + FAMILY_SHARE * max(family, 0.0)

    def feature(self, target: str) -> float:
        """``log1p`` of the weight: the first few past attacks say the most."""
        return math.log1p(self.weight(target))

    def attacked(self, minimum: float = 0.5) -> frozenset[str]:
        """Targets whose own weight reaches ``minimum``."""
        return frozenset(name for name, value in self.targets.items() if value >= minimum)

    def to_json(self) -> str:
        return json.dumps(
            {
                "note": "written by scripts/refresh_name_attacks.py; do not edit by hand",
                "as_of": self.as_of,
                "half_life_days": self.half_life_days,
                "targets": self.targets,
                "families": self.families,
            },
            indent=1,
        )


EMPTY_HISTORY = AttackHistory(as_of="1970-01-01", half_life_days=HALF_LIFE_DAYS)


@lru_cache(maxsize=4)
def load_history(path: str | None = None) -> AttackHistory:
    """The shipped history (or the one at ``path``); an absent file is an empty history."""
    source = Path(path) if path else SHIPPED_ATTACKS
    if not source.is_file():
        return EMPTY_HISTORY
    raw = json.loads(source.read_text(encoding="utf-8"))
    return AttackHistory(
        as_of=str(raw["as_of"]),
        half_life_days=float(raw["half_life_days"]),
        targets={str(k): float(v) for k, v in raw["targets"].items()},
        families={str(k): float(v) for k, v in raw["families"].items()},
    )

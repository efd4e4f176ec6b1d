"""The rule catalogue (data/code_rules.toml): ids, severities, weights, patterns."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache

from detector.code.findings import SEVERITIES
from detector.resources import data_path


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: str
    weight: float
    description: str
    pattern: re.Pattern[str] | None
    hints: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Rule]:
    """Every rule by id, in file order."""
    with open(data_path("code_rules.toml"), "rb") as handle:
        raw = tomllib.load(handle)["rules"]
    rules: dict[str, Rule] = {}
    for rule_id, spec in raw.items():
        if spec["severity"] not in SEVERITIES:
            raise ValueError(f"code rule {rule_id}: unknown severity {spec['severity']!r}")
        pattern = re.compile(spec["pattern"]) if spec.get("pattern") else None
        rules[rule_id] = Rule(
            rule_id, spec["severity"], float(spec["weight"]), spec["description"], pattern,
            tuple(h.lower() for h in spec.get("hints", ())),
        )
    return rules


def rule(rule_id: str) -> Rule:
    return catalogue()[rule_id]


def pattern_rules() -> list[Rule]:
    """Rules matched as regular expressions over text."""
    return [r for r in catalogue().values() if r.pattern is not None]

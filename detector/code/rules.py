"""The rule catalogue (data/code_rules.toml): ids, severities, weights, patterns.

Every pattern of the scanner lives there, as data: `pattern` (run over string
literals, and over the raw text of files that do not parse), `argument` (matched by an
AST rule against the arguments of the calls it looks at, never over text alone) and
`fallback` (the text stand-in of an AST rule, run only on files that do not parse; the
tests check each against its AST twin on the rule's fixtures). All compile with RE2
(`detector.code.regex`). `tiers` limits a rule to code of those reachability tiers.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache

from detector.code.findings import SEVERITIES
from detector.code.regex import Pattern, compile_pattern
from detector.resources import data_path


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: str
    weight: float
    description: str
    pattern: Pattern | None
    hints: tuple[str, ...] = ()
    fallback: Pattern | None = None
    fallback_hints: tuple[str, ...] = ()
    decisive: bool = False  # one finding flags the package (see data/code_rules.toml)
    argument: Pattern | None = None
    tiers: tuple[str, ...] = ()  # only in code of these tiers (empty: any)


def _hints(spec: dict, key: str) -> tuple[str, ...]:
    return tuple(h.lower() for h in spec.get(key, ()))


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Rule]:
    """Every rule by id, in file order."""
    with open(data_path("code_rules.toml"), "rb") as handle:
        raw = tomllib.load(handle)["rules"]
    rules: dict[str, Rule] = {}
    for rule_id, spec in raw.items():
        if spec["severity"] not in SEVERITIES:
            raise ValueError(f"code rule {rule_id}: unknown severity {spec['severity']!r}")
        if spec.get("fallback") and not spec.get("fallback_hints"):
            raise ValueError(f"code rule {rule_id}: a fallback needs fallback_hints")
        rules[rule_id] = Rule(
            rule_id, spec["severity"], float(spec["weight"]), spec["description"],
            compile_pattern(spec["pattern"]) if spec.get("pattern") else None,
            _hints(spec, "hints"),
            compile_pattern(spec["fallback"]) if spec.get("fallback") else None,
            _hints(spec, "fallback_hints"),
            bool(spec.get("decisive", False)),
            compile_pattern(spec["argument"]) if spec.get("argument") else None,
            tuple(spec.get("tiers", ())),
        )
    return rules


def rule(rule_id: str) -> Rule:
    return catalogue()[rule_id]


def pattern_rules() -> list[Rule]:
    """Rules matched as regular expressions over text."""
    return [r for r in catalogue().values() if r.pattern is not None]


def fallback_rules() -> list[Rule]:
    """AST rules with a text stand-in for files that do not parse."""
    return [r for r in catalogue().values() if r.fallback is not None]

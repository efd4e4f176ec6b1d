"""Name pairs a moderator has cleared, each with the reason (``data/allowlist.tsv``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from detector.pep503 import canonicalize_name
from detector.resources import data_path

SHIPPED_ALLOWLIST = data_path("allowlist.tsv")
ANY_TARGET = "*"


@dataclass(frozen=True)
class Allowlist:
    """``(name, target)`` pairs never reported; target ``*`` clears a name against every target."""

    pairs: dict[tuple[str, str], str] = field(default_factory=dict)

    def allows(self, name: str, target: str) -> bool:
        return (name, target) in self.pairs or (name, ANY_TARGET) in self.pairs

    def reason(self, name: str, target: str) -> str | None:
        return self.pairs.get((name, target)) or self.pairs.get((name, ANY_TARGET))


def load_allowlist(path: str | Path | None = None) -> Allowlist:
    """Read ``name<TAB>target<TAB>reason`` rows; a row without a reason is an error."""
    path = Path(path or SHIPPED_ALLOWLIST)
    pairs: dict[tuple[str, str], str] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for line_no, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or row[0].startswith("#") or row[0] == "name":
                continue
            if len(row) < 3 or not row[2].strip():
                raise ValueError(f"{path}: line {line_no}: expected name, target and a reason")
            target = row[1].strip()
            target = target if target == ANY_TARGET else canonicalize_name(target)
            pairs[(canonicalize_name(row[0].strip()), target)] = row[2].strip()
    return Allowlist(pairs)

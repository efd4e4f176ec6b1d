"""Archive and file limits, read from the `[code.limits]` policy table."""

from __future__ import annotations

from dataclasses import dataclass, fields

from detector.policy import section


@dataclass(frozen=True, slots=True)
class Limits:
    max_members: int = 20000
    max_file_bytes: int = 5_000_000
    max_total_bytes: int = 100_000_000
    max_ratio: float = 100.0
    max_parse_bytes: int = 1_000_000
    dense_parse_bytes: int = 16_384
    max_text_scan_bytes: int = 2_000_000
    max_decode_depth: int = 2
    max_header_bytes: int = 65_536
    max_parse_units: int = 100_000
    scan_cpu_seconds: float = 1.5
    fold_bytes: int = 4_000_000
    decode_bytes: int = 1_000_000

    @classmethod
    def from_policy(cls, policy_path: str | None = None) -> Limits:
        table = section("code", policy_path).get("limits", {})
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in table.items() if k in known})

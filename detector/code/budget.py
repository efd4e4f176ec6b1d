"""The per-package scan budget: CPU seconds, folded and decoded bytes.

A scan that hits a budget stops where it is, keeps what it found and adds a
`scan-budget-exceeded` finding with the reason; that rule is decisive (the package is
flagged for review), so a crafted file can cost a bounded amount of work and can
never buy a silent allow. All limits are `[code.limits]` keys in data/policy.toml.

CPU is the scanning thread's own CPU time (`time.thread_time`), so a busy machine or
other threads do not eat into one package's budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from detector.code.limits import Limits


class BudgetExceeded(Exception):
    """A budget was hit; the message says which and by how much, `file` where."""

    def __init__(self, message: str, file: str = "") -> None:
        super().__init__(message)
        self.file = file


@dataclass
class Budget:
    cpu_seconds: float = 1.5
    fold_bytes: int = 4_000_000
    decode_bytes: int = 1_000_000
    started: float = field(default_factory=time.thread_time)
    folded: int = 0
    decoded: int = 0
    current: str = ""  # the file being scanned (named in the finding)

    @classmethod
    def from_limits(cls, limits: Limits) -> Budget:
        return cls(limits.scan_cpu_seconds, limits.fold_bytes, limits.decode_bytes)

    def check(self) -> None:
        spent = time.thread_time() - self.started
        if spent > self.cpu_seconds:
            raise BudgetExceeded(f"{spent:.2f} s of CPU, budget {self.cpu_seconds:g} s",
                                 self.current)

    def check_quietly(self) -> bool:
        """True once the CPU budget is spent (the caller stops and reports later)."""
        return time.thread_time() - self.started > self.cpu_seconds

    def fold(self, size: int) -> None:
        """Bytes of strings built by constant folding (concatenation, join, f-strings)."""
        self.folded += size
        if self.folded > self.fold_bytes:
            raise BudgetExceeded(f"{self.folded} bytes of folded strings, budget "
                                 f"{self.fold_bytes}", self.current)

    def decode(self, size: int) -> None:
        """Bytes produced by decoding literals (base64, hex, zlib, codecs ...)."""
        self.decoded += size
        if self.decoded > self.decode_bytes:
            raise BudgetExceeded(f"{self.decoded} bytes of decoded payloads, budget "
                                 f"{self.decode_bytes}", self.current)


def unlimited() -> Budget:
    """For callers outside a package scan (tests of one helper)."""
    return Budget(float("inf"), 1 << 62, 1 << 62)

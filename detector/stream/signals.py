"""Adapters to the name and code signals: cached, policy-aware, computable ahead.

The name signal is ``detector.names``; the code signal ``detector.code.scan_files``.
Both are pure functions of their input, so ``score_lines`` may compute them
for a batch of upcoming events in a worker process (``compute_batch``) while
the stateful scorer works on the previous batch; answers are identical.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from detector.policy import Policy, load_policy, resolve
from detector.sweeps import is_member_match

if TYPE_CHECKING:
    from detector.names import BurstMemory, EchoMemory, RecentAttacks


@dataclass(frozen=True, slots=True)
class NameSignal:
    score: float
    flagged: bool
    target: str | None
    reason: str
    # The canonical name when it is a sweep or burst member, else None; the target of its
    # sweep when it is a sweep member (detector.sweeps: its best match is an edit-based
    # imitation); whether it is a burst member (detector.names.bursts.is_member).
    normalized: str | None = None
    sweep_target: str | None = None
    burst_member: bool = False
    pair_member: bool = False  # detector.names.pairs.is_pair_member
    echo_candidate: bool = False  # detector.names.echoes.is_echo_candidate


@dataclass(frozen=True, slots=True)
class CodeSignal:
    score: float
    flagged: bool
    findings: list[dict[str, Any]]
    reason: str
    error: str | None = None  # the scanner could not read everything (it says why)


@dataclass(slots=True)
class SignalTimes:
    """How many name checks and code scans were computed, and their CPU seconds
    (in whichever process ran them); cache hits cost nothing and are not counted."""

    name_checks: int = 0
    name_seconds: float = 0.0
    code_scans: int = 0
    code_seconds: float = 0.0

    def add(self, other: SignalTimes) -> None:
        self.name_checks += other.name_checks
        self.name_seconds += other.name_seconds
        self.code_scans += other.code_scans
        self.code_seconds += other.code_seconds

    def to_dict(self) -> dict[str, float]:
        return {"name_checks": self.name_checks,
                "name_check_cpu_seconds": round(self.name_seconds, 3),
                "code_scans": self.code_scans,
                "code_scan_cpu_seconds": round(self.code_seconds, 3)}


_NO_NAME = NameSignal(0.0, False, None, "")


@lru_cache(maxsize=4)
def _name_checker(policy: Policy) -> Any:
    try:
        from detector.names import NameChecker, default_checker
    except ImportError:  # a partial install without the name signal
        return None
    return default_checker() if policy.names == load_policy().names \
        else NameChecker(policy=policy)


@lru_cache(maxsize=1)
def _code_scanner() -> Any:
    try:
        from detector.code import scan_files
    except ImportError:  # a partial install without the code signal
        return None
    return scan_files


def _to_signal(result: Any, policy: Policy) -> NameSignal:
    if result is None or getattr(result, "error", None):
        return _NO_NAME
    matches = getattr(result, "matches", None) or []
    reasons = getattr(result, "reasons", None) or []
    best = matches[0] if matches else None
    member = best is not None and is_member_match(best.kind, best.distance, best.score,
                                                  policy.names)
    from detector.names import (  # only the checker's results
        is_burst_member,
        is_echo_candidate,
        is_pair_member,
    )

    burst = is_burst_member(result, policy.names)
    pair = not burst and is_pair_member(result, policy.names)
    echo = is_echo_candidate(result, policy.names)
    signal = NameSignal(
        score=float(result.score), flagged=bool(result.flagged),
        target=best.target if best is not None else None,
        reason=reasons[0] if reasons else "",
        normalized=getattr(result, "normalized", None)
        if member or burst or pair or echo else None,
        sweep_target=best.target if member and best is not None else None,
        burst_member=burst, pair_member=pair, echo_candidate=echo,
    )
    return _shared(signal)


def canonical_name(name: str) -> str | None:
    """The canonical form of a project name, None for an invalid name (or without the
    name signal installed): what bursts count every name of a window by."""
    try:
        from detector.names import InvalidName, canonical
    except ImportError:  # a partial install without the name signal
        return None
    try:
        return canonical(name)
    except InvalidName:
        return None


def recent_attacks(policy: Policy) -> RecentAttacks | None:
    """The recent-attack rule with the shipped log (``detector.names.RecentAttacks``); None
    when it is off, the log is empty, or the name signal is not installed."""
    try:
        from detector.names import RecentAttacks
    except ImportError:  # a partial install without the name signal
        return None
    attacks = RecentAttacks(policy.names)
    return attacks if attacks.on else None


def echo_memory(policy: Policy) -> EchoMemory | None:
    """The stream's echo state (``detector.names.EchoMemory``); None when echoes are off
    or the name signal is not installed."""
    try:
        from detector.names import EchoMemory
    except ImportError:  # a partial install without the name signal
        return None
    memory = EchoMemory(policy.names)
    return memory if memory.on else None


def burst_memory(policy: Policy) -> BurstMemory | None:
    """The stream's burst state (``detector.names.BurstMemory``); None when bursts are off
    or the name signal is not installed."""
    try:
        from detector.names import BurstMemory
    except ImportError:  # a partial install without the name signal
        return None
    memory = BurstMemory(policy.names)
    return memory if memory.on else None


def _shared(signal: NameSignal) -> NameSignal:
    """``_NO_NAME`` itself for a name resembling nothing (most names): caches of
    100,000s of names then hold one object for all of them."""
    return _NO_NAME if signal == _NO_NAME else signal


def check_names(names: list[str], policy: Policy | None,
                times: SignalTimes | None = None) -> dict[str, NameSignal]:
    """The name signal of each name; ``times`` (if given) counts the checks and their CPU."""
    policy = resolve(policy)
    checker = _name_checker(policy)
    if checker is None or not names:
        return dict.fromkeys(names, _NO_NAME)
    start = time.process_time()
    results = {name: _to_signal(r, policy)
               for name, r in zip(names, checker.check_many(names), strict=True)}
    if times is not None:
        times.name_checks += len(names)
        times.name_seconds += time.process_time() - start
    return results


def scan_files(files: dict[str, str], policy: Policy | None = None,
               times: SignalTimes | None = None) -> CodeSignal | None:
    """The code signal for an event's files; None when the code scanner is unavailable.

    ``times`` (if given) counts the scan and its CPU seconds.
    """
    scan = _code_scanner()
    if scan is None or not files:
        return None
    start = time.process_time()
    result = scan(files, policy=policy)
    if times is not None:
        times.code_scans += 1
        times.code_seconds += time.process_time() - start
    return code_signal_of(result)


def code_signal_of(result: Any) -> CodeSignal:
    """A code scan's result (`detector.code.ScanResult`, wherever it ran) as the signal."""
    findings = [f.to_dict() if hasattr(f, "to_dict") else dict(f)
                for f in (getattr(result, "findings", None) or [])]
    reason = ""
    if findings:
        top = findings[0]
        reason = f"code: {top.get('rule')} in {top.get('file')}"
    return CodeSignal(float(result.score), bool(result.flagged), findings, reason,
                      getattr(result, "error", None))


def compute_batch(policy: Policy | None, names: list[str],
                  files: list[tuple[str, dict[str, str]]]
                  ) -> tuple[dict[str, NameSignal], dict[str, CodeSignal | None], SignalTimes]:
    """Name and code signals for a batch (run in a worker process by ``score_lines``),
    with the CPU they took."""
    times = SignalTimes()
    return (check_names(names, policy, times),
            {digest: scan_files(f, policy, times) for digest, f in files}, times)


class NameCache:
    """Name-signal results by name, bounded."""

    def __init__(self, policy: Policy | None = None, max_size: int = 200_000,
                 times: SignalTimes | None = None) -> None:
        self.policy = policy
        self._cache: dict[str, NameSignal] = {}
        self._max = max_size
        self.times = times if times is not None else SignalTimes()

    def __contains__(self, name: str) -> bool:
        return name in self._cache

    def get(self, name: str) -> NameSignal:
        hit = self._cache.get(name)
        if hit is None:
            hit = check_names([name], self.policy, self.times)[name]
            self.store({name: hit})
        return hit

    def prime(self, names: list[str]) -> None:
        todo = list(dict.fromkeys(n for n in names if n not in self._cache))
        if todo:
            self.store(check_names(todo, self.policy, self.times))

    def store(self, results: dict[str, NameSignal]) -> None:
        if len(self._cache) + len(results) > self._max:
            self._cache.clear()
        # Results computed in a worker process arrive as copies of _NO_NAME.
        self._cache.update((name, _shared(signal)) for name, signal in results.items())


def exact_hash(files: dict[str, str]) -> str:
    """Hash of the files exactly as given (paths and text)."""
    digest = hashlib.blake2b(digest_size=12)
    for path in sorted(files):
        digest.update(path.encode("utf-8", "replace") + b"\x00")
        digest.update(files[path].encode("utf-8", "replace") + b"\x01")
    return digest.hexdigest()


class CodeCache:
    """Code-scan results keyed by the exact content of the files: identical uploads
    (a release train, a copied payload) are scanned once, with identical answers."""

    def __init__(self, policy: Policy | None = None, max_size: int = 20_000,
                 times: SignalTimes | None = None) -> None:
        self.policy = policy
        self._cache: dict[str, CodeSignal | None] = {}
        self._max = max_size
        self.times = times if times is not None else SignalTimes()

    def __contains__(self, digest: str) -> bool:
        return digest in self._cache

    def get(self, files: dict[str, str]) -> CodeSignal | None:
        digest = exact_hash(files)
        if digest in self._cache:
            return self._cache[digest]
        signal = scan_files(files, self.policy, self.times)
        self.store({digest: signal})
        return signal

    def store(self, results: dict[str, CodeSignal | None]) -> None:
        if len(self._cache) + len(results) > self._max:
            self._cache.clear()
        self._cache.update(results)

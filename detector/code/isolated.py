"""Code scans in a child process, with a wall-time limit and a memory limit.

The in-process budgets (`detector.code.budget`) bound what the scanner's own loops
spend, but a C-level call (the parser, a decompressor) cannot be interrupted, and a
scanner bug could still loop. For scans that must not hold the caller's interpreter (a
service's) this module runs the scan in one long-lived worker process (spawned, not
forked: the caller has threads) whose address space is capped with `RLIMIT_AS`; a scan that
overruns `wall_seconds` gets its worker killed and replaced, and its result is a
decisive `scan-budget-exceeded` finding (review, never a silent allow).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.pool import Pool
from typing import Any

from detector.policy import Policy

STARTUP_SECONDS = 120.0
_WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _init_worker(memory_bytes: int, policy: Policy | None) -> None:
    """In the child: cap the address space, then load the scanner and its model once."""
    import resource

    os.environ.update(_WORKER_ENV)
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from detector.code.scan import scan_files

    scan_files({"setup.py": "from setuptools import setup\nsetup()\n"}, policy=policy)


def _ready() -> bool:
    return True


def _scan(files: dict[str, str], policy: Policy | None) -> Any:
    from detector.code.scan import scan_files

    return scan_files(files, policy=policy)


class IsolatedScanner:
    """`scan(files)` like `detector.code.scan_files`, run in a limited worker process."""

    def __init__(self, policy: Policy | None = None, wall_seconds: float = 20.0,
                 memory_bytes: int = 1_500_000_000) -> None:
        self.policy = policy
        self.wall_seconds = wall_seconds
        self.memory_bytes = memory_bytes
        self._pool: Pool | None = None
        self._lock = threading.Lock()  # one scan at a time: one worker

    def _ensure(self) -> Pool:
        """The worker pool, started and warmed up (imports, model) outside any scan's
        wall time."""
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = context.Pool(1, initializer=_init_worker,
                                      initargs=(self.memory_bytes, self.policy))
            try:
                self._pool.apply_async(_ready).get(STARTUP_SECONDS)
            except Exception:
                self._kill()
                raise
        return self._pool

    def start(self) -> None:
        """Start and warm up the worker now (else at the first scan)."""
        with self._lock:
            self._ensure()

    def _kill(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def scan(self, files: dict[str, str], origin: str = "<event>") -> Any:
        from detector.code.scan import stopped_result

        with self._lock:
            try:
                pool = self._ensure()
                return pool.apply_async(_scan, (files, self.policy)).get(
                    self.wall_seconds)
            except multiprocessing.TimeoutError:
                self._kill()
                reason = (f"scan took over {self.wall_seconds:g} s of wall time "
                          "(worker killed)")
            except MemoryError:
                reason = f"scan needed over {self.memory_bytes} bytes of memory"
            except Exception as exc:  # the worker died or could not return its result
                self._kill()
                reason = f"scan worker failed: {type(exc).__name__}: {exc}"
        return stopped_result(origin, reason, self.policy)

    def close(self) -> None:
        with self._lock:
            self._kill()

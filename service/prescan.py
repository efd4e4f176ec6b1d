"""Code scans before scoring: in worker processes, with a small budget and a time limit.

An event's files are scanned before its request joins the group commit, so no scan runs
on the event loop, in a request thread, or in the writer while it holds the detector's
state (every other registry's events wait for that). Each scan runs in one of
``[service] inline_scan_workers`` isolated processes (`detector.code.isolated`: memory
cap, killed when stuck) with ``inline_scan_cpu_seconds`` of CPU instead of the full
``[code.limits] scan_cpu_seconds``; the request waits at most ``inline_scan_seconds``
for all its events' scans, queueing included.

A scan that finished within its budget is the scan the detector would have made (the
same scanner, policy and model, a budget it did not reach), so the event is decided on
it as before. An event whose scan hit a budget (a `scan-budget-exceeded` finding:
crafted or simply heavy) or did not finish in time is not decided on a partial scan: it
is scored without its files and answered ``"pending": true``, like an event whose files
are too big (`service.worker` scans it with the full budgets; `Scorer.complete` never
lowers the decision). Its row is marked ``files_deferred`` so a replay of the log scores
it without its files too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from detector.code.isolated import IsolatedScanner
from detector.policy import Policy
from detector.stream.signals import CodeSignal, code_signal_of, exact_hash
from service.config import Settings
from service.fairqueue import FairQueue
from service.ingest import deferred_by_size
from service.logs import log

# A worker still busy this many times `inline_scan_seconds` after its scan started is
# stuck in something its CPU budget cannot interrupt (a C call): it is killed and
# replaced (`IsolatedScanner`); meanwhile the other workers go on.
KILL_AFTER = 4.0


def inline_policy(policy: Policy, cpu_seconds: float) -> Policy:
    """``policy`` with the scan's CPU budget replaced (nothing else changes the scan)."""
    limits = dataclasses.replace(policy.code.limits, scan_cpu_seconds=cpu_seconds)
    return dataclasses.replace(policy, code=dataclasses.replace(policy.code, limits=limits))


def hit_budget(result: Any) -> bool:
    """Whether a scan stopped short (a budget, or its worker killed): a partial scan."""
    return any(getattr(f, "rule", None) == "scan-budget-exceeded"
               for f in getattr(result, "findings", None) or [])


@dataclass
class _Job:
    files: dict[str, str]
    origin: str
    deadline: float  # monotonic: not started by then, not started at all
    future: Future[CodeSignal | None] = field(default_factory=Future)


@dataclass
class Scans:
    """What the scans of one request gave (see `service.ingest.Request`)."""

    code: dict[str, CodeSignal | None] = field(default_factory=dict)
    deferred: set[str] = field(default_factory=set)


class PreScanner:
    """The scan processes and the threads that feed them (one each)."""

    def __init__(self, settings: Settings) -> None:
        cfg = settings.service
        self._settings = settings
        self._wait = cfg.inline_scan_seconds
        policy = inline_policy(settings.policy, cfg.inline_scan_cpu_seconds)
        self._workers = [IsolatedScanner(policy, KILL_AFTER * cfg.inline_scan_seconds,
                                         cfg.scan_memory_bytes)
                         for _ in range(cfg.inline_scan_workers)]
        # one line per client, served in turns: a client streaming crafted files waits
        # behind its own scans, not everyone else (service.fairqueue)
        self._jobs: FairQueue[_Job] = FairQueue()
        self._threads: list[threading.Thread] = []
        self._started = [threading.Event() for _ in self._workers]

    def start(self) -> None:
        """Start the workers in the background (each loads the scanner and its model:
        about a second, while the service does the rest of its start); ``wait_started``
        waits for them."""
        for number, scanner in enumerate(self._workers):
            thread = threading.Thread(target=self._feed, args=(scanner,), daemon=True,
                                      name=f"code-prescan-{number}")
            thread.start()
            self._threads.append(thread)

    def wait_started(self, timeout: float = 120.0) -> None:
        """Until every worker is up (or failed to start: its scans then try again)."""
        deadline = time.monotonic() + timeout
        for started in self._started:
            started.wait(max(deadline - time.monotonic(), 0))

    def stop(self) -> None:
        for _ in self._threads:
            self._jobs.stop_one()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        for scanner in self._workers:
            scanner.close()

    def _feed(self, scanner: IsolatedScanner) -> None:
        try:
            scanner.start()
        except Exception:  # its first scan tries again
            log.exception("starting a code scan process failed")
        self._started[self._workers.index(scanner)].set()
        while (job := self._jobs.get()) is not None:
            if not job.future.set_running_or_notify_cancel():
                continue  # its request stopped waiting
            if time.monotonic() >= job.deadline:
                job.future.set_result(None)
                continue
            try:
                result = scanner.scan(job.files, job.origin)
            except Exception as exc:  # never lose the job: the event is deferred
                log.exception("code scan before scoring failed")
                job.future.set_exception(exc)
                continue
            job.future.set_result(None if hit_budget(result) else code_signal_of(result))
            try:  # a worker killed for time is replaced now, not at the next scan
                scanner.start()
            except Exception:  # its next scan tries again
                log.exception("restarting a code scan process failed")

    async def scan(self, raws: list[dict[str, Any]], client: str = "") -> Scans:
        """Scan the files of the events in ``raws`` (those not deferred by size), waiting
        at most ``inline_scan_seconds`` in all; ``client`` (the caller's token) is the
        line its scans queue in."""
        scans = Scans()
        deadline = time.monotonic() + self._wait
        jobs: dict[str, _Job] = {}
        waiting: dict[str, list[str]] = {}  # files' hash -> the ids of events holding them
        for raw in raws:
            files = (raw.get("project") or {}).get("files")
            if not files or not isinstance(files, dict) or deferred_by_size(raw,
                                                                             self._settings):
                continue
            digest = exact_hash(files)
            event_id = str(raw.get("id"))
            waiting.setdefault(digest, []).append(event_id)
            if digest not in jobs:
                jobs[digest] = job = _Job(files, event_id, deadline)
                self._jobs.put(client, job)
        if not jobs:
            return scans
        futures = {asyncio.wrap_future(job.future): digest for digest, job in jobs.items()}
        done, late = await asyncio.wait(futures, timeout=max(deadline - time.monotonic(), 0))
        for future in late:  # not started yet: never started; running: result dropped
            future.cancel()
        for future, digest in futures.items():
            signal = future.result() if future in done and not future.exception() else None
            if signal is None:
                scans.deferred.update(waiting[digest])
            else:
                scans.code[digest] = signal
        return scans

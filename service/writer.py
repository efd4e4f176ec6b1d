"""Group commit: one thread scores and stores events for every concurrent request.

Each commit costs an fsync (a few ms on this disk), so committing per request caps
throughput near 1/fsync. The writer takes every request waiting in its queue, scores
them in arrival order, stores them all in one transaction, and only after the commit
answers each request. Answers stay durable; latency grows by at most one commit.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.ingest import Ingested, Request, ingest_group
from service.logs import log
from service.scoring import Scorer

MAX_GROUP_EVENTS = 2000


@dataclass
class _Job:
    request: Request
    future: Future[Ingested] = field(default_factory=Future)


class Writer:
    def __init__(self, sessions: sessionmaker[Session], scorer: Scorer,
                 settings: Settings) -> None:
        self._sessions, self._scorer, self._settings = sessions, scorer, settings
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def submit(self, request: Request) -> Future[Ingested]:
        job = _Job(request)
        self._queue.put(job)
        return job.future

    def _take(self) -> tuple[list[_Job], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        jobs, size = [first], len(first.request.events)
        while size < MAX_GROUP_EVENTS:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # finish this group, then stop
                break
            jobs.append(job)
            size += len(job.request.events)
        return jobs, False

    def _run(self) -> None:
        while True:
            jobs, stopping = self._take()
            if stopping:
                return
            try:
                with self._sessions() as session:
                    results = ingest_group(session, self._scorer, self._settings,
                                           [job.request for job in jobs])
            except Exception as exc:  # the database failed: every request in the group fails
                log.exception("group commit failed")
                for job in jobs:
                    job.future.set_exception(exc)
                continue
            for job, result in zip(jobs, results, strict=True):
                if isinstance(result, Exception):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

"""Scans before scoring take turns between clients (`service.fairqueue`): a client that
floods the scan workers with files crafted to spend the whole budget waits behind its
own scans, and another client's uploads are still scanned and decided inline."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from test_service_prescan import ORDINARY_SETUP, hostile_files

from service.config import Settings
from service.fairqueue import FairQueue
from service.prescan import PreScanner


def test_turns_go_round_the_clients_and_keep_each_clients_order():
    q: FairQueue[str] = FairQueue()
    for i in range(5):
        q.put("flood", f"f{i}")
    q.put("other", "o0")
    q.put("other", "o1")
    q.put("third", "t0")
    got = [q.get() for _ in range(8)]
    assert got == ["f0", "o0", "t0", "f1", "o1", "f2", "f3", "f4"]
    assert len(q) == 0


def test_stop_comes_after_queued_work_and_wakes_a_waiting_worker():
    q: FairQueue[int] = FairQueue()
    q.put("a", 1)
    q.stop_one()
    assert q.get() == 1 and q.get() is None
    seen: list[int | None] = []
    worker = threading.Thread(target=lambda: seen.append(q.get()))
    worker.start()
    time.sleep(0.05)
    assert worker.is_alive()  # blocked: nothing queued
    q.stop_one()
    worker.join(timeout=5)
    assert seen == [None]


def _event(event_id: str, files: dict[str, str]) -> dict:
    return {"id": event_id, "type": "project.created", "account": {"username": "u"},
            "project": {"name": "p", "files": files}}


def test_a_flooding_client_does_not_hold_up_another(tmp_path: Path):
    """Four concurrent requests at a time, each with five files that spend the whole
    scan budget, from one token; one ordinary upload at a time from another token.
    Every ordinary upload is scanned inline, not deferred."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    prescan = PreScanner(settings)
    prescan.start()
    prescan.wait_started()
    counter = iter(range(10**6))

    async def flood(stop: asyncio.Event) -> int:
        sent = 0
        while not stop.is_set():
            raws = [_event(f"h{n}", hostile_files(n)) for n in
                    (next(counter) for _ in range(5))]
            await prescan.scan(raws, "token:1")
            sent += 1
        return sent

    async def run() -> tuple[list[float], int, int]:
        stop = asyncio.Event()
        floods = [asyncio.create_task(flood(stop)) for _ in range(4)]
        await asyncio.sleep(0.3)  # the flood's scans are queued
        waits, deferred = [], 0
        for i in range(8):
            files = {"setup.py": ORDINARY_SETUP + f"# upload {i}\n"}
            start = time.monotonic()
            scans = await prescan.scan([_event(f"o{i}", files)], "token:2")
            waits.append(time.monotonic() - start)
            deferred += len(scans.deferred)
        stop.set()
        return waits, deferred, sum(await asyncio.gather(*floods))

    try:
        waits, deferred, flood_requests = asyncio.run(run())
    finally:
        prescan.stop()
    assert flood_requests >= 4
    # first come, first served (both clients on one token) defers every one of them:
    # measured, each waited the whole 0.5 s behind the flood and was answered pending
    assert deferred == 0, waits

"""A work queue that takes turns between clients (round robin), for the scans before scoring.

First come, first served let one registry client that streams files crafted to spend
the whole scan budget hold every other client's uploads behind its own: each of them
waited for the flood's scans and was answered pending past `inline_scan_seconds`. Here
each client has its own line, and the workers take one job from each line in turn, so a
client's wait depends on the number of clients with work queued, not on how much work
one of them queued. Jobs of one client keep their order.

`queue.Queue` has no notion of owners, and a priority queue would order by a key that
has to be kept fair by hand; a dict of deques behind one condition is the whole thing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Thread-safe; `put` by client, `get` in turns across clients (blocking)."""

    def __init__(self) -> None:
        self._lines: OrderedDict[str, deque[T]] = OrderedDict()
        self._ready = threading.Condition()
        self._stops = 0

    def put(self, client: str, item: T) -> None:
        with self._ready:
            line = self._lines.get(client)
            if line is None:
                line = self._lines[client] = deque()  # joins the turn order at the end
            line.append(item)
            self._ready.notify()

    def stop_one(self) -> None:
        """Make one `get` return None (a worker's signal to stop), after queued work."""
        with self._ready:
            self._stops += 1
            self._ready.notify()

    def get(self) -> T | None:
        """The next job in turn: the first client's oldest job, that client then moving to
        the end of the turn order. None once stopped and nothing is queued."""
        with self._ready:
            while not self._lines and not self._stops:
                self._ready.wait()
            if not self._lines:
                self._stops -= 1
                return None
            client, line = next(iter(self._lines.items()))
            item = line.popleft()
            if line:
                self._lines.move_to_end(client)  # back of the turn order
            else:
                del self._lines[client]
            return item

    def __len__(self) -> int:
        with self._ready:
            return sum(len(line) for line in self._lines.values())

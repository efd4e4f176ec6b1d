"""Rate limits for clients that cost without contributing, using the `limits` library.

Three limits, each a `[service]` policy key in `limits` notation ("30/minute"):
failed authentications and page log-ins per client address, and moderator/analyst reads
per token. Registry event posts are never limited (dropping them would lose data; the
writer's queue answers 503 instead, see `service.writer`). Counts live in the storage
named by `ratelimit_storage`: `memory://` for one replica, `redis://host:port` to share
them between replicas. A moving window, so a client cannot double its rate across a
window boundary.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from service.config import Settings


@dataclass(frozen=True)
class Refusal:
    """Over a limit: retry after this many whole seconds."""

    retry_after: int


class Limits:
    def __init__(self, settings: Settings) -> None:
        url = settings.ratelimit_storage
        if not url.startswith("async+"):
            url = "async+" + url
        # redis-py's asyncio client (the `limits[redis]` extra) rather than coredis
        options = {"implementation": "redispy"} if "redis" in url.split("://")[0] else {}
        self._limiter = MovingWindowRateLimiter(storage_from_string(url, **options))
        self.failed_auth = parse(settings.service.limit_failed_auth)
        self.logins = parse(settings.service.limit_logins)
        self.reads = parse(settings.service.limit_reads)

    async def hit(self, item: RateLimitItem, key: str) -> Refusal | None:
        """Count one request of `key`; a Refusal when that is over the limit."""
        if await self._limiter.hit(item, key):
            return None
        return await self._refusal(item, key)

    async def _refusal(self, item: RateLimitItem, key: str) -> Refusal:
        stats = await self._limiter.get_window_stats(item, key)
        return Refusal(max(1, math.ceil(stats.reset_time - time.time())))

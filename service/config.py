"""Service settings: where the database is, which policy file, and the service policy table."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from detector.policy import section

DEFAULT_DATABASE_URL = "sqlite:///warden.db"
SCOPES = ("account.created", "project.created", "release.uploaded")
ROLES = ("registry", "moderator", "analyst", "admin")
VERDICTS = ("malicious", "benign", "needs-info")


def database_url(explicit: str | None = None) -> str:
    """`--database-url`, else `WARDEN_DATABASE_URL`, else `warden.db` in the working directory."""
    return explicit or os.environ.get("WARDEN_DATABASE_URL") or DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class Settings:
    """Everything `create_app` needs; the numbers come from the policy's `[service]` table."""

    database_url: str = field(default_factory=database_url)
    policy_path: str | None = None
    max_body_bytes: int = 8_388_608
    max_batch_events: int = 500
    async_files_bytes: int = 262_144
    # longest moderator reason or verdict note (service.actions); the breaker's pause
    # limits are in [breaker] and the event time limits in [stream] (the detector's)
    max_reason_chars: int = 2000
    rebuild_hours: float = 48
    status_cache_seconds: float = 1.0
    token_cache_seconds: float = 5.0
    # SQLite only: "normal" (durable when the process dies; see service.db.sqlite_pragmas)
    # or "full" (also when the machine loses power, at an fsync per group commit); from
    # the environment variable WARDEN_SQLITE_SYNCHRONOUS
    sqlite_synchronous: str = "normal"
    # while events arrive steadily, the group-commit writer waits this long for more
    # requests to join a group (service.writer); 0 commits as soon as the queue is empty
    group_window_ms: float = 2.0
    # serve POST /v1/events and GET /v1/registration-status outside FastAPI's routing
    # (service.hot); False only to compare the two in tests
    hot_routes: bool = True
    # deferred code scans run in a worker process (detector.code.isolated): killed past
    # this wall time or address-space size; an event whose scan failed this many times
    # is decided without it (review, with the reason) instead of being retried forever
    scan_wall_seconds: float = 20.0
    scan_memory_bytes: int = 1_500_000_000
    scan_max_attempts: int = 3

    @classmethod
    def load(cls, database_url_: str | None = None, policy_path: str | None = None) -> Settings:
        table: dict[str, Any] = section("service", policy_path)
        synchronous = os.environ.get("WARDEN_SQLITE_SYNCHRONOUS")
        if synchronous:  # "full" for commits that survive a power loss too
            table = {**table, "sqlite_synchronous": synchronous.lower()}
        return cls(database_url=database_url(database_url_), policy_path=policy_path, **table)

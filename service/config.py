"""Service settings: where the database is, which policy file, and the service policy table."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from detector.policy import Policy, ServicePolicy, load_policy, resolve

DEFAULT_DATABASE_URL = "sqlite:///warden.db"


def database_url(explicit: str | None = None) -> str:
    """`--database-url`, else `WARDEN_DATABASE_URL`, else `warden.db` in the working directory."""
    return explicit or os.environ.get("WARDEN_DATABASE_URL") or DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class Settings:
    """Everything `create_app` needs: the database, the policy (its `[service]` table holds
    the service's numbers: ``settings.service.max_body_bytes``) and two switches."""

    database_url: str = field(default_factory=database_url)
    policy: Policy = field(default_factory=load_policy)
    # WARDEN_SQLITE_SYNCHRONOUS, when set: overrides [service] sqlite_synchronous
    synchronous_override: str | None = None
    # serve POST /v1/events and GET /v1/registration-status outside FastAPI's routing
    # (service.hot); False only to compare the two in tests
    hot_routes: bool = True
    # WARDEN_RATELIMIT_STORAGE, when set: overrides [service] ratelimit_storage
    ratelimit_storage_override: str | None = None

    @property
    def service(self) -> ServicePolicy:
        return self.policy.service

    @property
    def ratelimit_storage(self) -> str:
        """`limits` storage: memory:// (one replica) or redis://host:port (every replica)."""
        return self.ratelimit_storage_override or self.policy.service.ratelimit_storage

    @property
    def sqlite_synchronous(self) -> str:
        """SQLite only: "normal" (durable when the process dies; see
        service.db.sqlite_pragmas) or "full" (also when the machine loses power)."""
        return self.synchronous_override or self.policy.service.sqlite_synchronous

    @classmethod
    def load(cls, database_url_: str | None = None, policy: Policy | None = None) -> Settings:
        synchronous = os.environ.get("WARDEN_SQLITE_SYNCHRONOUS")
        storage = os.environ.get("WARDEN_RATELIMIT_STORAGE")  # redis://... where deployed
        return cls(database_url=database_url(database_url_), policy=resolve(policy),
                   synchronous_override=synchronous.lower() if synchronous else None,
                   ratelimit_storage_override=storage or None)

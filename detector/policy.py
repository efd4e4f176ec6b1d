"""Policy: every threshold and decision rule, read from one file into one typed object.

The shipped policy is ``data/policy.toml``. A caller may lay another file over it (for
example ``warden replay --policy FILE``); keys it leaves out keep the shipped value. The
result is checked once, here, and handed around as a frozen ``Policy``: unknown keys,
wrong types (``group_window_ms = "2"``) and out-of-range values are a ``PolicyError``
naming the file and the key, so a typo never silently does nothing and a bad value never
reaches the code that would crash on it. No other module reads the file.

The tables are pydantic models (strict, frozen, no extra keys): the TOML is validated in
JSON mode, so arrays become tuples and an integer is accepted where a float is meant, but
a string never becomes a number. Defaults live only in ``data/policy.toml``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from detector.resources import data_path
from detector.vocab import ScanCode

SHIPPED_POLICY = data_path("policy.toml")


class PolicyError(ValueError):
    """The policy file is unreadable, names an unknown key, or holds a bad value."""


# Keys that moved or went away, with what replaces them: refused with that advice, so an
# old policy file never silently stops doing what it said.
MOVED = {
    "service.auto_trip_minutes": "[breaker] auto_trip_minutes",
    "service.manual_pause_default_minutes": "[breaker] manual_pause_default_minutes",
    "service.manual_pause_max_minutes": "[breaker] manual_pause_max_minutes",
    "service.max_future_minutes": "[stream] max_future_skew_minutes",
    "service.max_past_days": "[stream] live_window_hours",
    "service.rebuild_hours": "[service] checkpoint_events (a start now replays every "
                             "event after the newest stored checkpoint)",
    "breaker.expire_hours": "[breaker] auto_trip_minutes (automatic trips) and "
                            "manual_pause_max_minutes (any other pause)",
}

Share = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Count = Annotated[int, Field(ge=1)]
NonNegativeCount = Annotated[int, Field(ge=0)]


class Table(BaseModel):
    """One policy table: frozen, strict, and no key the shipped file does not have."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False,
                              populate_by_name=True)


class NamesPolicy(Table):
    flag_threshold: Share
    min_length: Count
    popular_rank_ratio: Annotated[float, Field(ge=1.0)]


class ServicePolicy(Table):
    max_body_bytes: Count
    max_batch_events: Count
    async_files_bytes: NonNegativeCount
    max_reason_chars: Count
    checkpoint_events: Count
    status_cache_seconds: NonNegative
    token_cache_seconds: NonNegative
    sqlite_synchronous: Literal["normal", "full"]
    group_window_ms: NonNegative
    max_queued_events: Count
    max_json_depth: Count
    session_idle_minutes: Positive
    session_absolute_hours: Positive
    ratelimit_storage: str
    limit_failed_auth: str
    limit_logins: str
    limit_reads: str


class CodeTiers(Table):
    """How much a finding counts, by the tier of the file it is in."""

    install: NonNegative
    import_: NonNegative = Field(alias="import")
    other: NonNegative
    test: NonNegative


class CodeLimits(Table):
    """Archive and file limits: hostile input stops here, with a finding and an error."""

    max_members: Count
    max_file_bytes: Count
    max_total_bytes: Count
    max_ratio: Positive
    max_parse_bytes: NonNegativeCount
    dense_parse_bytes: NonNegativeCount
    max_text_scan_bytes: NonNegativeCount
    max_decode_depth: NonNegativeCount
    max_header_bytes: Count
    max_parse_units: Count
    scan_cpu_seconds: Positive
    fold_bytes: Count
    decode_bytes: Count


class CodePolicy(Table):
    flag_threshold: Share
    rule_score_scale: Positive
    rule_blend: Share
    model_prior: Annotated[float, Field(gt=0.0, lt=1.0)]
    dense_code_ratio: Annotated[float, Field(gt=0.0, le=1.0)]
    dense_code_min_bytes: NonNegativeCount
    max_hits_per_rule_file: Count
    model_version_mismatch: Literal["warn", "refuse"]
    tiers: CodeTiers
    limits: CodeLimits


class BackfillPolicy(Table):
    names_partition_size: Count
    code_partition_size: Count
    task_retries: NonNegativeCount
    connect_timeout_s: Positive


class CohortWindow(Table):
    minutes: Positive
    min_count: Count


class CohortsPolicy(Table):
    min_history_hours: NonNegative
    max_quiet_hours: Positive
    windows: Annotated[tuple[CohortWindow, ...], Field(min_length=1)]
    surprise_threshold: Positive
    min_excess_ratio: NonNegative
    prior_count: Positive
    prior_days: Positive
    half_life_days: Positive
    seasonal_shrink: NonNegative


class StreamPolicy(Table):
    review_threshold: Share
    block_threshold: Share
    max_future_skew_minutes: Positive
    live_window_hours: Positive
    max_clock_leap_minutes: Positive
    young_account_hours: NonNegative
    flood_per_hour: Count
    flood_per_day: Count
    tail_days: NonNegative
    tail_max_per_day: NonNegative
    disposable_email: Share
    machine_username: Share
    impersonation: Share
    name_squat: Share
    code: Share
    code_min_score: Share
    young_account: Share
    empty_project: Share
    account_carry: Share
    campaign_member: Share
    burst_base: Share
    burst_per_surprise: NonNegative
    scan_code: ScanCode
    recent_account_days: Positive
    account_flood: Share
    machine_username_min: Share
    account_reason_min: Share
    empty_project_chars: NonNegativeCount
    impersonation_top_projects: NonNegativeCount
    broad_cohorts: tuple[str, ...]
    broad_burst: Share
    broad_key_per_day: Positive
    broad_when_common: tuple[str, ...]
    link_half_life_days: Positive
    link_benign_decay: Share
    link_min_strength: Share
    benign_activity_max: Share
    cohorts: CohortsPolicy

    @model_validator(mode="after")
    def _ordered(self) -> StreamPolicy:
        if self.review_threshold > self.block_threshold:
            raise ValueError("review_threshold exceeds block_threshold")
        return self


class TripRule(Table):
    window_minutes: Positive
    flagged: Count


class BreakerPolicy(Table):
    """Thresholds of the breaker (``detector.breaker``)."""

    trip_rules: Annotated[tuple[TripRule, ...], Field(min_length=1)]
    auto_trip_minutes: Positive
    reset_window_minutes: Positive
    reset_flagged: NonNegativeCount
    min_pause_minutes: NonNegative
    manual_pause_default_minutes: Positive
    manual_pause_max_minutes: Positive

    @model_validator(mode="after")
    def _default_within_max(self) -> BreakerPolicy:
        if self.manual_pause_default_minutes > self.manual_pause_max_minutes:
            raise ValueError("manual_pause_default_minutes exceeds manual_pause_max_minutes")
        return self

    @property
    def horizon(self) -> float:
        """Seconds of flagged observations the state must remember."""
        return 60 * max([r.window_minutes for r in self.trip_rules] + [self.reset_window_minutes])


class Policy(Table):
    """The whole policy file: one attribute per table."""

    names: NamesPolicy
    service: ServicePolicy
    code: CodePolicy
    backfill: BackfillPolicy
    stream: StreamPolicy
    breaker: BreakerPolicy

    def digest(self) -> str:
        """A stable fingerprint of every value (e.g. to refuse resuming under another policy)."""
        import hashlib

        text = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def _merge(base: dict[str, Any], override: Mapping[str, Any], where: str) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if key not in base:
            if f"{where}{key}" in MOVED:
                raise PolicyError(f"[{where.rstrip('.')}] {key} is no longer "
                                  f"read: use {MOVED[where + key]}")
            raise PolicyError(f"unknown policy key {where}{key}")
        if isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise PolicyError(f"policy key {where}{key!r} must be a table")
            merged[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            merged[key] = value
    return merged


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML ({exc})") from exc


def _key(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a dotted key: ``stream.cohorts.windows[0].minutes``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def build_policy(tables: Mapping[str, Any], source: str = str(SHIPPED_POLICY)) -> Policy:
    """A checked ``Policy`` from parsed TOML tables; errors name ``source`` and the key."""
    try:
        return Policy.model_validate_json(json.dumps(tables))
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        given = f" (got {first['input']!r})" if not isinstance(first["input"], dict) else ""
        raise PolicyError(f"{source}: policy key {_key(first['loc'])}: "
                          f"{first['msg']}{given}{more}") from None
    except (TypeError, ValueError) as exc:  # e.g. a TOML date, which JSON cannot hold
        raise PolicyError(f"{source}: {exc}") from None


@lru_cache(maxsize=8)
def _load(path: str | None) -> Policy:
    shipped = _read(SHIPPED_POLICY)
    if path is None:
        return build_policy(shipped)
    try:
        merged = _merge(shipped, _read(Path(path)), "")
    except PolicyError as exc:
        message = str(exc)
        raise PolicyError(message if message.startswith(path) else f"{path}: {message}") \
            from None
    return build_policy(merged, path)


def load_policy(path: str | Path | None = None) -> Policy:
    """The shipped policy, with the tables of the file at ``path`` laid over it when given.

    Loaded once per path; every reader of the policy takes the returned object.
    """
    return _load(None if path is None else str(path))


def resolve(policy: Policy | None) -> Policy:
    """``policy``, or the shipped one when None (the default of every library entry point)."""
    return load_policy() if policy is None else policy

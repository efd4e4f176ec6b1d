"""Policy: every threshold and decision rule, read from one file into one typed object.

The shipped policy is ``data/policy.toml``. A caller may lay another file over it (for
example ``warden replay --policy FILE``); keys it leaves out keep the shipped value. The
result is checked once, here, and handed around as a frozen ``Policy``: unknown keys,
wrong types (``group_window_ms = "2"``) and out-of-range values are a ``PolicyError``
naming the file and the key, so a typo never silently does nothing and a bad value never
reaches the code that would crash on it. No other module reads the file.

The tables are frozen dataclasses checked by ``_build`` from their type hints and each
field's range. pydantic did the same job first; importing it and building the models
cost 330-400 ms on every command's start (measured: ``import detector.policy`` 0.41 s
with pydantic, 0.01 s now), which `warden scan` of one file cannot afford. Defaults live
only in ``data/policy.toml``.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from detector.resources import data_path
from detector.vocab import CohortKind, ScanCode

SHIPPED_POLICY = data_path("policy.toml")
T = TypeVar("T")


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


def _range(ge: float | None = None, gt: float | None = None, le: float | None = None,
           lt: float | None = None, min_length: int | None = None, key: str | None = None
           ) -> Any:
    limits = {"ge": ge, "gt": gt, "le": le, "lt": lt, "min_length": min_length, "key": key}
    return field(metadata={k: v for k, v in limits.items() if v is not None})


def required() -> Any:
    """A field with no range (its type is checked)."""
    return field()


def share() -> Any:
    return _range(ge=0.0, le=1.0)


def positive() -> Any:
    return _range(gt=0.0)


def non_negative() -> Any:
    return _range(ge=0.0)


def count() -> Any:
    return _range(ge=1)


class Table:
    """One policy table: a frozen dataclass whose fields ``_build`` checks."""

    def check(self) -> None:
        """Rules across fields; raise ValueError with the message."""


@dataclass(frozen=True)
class NamesPolicy(Table):
    flag_threshold: float = share()
    min_length: int = count()
    popular_rank_ratio: float = _range(ge=1.0)
    combo_scope: Literal["attacked", "all"] = required()
    combo_min_length: int = count()
    sweep_window_hours: float = positive()
    sweep_boost: float = non_negative()
    sweep_half_siblings: float = positive()
    sweep_min_score: float = share()
    sweep_listed: int = count()
    sweep_batch_names: int = count()
    burst_boost: float = non_negative()
    burst_half_names: float = positive()
    burst_min_score: float = share()
    burst_glued_floor: float = share()
    burst_min_names: int = count()
    burst_min_ratio: float = positive()
    burst_significant_ratio: float = positive()
    burst_significance: float = share()
    burst_piece_min: int = count()
    burst_piece_max: int = count()
    burst_window_max_names: int = count()
    run_window_days: float = non_negative()
    run_baseline_days: float = non_negative()
    run_min_names: int = count()
    run_ratio: float = positive()
    run_significance: float = share()
    run_window_max_names: int = count()
    grid_min_squares: int = _range(ge=0)
    grid_piece_min: int = count()
    grid_name_max: int = count()
    grid_crossed_max: int = count()
    grid_window_max_names: int = count()
    pair_min_names: int = _range(ge=0)
    pair_significance: float = share()
    pair_shared_names: int = count()
    echo_min_score: float = share()
    echo_name_min: int = count()
    attack_boost: float = non_negative()
    attack_half_names: float = positive()
    attack_window_days: float = positive()
    attack_lag_days: float = non_negative()

    def check(self) -> None:
        if self.burst_piece_min > self.burst_piece_max:
            raise ValueError("burst_piece_min exceeds burst_piece_max")


@dataclass(frozen=True)
class ServicePolicy(Table):
    max_body_bytes: int = count()
    max_batch_events: int = count()
    async_files_bytes: int = non_negative()
    max_reason_chars: int = count()
    checkpoint_events: int = count()
    status_cache_seconds: float = non_negative()
    token_cache_seconds: float = non_negative()
    sqlite_synchronous: Literal["normal", "full"] = required()
    group_window_ms: float = non_negative()
    max_queued_events: int = count()
    max_json_depth: int = count()
    session_idle_minutes: float = positive()
    session_absolute_hours: float = positive()
    ratelimit_storage: str = required()
    limit_failed_auth: str = required()
    limit_logins: str = required()
    limit_reads: str = required()
    scan_claim_seconds: float = positive()
    scan_wall_seconds: float = positive()
    scan_memory_bytes: int = count()
    scan_max_attempts: int = count()
    inline_scan_workers: int = count()
    inline_scan_seconds: float = positive()
    inline_scan_cpu_seconds: float = positive()


@dataclass(frozen=True)
class CodeTiers(Table):
    """How much a finding counts, by the tier of the file it is in."""

    install: float = non_negative()
    import_: float = _range(ge=0.0, key="import")
    other: float = non_negative()
    test: float = non_negative()


@dataclass(frozen=True)
class CodeLimits(Table):
    """Archive and file limits: hostile input stops here, with a finding and an error."""

    max_members: int = count()
    max_file_bytes: int = count()
    max_total_bytes: int = count()
    max_ratio: float = positive()
    max_parse_bytes: int = non_negative()
    dense_parse_bytes: int = non_negative()
    max_text_scan_bytes: int = non_negative()
    max_decode_depth: int = non_negative()
    max_header_bytes: int = count()
    max_parse_units: int = count()
    max_prefix_units: int = non_negative()
    scan_cpu_seconds: float = positive()
    fold_bytes: int = count()
    decode_bytes: int = count()


@dataclass(frozen=True)
class CodePolicy(Table):
    flag_threshold: float = share()
    rule_score_scale: float = positive()
    rule_blend: float = share()
    model_prior: float = _range(gt=0.0, lt=1.0)
    dense_code_ratio: float = _range(gt=0.0, le=1.0)
    dense_code_min_bytes: int = non_negative()
    max_hits_per_rule_file: int = count()
    model_version_mismatch: Literal["warn", "refuse"] = required()
    tiers: CodeTiers = required()
    decisive_score: float = share()
    limits: CodeLimits = required()


@dataclass(frozen=True)
class BackfillPolicy(Table):
    names_partition_size: int = count()
    code_partition_size: int = count()
    task_retries: int = non_negative()
    connect_timeout_s: float = positive()


@dataclass(frozen=True)
class CohortWindow(Table):
    minutes: float = positive()
    min_count: int = count()


@dataclass(frozen=True)
class CohortsPolicy(Table):
    min_history_hours: float = non_negative()
    max_quiet_hours: float = positive()
    windows: tuple[CohortWindow, ...] = _range(min_length=1)
    surprise_threshold: float = positive()
    min_excess_ratio: float = non_negative()
    prior_count: float = positive()
    prior_days: float = positive()
    half_life_days: float = positive()
    seasonal_shrink: float = non_negative()


@dataclass(frozen=True)
class StreamPolicy(Table):
    review_threshold: float = share()
    block_threshold: float = share()
    max_future_skew_minutes: float = positive()
    live_window_hours: float = positive()
    max_clock_leap_minutes: float = positive()
    young_account_hours: float = non_negative()
    flood_per_hour: int = count()
    flood_per_day: int = count()
    tail_days: float = non_negative()
    tail_max_per_day: float = non_negative()
    disposable_email: float = share()
    machine_username: float = share()
    impersonation: float = share()
    name_squat: float = share()
    code: float = share()
    code_min_score: float = share()
    young_account: float = share()
    empty_project: float = share()
    account_carry: float = share()
    campaign_member: float = share()
    burst_base: float = share()
    burst_per_surprise: float = non_negative()
    scan_code: ScanCode = required()
    recent_account_days: float = positive()
    account_flood: float = share()
    machine_username_min: float = share()
    account_reason_min: float = share()
    empty_project_chars: int = non_negative()
    impersonation_top_projects: int = non_negative()
    broad_cohorts: tuple[str, ...] = required()
    broad_burst: float = share()
    broad_key_per_day: float = positive()
    broad_when_common: tuple[str, ...] = required()
    link_half_life_days: float = positive()
    link_benign_decay: float = share()
    link_min_strength: float = share()
    benign_activity_max: float = share()
    paired_cohorts: tuple[str, ...] = required()
    site_cohorts: tuple[str, ...] = required()
    site_explains: tuple[str, ...] = required()
    site_burst: float = share()
    site_link: float = share()
    within_cohorts: tuple[str, ...] = required()
    within_surprise: float = positive()
    within_link_minutes: float = positive()
    tail_paired_cohorts: tuple[str, ...] = required()
    signup_tail_members: int = count()
    signup_tail_max_per_day: float = non_negative()
    cohorts: CohortsPolicy = required()

    def check(self) -> None:
        if self.review_threshold > self.block_threshold:
            raise ValueError("review_threshold exceeds block_threshold")


@dataclass(frozen=True)
class TripRule(Table):
    window_minutes: float = positive()
    flagged: int = count()


@dataclass(frozen=True)
class BreakerPolicy(Table):
    """Thresholds of the breaker (``detector.breaker``)."""

    trip_rules: tuple[TripRule, ...] = _range(min_length=1)
    auto_trip_minutes: float = positive()
    reset_window_minutes: float = positive()
    reset_flagged: int = non_negative()
    min_pause_minutes: float = non_negative()
    manual_pause_default_minutes: float = positive()
    manual_pause_max_minutes: float = positive()
    # Cohort scopes (``detector.breaker_scope``): the cohorts an automatic trip may pause
    # instead of the whole event type, narrowest first; a cohort holds the wave when it
    # covers ``cohort_min_share`` of the flagged registrations that tripped and at most
    # ``cohort_max_bystander_share`` of its own registrations in the window were not.
    cohort_kinds: tuple[CohortKind, ...] = required()
    cohort_min_share: float = _range(gt=0.0, le=1.0)
    cohort_max_bystander_share: float = share()

    def check(self) -> None:
        if len(set(self.cohort_kinds)) != len(self.cohort_kinds):
            raise ValueError("cohort_kinds lists a kind twice")
        if self.manual_pause_default_minutes > self.manual_pause_max_minutes:
            raise ValueError("manual_pause_default_minutes exceeds manual_pause_max_minutes")

    @property
    def horizon(self) -> float:
        """Seconds of flagged observations the state must remember."""
        return 60 * max([r.window_minutes for r in self.trip_rules] + [self.reset_window_minutes])


@dataclass(frozen=True)
class Policy(Table):
    """The whole policy file: one attribute per table."""

    names: NamesPolicy = required()
    service: ServicePolicy = required()
    code: CodePolicy = required()
    backfill: BackfillPolicy = required()
    stream: StreamPolicy = required()
    breaker: BreakerPolicy = required()

    def to_dict(self) -> dict[str, Any]:
        """The values as TOML tables (``[code.tiers] import`` under its own name)."""
        return _plain(self)

    def digest(self) -> str:
        """A stable fingerprint of every value (e.g. to refuse resuming under another policy)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, Table):
        return {f.metadata.get("key", f.name): _plain(getattr(value, f.name))
                for f in fields(value)}  # type: ignore[arg-type]
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, StrEnum) else value


class _Bad(ValueError):
    """A bad value at ``path`` (the dotted key)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _shown(value: Any) -> str:
    return f"{value!r}" if not isinstance(value, dict) else "a table"


def _number(value: Any, kind: type, path: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            kind is int and not isinstance(value, int)):
        noun = "an integer" if kind is int else "a number"
        raise _Bad(path, f"must be {noun}, not {_shown(value)}")
    if kind is float:
        value = float(value)
        if not math.isfinite(value):
            raise _Bad(path, f"must be a finite number, not {value!r}")
    return value


def _limits(value: Any, metadata: Mapping[str, Any], path: str) -> None:
    size = len(value) if isinstance(value, tuple) else None
    checks = [("ge", ">=", lambda v, b: v >= b), ("gt", ">", lambda v, b: v > b),
              ("le", "<=", lambda v, b: v <= b), ("lt", "<", lambda v, b: v < b)]
    for name, sign, ok in checks:
        if name in metadata and size is None and not ok(value, metadata[name]):
            raise _Bad(path, f"must be {sign} {metadata[name]:g}, not {value!r}")
    if size is not None and size < metadata.get("min_length", 0):
        raise _Bad(path, f"needs at least {metadata['min_length']} entries")


def _value(kind: Any, value: Any, path: str) -> Any:
    origin = get_origin(kind)
    if isinstance(kind, type) and issubclass(kind, Table):
        return _build(kind, value, path)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _Bad(path, f"must be an array, not {_shown(value)}")
        item = get_args(kind)[0]
        return tuple(_value(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is Literal or (isinstance(kind, type) and issubclass(kind, StrEnum)):
        allowed = get_args(kind) if origin is Literal else [m.value for m in kind]
        if value not in allowed:
            raise _Bad(path, f"must be one of {', '.join(map(repr, allowed))}, "
                             f"not {_shown(value)}")
        return value if origin is Literal else kind(value)
    if kind is str:
        if not isinstance(value, str):
            raise _Bad(path, f"must be text, not {_shown(value)}")
        return value
    return _number(value, kind, path)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _build(cls: type[T], data: Any, path: str) -> T:
    """A checked ``cls`` from a parsed TOML table (``path``: its dotted key)."""
    if not isinstance(data, dict):
        raise _Bad(path, f"must be a table, not {_shown(data)}")
    hints = _hints(cls)
    known = {f.metadata.get("key", f.name): f for f in fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in known:
            raise _Bad(f"{path}.{key}".lstrip("."), "is not a policy key")
    values = {}
    for key, spec in known.items():
        where = f"{path}.{key}".lstrip(".")
        if key not in data:
            raise _Bad(where, "is missing")
        value = _value(hints[spec.name], data[key], where)
        _limits(value, spec.metadata, where)
        values[spec.name] = value
    table = cls(**values)
    try:
        table.check()  # type: ignore[attr-defined]
    except ValueError as exc:
        if isinstance(exc, _Bad):
            raise
        raise _Bad(path, str(exc)) from None
    return table


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


def build_policy(tables: Mapping[str, Any], source: str = str(SHIPPED_POLICY)) -> Policy:
    """A checked ``Policy`` from parsed TOML tables; errors name ``source`` and the key."""
    try:
        return _build(Policy, dict(tables), "")
    except _Bad as exc:
        raise PolicyError(f"{source}: policy key {exc.path}: {exc}") from None


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

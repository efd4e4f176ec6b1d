"""Policy: every threshold and decision rule, read from one file.

The shipped policy is ``data/policy.toml``. A caller may pass another file (for
example ``warden replay --policy FILE``); keys it leaves out keep the shipped
value, unknown keys are an error so that a typo never silently does nothing.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from detector.resources import data_path

SHIPPED_POLICY = data_path("policy.toml")


class PolicyError(ValueError):
    """The policy file is unreadable or names a key the shipped policy does not have."""


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


def _merge(base: dict[str, Any], override: Mapping[str, Any], where: str) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if key not in base:
            if f"{where}{key}" in MOVED:
                raise PolicyError(f"policy key [{where.rstrip('.')}] {key} is no longer "
                                  f"read: use {MOVED[where + key]}")
            raise PolicyError(f"unknown policy key {where}{key!r}")
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


@lru_cache(maxsize=8)
def load_policy(path: str | None = None) -> dict[str, Any]:
    """The shipped policy, with the tables of ``path`` laid over it when given."""
    shipped = _read(SHIPPED_POLICY)
    if path is None:
        return shipped
    return _merge(shipped, _read(Path(path)), "")


def section(name: str, path: str | None = None) -> dict[str, Any]:
    """One table of the policy, e.g. ``section("names")["flag_threshold"]``."""
    return load_policy(path)[name]

"""Event times as text: ISO 8601 in, ISO 8601 UTC out (CONTRACT §3).

Its own module so that the breaker, the stream and the service share it without the
breaker importing the stream package.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_ts(value: Any) -> float:
    """Seconds since the epoch from an ISO 8601 timestamp (naive means UTC)."""
    if not isinstance(value, str):
        raise ValueError(f"'ts' must be an ISO 8601 string, not {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'ts' is not an ISO 8601 timestamp: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_ts(seconds: float) -> str:
    """ISO 8601 UTC with a ``Z`` suffix, to the second."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

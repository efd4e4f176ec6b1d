"""The registry event model (CONTRACT §3) and its validation.

An event is checked here once, so the scorer can trust its fields. Every
problem becomes an ``EventError`` with a message a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from detector.timestamps import format_ts, parse_ts
from detector.vocab import EventType, values

__all__ = ["EVENT_TYPES", "Event", "EventError", "format_ts", "parse_event", "parse_ts"]

EVENT_TYPES = values(EventType)


class EventError(ValueError):
    """An event that cannot be scored (malformed, missing fields, out of order, duplicate)."""

    def __init__(self, message: str, event_id: str | None = None) -> None:
        super().__init__(message)
        self.event_id = event_id


@dataclass(slots=True)
class Event:
    """One validated registry event; optional fields are ``None`` or empty when absent."""

    id: str
    ts: float  # seconds since the epoch, UTC
    ts_text: str
    type: str
    username: str
    email: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    project: str | None = None
    summary: str | None = None
    version: str | None = None
    files: dict[str, str] = field(default_factory=dict)


def _optional_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"'{where}{key}' must be a string, not {type(value).__name__}")
    return value


def parse_event(raw: Any) -> Event:
    """Validate one decoded JSON value as an event; raises ``EventError``."""
    if not isinstance(raw, dict):
        raise EventError(f"an event must be a JSON object, not {type(raw).__name__}")
    event_id = raw.get("id")
    shown_id = event_id if isinstance(event_id, str) else None
    try:
        return _parse_fields(raw)
    except ValueError as exc:
        raise EventError(str(exc), shown_id) from None


def _parse_fields(raw: dict[str, Any]) -> Event:
    # Every event goes through here: checks in the documented order, the Event built once.
    event_id, ts_text, kind = raw.get("id"), raw.get("ts"), raw.get("type")
    for key, value in (("id", event_id), ("ts", ts_text), ("type", kind)):
        if value is None:
            raise ValueError(f"missing field '{key}'")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("'id' must be a non-empty string")
    if kind not in EVENT_TYPES:
        raise ValueError(
            f"unknown event type {kind!r} (expected one of {', '.join(EVENT_TYPES)})"
        )
    ts = parse_ts(ts_text)  # raises unless ts_text is a str
    assert isinstance(ts_text, str)
    account = raw.get("account")
    if not isinstance(account, dict):
        raise ValueError("missing field 'account.username'" if account is None
                         else "'account' must be an object")
    username = account.get("username")
    if not isinstance(username, str) or not username.strip():
        raise ValueError("missing field 'account.username'")
    email = _optional_str(account, "email", "account.")
    ip = _optional_str(account, "ip", "account.")
    user_agent = _optional_str(account, "user_agent", "account.")
    project = raw.get("project")
    if project is None or kind == "account.created":
        return Event(event_id, ts, ts_text, kind, username.strip(), email, ip, user_agent)
    if not isinstance(project, dict):
        raise ValueError("'project' must be an object")
    name = _optional_str(project, "name", "project.")
    if name is not None:
        name = name.strip() or None
    summary = _optional_str(project, "summary", "project.")
    version = project.get("version")
    files = project.get("files")
    if files is not None and (not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
        raise ValueError("'project.files' must map file paths to text")
    return Event(event_id, ts, ts_text, kind, username.strip(), email, ip, user_agent, name,
                 summary, None if version is None else str(version),
                 {} if files is None else files)

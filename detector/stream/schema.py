"""The registry event schema (CONTRACT §3), written once.

The service validates request bodies with these models (and they make its OpenAPI
schema); ``docs/stream.md`` lists their fields (a test keeps the two in step); the
detector's ``parse_event`` checks the same fields on its hot path and builds an
``Event``. Unknown fields are refused here so that a typo never passes silently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from detector.vocab import EventType


class Strict(BaseModel):
    """Unknown fields are refused so that a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class AccountIn(Strict):
    username: str = Field(min_length=1, max_length=200, pattern=r"\S")
    email: str | None = Field(default=None, max_length=320)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=1000)


class ProjectIn(Strict):
    name: str | None = Field(default=None, max_length=200)
    summary: str | None = Field(default=None, max_length=10_000)
    version: str | int | float | None = None
    files: dict[str, str] | None = None


# Event ids must be usable in a URL path segment as they are (GET /v1/events/{id}, the
# verdict routes, the pages): letters, digits and . _ : - , at most 128.
EVENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"


class EventIn(Strict):
    """One registry event (CONTRACT §3)."""

    id: str = Field(min_length=1, max_length=128, pattern=EVENT_ID_PATTERN,
                    description="letters, digits and . _ : - (1 to 128)")
    ts: datetime
    type: EventType
    account: AccountIn
    project: ProjectIn | None = None


def _shown(kind: Any) -> str:
    """A field's type in words."""
    args = [a for a in get_args(kind) if a is not type(None)]
    if get_origin(kind) is dict:
        return "object (file path: text)"
    if args:
        return " or ".join(_shown(a) for a in args)
    if kind is EventType:
        return " or ".join(f"`{v}`" for v in EventType)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return "object"
    return {str: "string", int: "integer", float: "number",
            datetime: "ISO 8601 time"}.get(kind, str(kind))


def field_table() -> str:
    """The event fields as a Markdown table (``docs/stream.md`` holds it verbatim)."""
    rows = ["| field | type | required | limit |", "| --- | --- | --- | --- |"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            limit = next((f"{m.max_length:,} characters" for m in info.metadata
                          if getattr(m, "max_length", None)), "")
            rows.append(f"| `{prefix}{name}` | {_shown(info.annotation)} | "
                        f"{'yes' if info.is_required() else 'no'} | {limit} |")
            nested = [a for a in (info.annotation, *get_args(info.annotation))
                      if isinstance(a, type) and issubclass(a, BaseModel)]
            if nested:
                walk(nested[0], f"{prefix}{name}.")

    walk(EventIn, "")
    return "\n".join(rows) + "\n"

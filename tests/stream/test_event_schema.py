"""One event schema and one enum per vocabulary, used by the detector, service and docs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from detector.stream.events import EventError, parse_event
from detector.stream.schema import EventIn, field_table
from detector.vocab import EventType

REPO = Path(__file__).resolve().parents[2]
GOOD: dict[str, Any] = {
    "id": "e1", "ts": "2025-01-01T00:00:00Z", "type": "project.created",
    "account": {"username": "bob", "email": "bob@example.org", "ip": "192.0.2.1",
                "user_agent": "pip/24"},
    "project": {"name": "reqeusts", "summary": "hi", "version": "1.0",
                "files": {"setup.py": "from setuptools import setup\n"}},
}


def _with(path: str, value: Any) -> dict[str, Any]:
    event = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    holder = event
    for key in parents:
        holder = holder[key]
    if value is KeyError:
        del holder[last]
    else:
        holder[last] = value
    return event


def test_the_docs_hold_the_table_generated_from_the_schema() -> None:
    assert field_table() in (REPO / "docs" / "stream.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", list(EventType))
def test_an_event_the_schema_accepts_the_detector_reads_field_for_field(kind: str) -> None:
    event = _with("type", kind)
    checked = EventIn.model_validate(event)
    parsed = parse_event(event)
    assert parsed.type == checked.type == kind
    assert parsed.id == checked.id and parsed.ts == checked.ts.timestamp()
    assert parsed.username == checked.account.username
    assert (parsed.email, parsed.ip, parsed.user_agent) == (
        checked.account.email, checked.account.ip, checked.account.user_agent)
    if kind != EventType.ACCOUNT:
        assert checked.project is not None
        assert (parsed.project, parsed.summary, parsed.version, parsed.files) == (
            checked.project.name, checked.project.summary, checked.project.version,
            checked.project.files)


@pytest.mark.parametrize(("path", "value"), [
    ("id", KeyError), ("ts", KeyError), ("type", KeyError), ("account", KeyError),
    ("account.username", KeyError), ("type", "account.deleted"), ("ts", "yesterday"),
    ("id", 5), ("account", "bob"), ("account.email", 5), ("project.files", {"a.py": 3}),
    ("project", "reqeusts"), ("project.files", ["setup.py"]),
])
def test_an_event_the_detector_refuses_the_schema_refuses_too(path: str, value: Any) -> None:
    event = _with(path, value)
    with pytest.raises(EventError):
        parse_event(event)
    with pytest.raises(ValidationError):
        EventIn.model_validate(event)

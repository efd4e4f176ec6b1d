"""Each vocabulary is one enum; everything that names its members uses it."""

from __future__ import annotations

import re
from pathlib import Path

from detector.names import check_names
from detector.names.checker import _KIND_PHRASES
from detector.vocab import Decision, EventType, NameKind, Tier, values
from service.app import create_app
from service.config import Settings
from service.vocab import Role, Verdict

REPO = Path(__file__).resolve().parents[2]


def test_every_name_kind_has_a_phrase_and_every_kind_found_is_in_the_vocabulary() -> None:
    assert set(_KIND_PHRASES) == set(NameKind)
    names = ["reqeusts", "requestss", "reqests", "rrequests", "requests-py", "djnago",
             "python-requests", "numpyy", "pandas2", "flask_login", "nunpy", "requesrs"]
    kinds = {m.kind for r in check_names(names) for m in r.matches}
    assert kinds and kinds <= set(values(NameKind))


def test_the_openapi_schema_lists_each_vocabulary_from_its_enum(tmp_path: Path) -> None:
    schema = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}")).openapi()
    enums = {tuple(c["enum"]) for c in schema["components"]["schemas"].values() if "enum" in c}
    for vocabulary in (EventType, Decision, Role, Verdict):
        assert values(vocabulary) in enums


def test_no_vocabulary_is_written_out_as_a_literal_list_elsewhere() -> None:
    """The members' strings appear together only in their enum's module (migrations are
    history: they keep what they wrote)."""
    vocabularies = [EventType, Decision, Tier, Role, Verdict]
    offenders = []
    for folder in ("detector", "service", "warden"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name == "vocab.py" or "migrations" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            for vocabulary in vocabularies:
                quoted = [re.escape(f'"{v}"') for v in values(vocabulary)]
                if re.search(r"\s*,\s*".join(quoted), text):
                    offenders.append(f"{path.relative_to(REPO)}: {vocabulary.__name__}")
    assert offenders == []

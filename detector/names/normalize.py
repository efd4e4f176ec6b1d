"""Validating and canonicalizing project names, and the keys names are compared on."""

from __future__ import annotations

import re

from detector.names.rules import NameRules
from detector.pep503 import canonicalize_name

MAX_NAME_LENGTH = 200
# PEP 508 / core metadata: ASCII letters and digits, with . _ - inside.
_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


# Already canonical (lower case, single hyphens): most names on a registry list.
_CANONICAL = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class InvalidName(ValueError):
    """A string that cannot be a project name; the message says why."""


def canonical(name: str) -> str:
    """PEP 503 normalization after validation; raises ``InvalidName`` with a reason."""
    if len(name) <= MAX_NAME_LENGTH and _CANONICAL.fullmatch(name):
        return name
    if not name:
        raise InvalidName("empty name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"name is {len(name)} characters long (at most {MAX_NAME_LENGTH})")
    if not name.isascii():
        bad = next(char for char in name if not char.isascii())
        raise InvalidName(f"non-ASCII character {bad!r} (U+{ord(bad):04X}) in name")
    if not _VALID_NAME.match(name):
        raise InvalidName(
            "not a valid project name (letters, digits and . _ - only, "
            "starting and ending with a letter or digit)"
        )
    return canonicalize_name(name)


def squashed(name: str) -> str:
    """The canonical name without separators: `setup-tools` and `setuptools` meet here."""
    return name.replace("-", "")


def skeleton(name: str, rules: NameRules) -> str:
    """Separators dropped and look-alike characters folded (`djang0`, `dj4ngo` stay apart)."""
    folded = name.replace("-", "")
    for sequence, fold in rules.fold_sequences:
        if sequence in folded:
            folded = folded.replace(sequence, fold)
    if rules.fold_bytes and folded.isascii():
        return folded.encode("ascii").translate(rules.fold_bytes).decode("ascii")
    return folded.translate(rules.fold_table)


def words(name: str) -> list[str]:
    """The words of a canonical name (PEP 503 has already turned `_` and `.` into `-`)."""
    return name.split("-") if "--" not in name else [word for word in name.split("-") if word]

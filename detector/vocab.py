"""The detector's shared vocabularies, each written out once.

Each is a ``StrEnum``: a member *is* its string (``EventType.ACCOUNT == "account.created"``),
so JSON, the database and the CLI keep the same text, and membership checks, error
messages and the service's pydantic models (``Literal`` lists in the OpenAPI schema) are
all derived from these. The service's own vocabularies (roles, verdicts) are in
``service.vocab``.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    """What a registry event reports (CONTRACT §3); also the breaker's scopes."""

    ACCOUNT = "account.created"
    PROJECT = "project.created"
    RELEASE = "release.uploaded"


# The breaker pauses one kind of registration: a scope is an event type (or, with a
# ``CohortKind``, one cohort of it: ``detector.breaker_scope``).
Scope = EventType


class CohortKind(StrEnum):
    """The cohorts one breaker pause may hold, besides a whole event type
    (``detector.breaker_scope``). Written ``kind:value``, e.g. ``email_domain:x.edu``."""

    EMAIL_DOMAIN = "email_domain"
    REGISTRABLE_DOMAIN = "registrable_domain"
    PROVIDER = "provider"
    TEMPLATE = "template"
    TARGET = "target"
    IP_PREFIX = "ip_prefix"
    ACCOUNT = "account"


class Decision(StrEnum):
    """The answer for one event, by the ``[stream]`` thresholds."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


class Tier(StrEnum):
    """Where a scanned file runs, most dangerous first (``[code.tiers]`` weighs them)."""

    INSTALL = "install"
    IMPORT = "import"
    OTHER = "other"
    TEST = "test"


class ScanCode(StrEnum):
    """Which uploads' files the stream scorer scans (``[stream] scan_code``)."""

    ALL = "all"
    YOUNG = "young"
    NONE = "none"


class NameKind(StrEnum):
    """How a checked name differs from the popular name it imitates."""

    SWAPPED_CHARACTERS = "swapped-characters"
    REPEATED_CHARACTER = "repeated-character"
    OMITTED_CHARACTER = "omitted-character"
    EXTRA_CHARACTER = "extra-character"
    KEYBOARD_TYPO = "keyboard-typo"
    HOMOGLYPH = "homoglyph"
    BIT_FLIP = "bit-flip"
    SUBSTITUTION = "substitution"
    DIGIT_CHANGE = "digit-change"
    EDIT_DISTANCE_2 = "edit-distance-2"
    SEPARATOR = "separator"
    WORD_REORDER = "word-reorder"
    AFFIX = "affix"
    PLURAL = "plural"
    VERSION_SUFFIX = "version-suffix"
    DROPPED_WORDS = "dropped-words"
    COMBOSQUAT = "combosquat"


def values(vocabulary: type[StrEnum]) -> tuple[str, ...]:
    """The strings of a vocabulary, in declaration order (for messages and ``Literal``s)."""
    return tuple(member.value for member in vocabulary)

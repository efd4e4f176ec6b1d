"""The service's own vocabularies (the detector's are in ``detector.vocab``).

``StrEnum``s: a member is its string, so the database, JSON and the pages keep the text;
membership checks, messages, the OpenAPI schema and the CLI's help derive from these.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a token may do (service.auth maps endpoints to roles)."""

    REGISTRY = "registry"
    MODERATOR = "moderator"
    ANALYST = "analyst"
    ADMIN = "admin"


class Verdict(StrEnum):
    """A moderator's verdict on a stored event or a whole campaign."""

    MALICIOUS = "malicious"
    BENIGN = "benign"
    NEEDS_INFO = "needs-info"

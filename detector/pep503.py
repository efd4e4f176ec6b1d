"""PEP 503 name normalization: packaging's ``canonicalize_name``, imported only for a name
that is not already canonical. Most names are, and importing ``packaging.utils`` (it pulls
in ``packaging.tags`` and ``subprocess``) costs about 20 ms of every command's start."""

from __future__ import annotations

import re

# Already canonical: lower case letters and digits, single hyphens between them.
_CANONICAL = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.ASCII)


def canonicalize_name(name: str) -> str:
    """``packaging.utils.canonicalize_name(name)``."""
    if _CANONICAL.fullmatch(name):
        return name
    from packaging.utils import canonicalize_name as canonicalize

    return canonicalize(name)

"""Where the shipped data and models live.

In a checkout (editable install) they are the top-level ``data/`` and ``models/``
folders; in a wheel they are packed under ``detector/_shipped/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def _root(kind: str) -> Path:
    checkout = _CHECKOUT / kind
    if checkout.is_dir():
        return checkout
    return _PACKAGE / "_shipped" / kind


def data_path(name: str = "") -> Path:
    """Path of a file in the shipped ``data/`` folder."""
    return _root("data") / name


def models_path(name: str = "") -> Path:
    """Path of a file in the shipped ``models/`` folder."""
    return _root("models") / name

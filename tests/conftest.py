"""Fixtures shared by every test module."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# `../shared` beside the checkout: developers and CI have it, a user's clone does not.
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared research/corpus folder; tests that need it skip cleanly without it."""
    if not (SHARED / "CONTRACT.md").is_file():
        pytest.skip("../shared is not present (a user's clone does not have it)")
    return SHARED


@pytest.fixture(scope="session", autouse=True)
def _private_index_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the name-index cache of test corpora out of the user's cache folder."""
    import os

    os.environ["WARDEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("warden-cache"))

"""The example policy overlays in data/examples/ load over the shipped policy and change
what they say they change."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.policy import load_policy

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "data" / "examples").glob("*.toml"))


def test_there_is_an_example_overlay() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_overlay_loads_and_differs(path: Path) -> None:
    shipped, overlaid = load_policy(None), load_policy(str(path))
    assert overlaid != shipped


def test_the_stricter_example_is_stricter() -> None:
    shipped = load_policy(None)
    stricter = load_policy(str(EXAMPLES[0].with_name("stricter.toml")))
    assert stricter.stream.review_threshold < shipped.stream.review_threshold
    assert stricter.breaker.trip_rules[0].flagged < shipped.breaker.trip_rules[0].flagged

"""The forward-in-time evaluation helpers (detector/names/evaluation.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from detector.names import evaluation as ev

POPULAR = ["requests", "numpy", "discord", "six", "beautifulsoup4", "matplotlib"]


@pytest.mark.parametrize(
    ("name", "typo", "combo"),
    [
        ("reqeusts", True, False),  # DL 1, 8 letters
        ("nunpy", True, False),  # DL 1, 5 letters
        ("nmpy", False, False),  # DL 1 but only 4 letters
        ("matplotlb2", True, False),  # DL 2, 10 letters
        ("requests-api", False, True),  # brand plus a word
        ("discordbotpy", False, True),  # brand plus glued words
        ("discord-gift-tools", False, True),
        ("sixteen", False, False),  # a 3-letter popular name inside a word is chance
        ("requests", False, False),  # popular itself
        ("totally-unrelated", False, False),
    ],
)
def test_typosquat_and_combosquat_classes(name: str, typo: bool, combo: bool) -> None:
    assert (name in ev.typosquats([name], POPULAR)) is typo
    assert (name in ev.combosquats([name], POPULAR)) is combo


def test_splits_are_by_first_seen_and_latest_release() -> None:
    rows = [ev.Malicious("a", "2022-12-31"), ev.Malicious("b", "2023-01-01")]
    assert ev.split_malicious(rows) == (["a"], ["b"])
    live = [
        ev.Live("x", "2022-12", False),
        ev.Live("y", "2023-01", False),
        ev.Live("z", "2024-01", True),
    ]
    assert ev.split_live(live) == (["x"], ["y"])


def test_recall_at_alert_rate_never_exceeds_the_budget() -> None:
    rng = np.random.default_rng(3)
    negative = rng.random(1000)
    positive = rng.random(200) * 0.5 + 0.5
    for rate in (0.0, 0.003, 0.01, 0.1):
        recall, threshold = ev.recall_at_alert_rate(positive, negative, rate)
        assert (negative >= threshold).mean() <= rate
        assert recall == pytest.approx((positive >= threshold).mean())
    # Ties at the threshold do not alert: all-equal negatives allow nothing.
    assert ev.recall_at_alert_rate([0.5, 0.6], [0.5] * 100, 0.01)[0] == 0.5


def test_zero_scores_never_alert() -> None:
    recall, _ = ev.recall_at_alert_rate([0.0, 0.0, 0.9], [0.0] * 50, 0.5)
    assert recall == pytest.approx(1 / 3)


def test_roc_auc_matches_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(5)
    positive = np.round(rng.random(300), 1)
    negative = np.round(rng.random(700) * 0.8, 1)
    expected = roc_auc_score([1] * 300 + [0] * 700, np.concatenate([positive, negative]))
    assert ev.roc_auc(positive, negative) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("days", "week"),
    [
        # three names on a Thursday to Saturday outweigh two on one Monday
        (["2023-02-13", "2023-02-13", "2023-02-23", "2023-02-24", "2023-02-25"],
         ("2023-02-20", "2023-02-26")),
        # a Sunday belongs to the week that began the Monday before
        (["2023-02-19", "2023-02-19", "2023-02-20"], ("2023-02-13", "2023-02-19")),
    ],
)
def test_busiest_week_is_the_monday_to_sunday_week_with_most_names(
    days: list[str], week: tuple[str, str]
) -> None:
    rows = [ev.Malicious(f"name{i}", day) for i, day in enumerate(days)]
    assert ev.busiest_week(rows) == week

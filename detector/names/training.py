"""Fitting the name signal's logistic weights, and the forward-in-time run that chooses them.

``fit`` takes positive (malicious) and negative (live, unpopular) names, matches each with
the checker, keeps each name's closest match and fits a logistic regression on the match
features. The intercept is then moved so that a score of 0.5 flags at most ``alert_rate``
of all the negative names (names with no match never alert). ``forward`` fits on names
first seen before the cut (with the attack history as it stood at the cut) and scores the
later ones: the figure every feature and weight is chosen by.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression

from detector.names import evaluation as ev
from detector.names import lexicon as lx
from detector.names import synthetic
from detector.names.attacks import MATCHES_PER_NAME
from detector.names.checker import NameChecker
from detector.names.edits import difference
from detector.names.history import AttackHistory
from detector.names.scoring import MatchFeatures, NameScorer

# A training squat sees the attack history as it stood this long before it appeared.
HISTORY_GAP_DAYS = 90
GENERIC = ("extra-character", "substitution", "edit-distance-2", "dropped-words", "combosquat")


def closest(rows: list) -> tuple | None:
    """The match a name most plainly makes: fewest edits, most specific check, top target."""
    if not rows:
        return None
    return min(rows, key=lambda row: (row[0].distance, row[0].kind in GENERIC, row[1].target_rank))


def match_rows(checker: NameChecker, names: Sequence[str]) -> list[tuple | None]:
    """The closest (candidate, features) of each canonical name (None when nothing)."""
    found: list[tuple | None] = []
    for start in range(0, len(names), 4096):
        found.extend(
            closest(rows) for rows in checker.candidates(list(names[start : start + 4096]))
        )
    return found


def attack_events(checker: NameChecker, malicious: Sequence[ev.Malicious]) -> list[tuple[str, str]]:
    """(target, first_seen) of each malicious name that imitates a popular project."""
    popular = set(checker.corpus.ranks)
    names = [row.name for row in malicious]
    events = []
    for row, match in zip(malicious, match_rows(checker, names), strict=True):
        target = match[0].target if match else ev.combo_target(row.name, popular)
        if target and row.name not in popular:
            events.append((target, row.first_seen))
    return events


def log_events(checker: NameChecker, malicious: Sequence[ev.Malicious],
               per_name: int = MATCHES_PER_NAME) -> list[tuple[str, str]]:
    """(target, first_seen) for each of the at most ``per_name`` popular projects each
    malicious name comes within reach of (its best matches as ``checker`` scores them): the
    attack log of ``detector.names.attacks``."""
    popular = set(checker.corpus.ranks)
    events = []
    names = [row.name for row in malicious]
    for row, result in zip(malicious, checker.check_many(names), strict=True):
        if row.name in popular:
            continue
        for target in dict.fromkeys(match.target for match in result.matches[:per_name]):
            events.append((target, row.first_seen))
    return events


def affix_events(
    checker: NameChecker, malicious: Sequence[ev.Malicious]
) -> list[tuple[str, str]]:
    """(what was added, first_seen) of each malicious name that is a popular name kept whole
    at one end with something added (`requests-new-module`, `2022-requests`, `pyhttpx`)."""
    popular = set(checker.corpus.ranks)
    names = [row.name for row in malicious]
    events = []
    for row, match in zip(malicious, match_rows(checker, names), strict=True):
        if row.name in popular:
            continue
        target = match[0].target if match else ev.combo_target(row.name, popular)
        if target is None:
            continue
        added = difference(row.name, target).added
        if added:
            events.append((added, row.first_seen))
    return events


def balanced(labels: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """``weights`` scaled so that each class weighs half of the total (as scikit-learn's
    ``class_weight="balanced"`` does for unit weights)."""
    scaled = np.asarray(weights, dtype=float)
    for label in (0, 1):
        mask = labels == label
        if mask.any():
            scaled[mask] *= len(labels) / (2.0 * scaled[mask].sum())
    return scaled


@dataclass(frozen=True)
class Fitted:
    scorer: NameScorer
    positives: int
    negatives: int


def fit(
    checker: NameChecker,
    positives: Sequence[ev.Malicious],
    negatives: Sequence[str],
    alert_rate: float,
    c: float = 1.0,
    events: Sequence[tuple[str, str]] = (),
    added_events: Sequence[tuple[str, str]] = (),
    made_up: Sequence[str] = (),
    made_up_weight: float = synthetic.WEIGHT,
) -> Fitted:
    """Logistic weights on the closest match of each name (see the module docstring).

    A positive's attack history is taken as it stood ``HISTORY_GAP_DAYS`` before the name
    was first seen (from ``events``), as a name scored after the cut sees a history frozen
    at the cut: otherwise the feature learns that every training squat's campaign is
    already on record. ``made_up`` typos (``synthetic.typos``) join the positives, each
    weighing ``made_up_weight`` of a real one, with no attack history."""
    rows: list[dict[str, float]] = []
    labels: list[int] = []
    sample: list[float] = []
    popular = set(checker.corpus.ranks)
    positive_rows = [row for row in positives if row.name not in popular]
    for row, match in zip(
        positive_rows, match_rows(checker, [row.name for row in positive_rows]), strict=True
    ):
        if match is None:
            continue
        features: MatchFeatures = match[1]
        as_of = (date.fromisoformat(row.first_seen) - timedelta(days=HISTORY_GAP_DAYS)).isoformat()
        earlier = AttackHistory.build(
            [event for event in events if event[1] < as_of], as_of, checker.history.half_life_days
        )
        odds = features.affix_odds
        if added_events and features.affix_odds:
            # The affix weights, too, as they stood before the squat appeared.
            weights = lx.affix_weights(
                [e for e in added_events if e[1] < as_of], as_of, checker.history.half_life_days
            )
            past = replace(checker.lexicon, affixes=weights, affix_total=sum(weights.values()))
            odds = past.affix_odds(difference(row.name, match[0].target).added)
        rows.append(
            replace(features, attacks=earlier.feature(match[0].target), affix_odds=odds).vector()
        )
        labels.append(1)
        sample.append(1.0)
    for match in match_rows(checker, [name for name in made_up if name not in popular]):
        if match is not None:
            rows.append(replace(match[1], attacks=0.0).vector())
            labels.append(1)
            sample.append(made_up_weight)
    negatives = [name for name in negatives if name not in popular]
    for match in match_rows(checker, negatives):
        if match is not None:
            rows.append(match[1].vector())
            labels.append(0)
            sample.append(1.0)
    y = np.asarray(labels)
    vectorizer = DictVectorizer(sparse=False)
    x = vectorizer.fit_transform(rows)
    model = LogisticRegression(C=c, max_iter=3000).fit(x, y, sample_weight=balanced(y, sample))
    z = np.sort(model.decision_function(x[y == 0]))[::-1]
    allowed = int(alert_rate * len(negatives))
    cut = float(z[allowed]) if allowed < len(z) else float(z[-1]) - 1.0
    weights = {
        name: round(float(w), 4)
        for name, w in zip(vectorizer.feature_names_, model.coef_[0], strict=True)
    }
    # Scores are rounded to 4 decimals: keep the cut far enough below 0.5 to survive it.
    intercept = round(float(model.intercept_[0]) - cut - 1e-3, 4)
    return Fitted(NameScorer(intercept, weights), int((y == 1).sum()), int((y == 0).sum()))


@dataclass(frozen=True)
class ForwardRun:
    history: AttackHistory
    fitted: Fitted
    checker: NameChecker  # with the forward history and weights


def forward(
    malicious: Sequence[ev.Malicious],
    live_before: Sequence[str],
    alert_rate: float = 0.003,
    cut: str = ev.CUT,
    c: float = 1.0,
    combos: bool = True,
    history: bool = True,
    words: bool = False,
    combo_scope: str | None = None,
    made_up: int = 0,
) -> ForwardRun:
    """Fit on what was known before ``cut``: history, word statistics, affixes and weights.
    ``combos``, ``history`` and ``words`` turn the combosquat check, the attack-history
    feature and the lexicon (word statistics and affix weights) on or off; ``made_up`` adds
    that many made-up typos of popular names to the positives (``synthetic.typos``)."""
    base = NameChecker(
        history=AttackHistory(as_of=cut, half_life_days=365.0)
    )
    before = [row for row in malicious if row.first_seen < cut]
    events = attack_events(base, before) if history else []
    past = AttackHistory.build(events, as_of=cut)
    added = affix_events(base, before) if words else []
    # Word statistics from one half of the earlier live names, weights fitted on the other:
    # a live name's own words must not make it look word-like (a later name's are not in).
    counted = [name for name in live_before if zlib.crc32(name.encode()) % 2 == 0]
    if words:
        live_before = [name for name in live_before if zlib.crc32(name.encode()) % 2 == 1]
    lexicon = (
        # None: no word features (a lexicon given, even an empty one, turns them on).
        lx.build(counted, base.corpus.ranks, added, as_of=cut) if words else None
    )
    checker = NameChecker(
        corpus=base.corpus, history=past, combos=combos, combo_scope=combo_scope, lexicon=lexicon
    )
    typos = synthetic.typos(base.corpus.ranks, made_up, base.index.rules) if made_up else []
    fitted = fit(checker, before, live_before, alert_rate, c, events, added, typos)
    return ForwardRun(
        past,
        fitted,
        NameChecker(
            corpus=base.corpus,
            history=past,
            scorer=fitted.scorer,
            combos=combos,
            combo_scope=combo_scope,
            lexicon=lexicon,
        ),
    )

"""Turns a match into a score in [0, 1]: a logistic function of the check, the target's
popularity, the name's length and how crowded its neighbourhood is (how likely a
chance collision is).

The weights live in ``data/name_weights.json``; ``scripts/fit_name_weights.py``
fits them by logistic regression on labelled names and records how (data, figures).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from detector.resources import data_path
from detector.vocab import NameKind

SHIPPED_WEIGHTS = data_path("name_weights.json")


@dataclass(slots=True)
class MatchFeatures:
    """One match's features. Not frozen: a frozen dataclass sets each of its 20 fields with
    ``object.__setattr__``, and one is built per candidate on the hot path."""

    kind: str
    distance: int
    position: str
    name_length: int
    target_length: int
    target_rank: int
    corpus_size: int
    neighbours: int
    family_size: int
    attacks: float = 0.0  # log1p of the target's decayed attack history
    # What differs, in words (detector/names/lexicon.py, edits.difference):
    added: str = "none"  # wordness of what is added to a whole target at one end
    token: str = "none"  # wordness of the name's words holding the difference
    at: str = "none"  # whole-word, word-edge or inside
    vowel_swap: bool = False
    affix_odds: float = 0.0  # log-odds that the added part is a squat's affix
    brand_crowd: float = 0.0  # log1p of the live names carrying the target at that end
    worded: bool = False  # the word features above were computed

    def vector(self) -> dict[str, float]:
        """The named features the logistic model weighs (names it has no weight for weigh 0).

        Length and rank enter as bins as well as linearly: a one-letter typo means much more
        on a 9-letter name than on a 4-letter one, and the effect is not linear.
        """
        size = max(self.corpus_size, 2)
        length_bin = _bin(self.name_length, _LENGTH_BINS)
        typo = self.kind in _TYPO_KINDS
        vector = {
            f"kind={self.kind}": 1.0,
            f"length<={length_bin}": 1.0,
            f"rank<={_bin(self.target_rank, _RANK_BINS)}": 1.0,
            f"typo_length<={length_bin if typo else 'none'}": 1.0,
            f"position={self.position}": 1.0,
            "popularity": 1.0 - math.log10(max(self.target_rank, 1)) / math.log10(size),
            "length": min(self.name_length, 20) / 20.0,
            "length_gap": min(abs(self.name_length - self.target_length), 10) / 10.0,
            "extra_edits": float(self.distance - 1),
            "crowding": math.log1p(max(self.neighbours - 1, 0)),
            "family": math.log1p(self.family_size),
            "attacks": self.attacks,
            f"attacks_kind={self.kind if self.attacks > 0 else 'none'}": 1.0,
        }
        if self.kind == NameKind.AFFIX and self.distance > 1:
            # An affix on top of a typo (`reqeusts-py`, `openvc` for `opencv-python`) is a
            # typo first: weighed apart from a brand plus a word.
            vector["affix_on_typo"] = 1.0
        if not self.worded:
            return vector
        vector.update({
            f"added={self.added}": 1.0,
            f"token={self.token}": 1.0,
            f"{'typo' if typo or self.distance > 1 else 'other'}_token={self.token}": 1.0,
            f"at={self.at}": 1.0,
            f"{'typo' if typo else 'other'}_at={self.at}": 1.0,
            "vowel_swap": float(self.vowel_swap),
            "affix_odds": self.affix_odds,
            "brand_crowd": self.brand_crowd,
            f"combo_added={self.added if self.kind == 'combosquat' else 'none'}": 1.0,
        })
        return vector


# Prefixes of the features that need the word statistics (``added`` to ``brand_crowd``).
WORD_FEATURES = (
    "added=", "token=", "typo_token=", "other_token=", "at=", "typo_at=", "other_at=",
    "vowel_swap", "affix_odds", "brand_crowd", "combo_added=",
)
_LENGTH_BINS = (3, 4, 5, 6, 7, 9, 12)
_RANK_BINS = (30, 100, 300, 1000, 3000, 10000)
_TYPO_KINDS = frozenset({
    NameKind.SWAPPED_CHARACTERS, NameKind.REPEATED_CHARACTER, NameKind.OMITTED_CHARACTER,
    NameKind.KEYBOARD_TYPO, NameKind.HOMOGLYPH, NameKind.BIT_FLIP,
})


def _bin(value: int, edges: tuple[int, ...]) -> str:
    for edge in edges:
        if value <= edge:
            return str(edge)
    return "more"


@dataclass(frozen=True)
class NameScorer:
    intercept: float
    weights: dict[str, float]

    def score(self, features: MatchFeatures) -> float:
        z = self.intercept + sum(
            self.weights.get(name, 0.0) * value for name, value in features.vector().items()
        )
        return round(1.0 / (1.0 + math.exp(-z)), 4)


@lru_cache(maxsize=4)
def load_scorer(path: str | None = None) -> NameScorer:
    raw = json.loads(Path(path or SHIPPED_WEIGHTS).read_text(encoding="utf-8"))
    return NameScorer(intercept=float(raw["intercept"]), weights=dict(raw["weights"]))

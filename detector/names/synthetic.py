"""Made-up typos of popular names: extra positives for fitting the name weights.

Before 2023 only a few hundred malicious names come within reach of a popular project, so
weights fitted on them alone learn that campaign's targets and lengths. Typos generated
the way typo tools make them (a letter left out, doubled, swapped with its neighbour,
replaced by a neighbouring key or any letter, or one inserted; one or two such edits; now
and then on the name without an affix word such as `python`) say
what a typo of a popular name looks like in general, at no cost in time: they use no
malicious name, and they are the same for any cut. Targets are drawn with probability
``rank ** -RANK_EXPONENT`` (attackers prefer popular targets).

Measured, not shipped: forward AUC 0.9945 -> 0.9949, recall unchanged, and the shipped
fit then loses popular-vs-popular precision or anchor cases (docs/names.md). Used by
``training.forward(made_up=...)`` (a bench row) and ``fit_name_weights.py --made-up``.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping

from detector.names.normalize import InvalidName, canonical
from detector.names.rules import NameRules

# Target drawn with probability rank ** -RANK_EXPONENT. The forward figure cannot tell 0.5,
# 0.75 and 1 apart (docs/names.md); with 0.5 the fit weighs top-ranked targets down and the
# anchor case `openvc` (for `opencv-python`) is lost, so 1.
RANK_EXPONENT = 1.0
# Share of typos that carry a second edit.
TWO_EDITS = 0.3
# Share of targets with an affix word (`opencv-python`) typed without it.
DROP_AFFIX = 0.5
# Shorter made-up typos are dropped. Issue 14's typosquats have 5+ characters, but with 5
# the fit weighs short names down and two 4-letter anchors (npm `hulp`, `d3.js`) were lost.
MIN_LENGTH = 4
# How many, and how much each weighs against a real malicious name in the fit (chosen by
# the forward figure: 3,000 at 0.1, 0.3 and 1 tried, and 6,000 at 0.15).
COUNT = 6000
WEIGHT = 0.15
_LETTERS = string.ascii_lowercase


def _neighbours(char: str, rules: NameRules) -> list[str]:
    return sorted(other for other in _LETTERS + string.digits
                  if other != char and rules.is_keyboard_neighbour(char, other))


def _edit(name: str, rng: random.Random, rules: NameRules) -> str:
    """One typing slip at a random letter or digit of ``name``."""
    spots = [i for i, char in enumerate(name) if char.isalnum()]
    if not spots:
        return name
    i = rng.choice(spots)
    roll = rng.random()
    if roll < 0.2:
        return name[:i] + name[i + 1 :]  # left out
    if roll < 0.4:
        return name[:i] + name[i] + name[i:]  # doubled
    if roll < 0.55 and i + 1 < len(name) and name[i + 1] != "-":
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]  # swapped
    keys = _neighbours(name[i], rules)
    if roll < 0.7 and keys:
        return name[:i] + rng.choice(keys) + name[i + 1 :]  # neighbouring key
    if roll < 0.85:
        return name[:i] + rng.choice(_LETTERS) + name[i:]  # inserted
    return name[:i] + rng.choice(_LETTERS) + name[i + 1 :]  # replaced


def _core(name: str, rng: random.Random, rules: NameRules) -> str:
    """Now and then the name without one of its affix words: `openvc` is a typo of
    `opencv-python` with `python` dropped."""
    words = name.split("-")
    affixes = [i for i, word in enumerate(words) if word in rules.affixes]
    if len(words) < 2 or not affixes or rng.random() >= DROP_AFFIX:
        return name
    drop = rng.choice(affixes)
    return "-".join(words[:drop] + words[drop + 1 :])


def typos(ranks: Mapping[str, int], count: int, rules: NameRules, seed: int = 1) -> list[str]:
    """``count`` distinct made-up typos (fewer if the draws run out), none a popular name."""
    rng = random.Random(seed)
    names = sorted(ranks, key=lambda name: (ranks[name], name))
    weights = [max(ranks[name], 1) ** -RANK_EXPONENT for name in names]
    found: set[str] = set()
    for target in rng.choices(names, weights=weights, k=count * 2):
        typo = _edit(_core(target, rng, rules), rng, rules)
        if rng.random() < TWO_EDITS:
            typo = _edit(typo, rng, rules)
        try:
            typo = canonical(typo.strip("-"))
        except InvalidName:
            continue
        if typo != target and typo not in ranks and len(typo) >= MIN_LENGTH:
            found.add(typo)
            if len(found) >= count:
                break
    return sorted(found)

"""Forward-in-time evaluation of the name signal.

Malicious names are split by ``first_seen`` and live names by their latest-release month at
one cut date: whatever is fitted (weights, attack history, affix statistics) sees only the
earlier side, and the figures are measured on the later side. This is what a detector
shipped at the cut would have scored on next year's squats.

The labelled classes, relative to a popular corpus:

- **typosquat**: within Damerau-Levenshtein 1 of a popular name (name of 5+ characters) or
  2 (name of 8+ characters), as in issue 14.
- **combosquat**: not a typosquat, and a popular name (4+ characters) sits at either end of
  the name, whole or as whole words, with something added (`requests-api`, `pyrequests`,
  `discord-py-utils`).

Pure functions over name lists; reading the shared files is left to callers
(``bench/bench_names.py``, ``scripts/fit_name_weights.py``).
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from rapidfuzz.distance import OSA
from rapidfuzz.process import cdist

from detector.names.normalize import InvalidName, canonical

CUT = "2023-01-01"
# A popular name shorter than this inside a longer name is mostly chance (`six`, `py`).
COMBO_MIN_TARGET_LENGTH = 4


@dataclass(frozen=True)
class Malicious:
    name: str  # PEP 503 canonical
    first_seen: str  # ISO date


@dataclass(frozen=True)
class Live:
    name: str  # PEP 503 canonical
    month: str  # latest release, YYYY-MM
    popular: bool


def read_malicious(path: Path) -> list[Malicious]:
    """The malicious names, canonical, one row per name (its earliest first_seen)."""
    earliest: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            try:
                name = canonical(row["name"])
            except InvalidName:
                continue
            seen = row.get("first_seen") or ""
            if seen and (name not in earliest or seen < earliest[name]):
                earliest[name] = seen
    return [Malicious(name, seen) for name, seen in sorted(earliest.items())]


def read_live(path: Path) -> list[Live]:
    """Every name of the PyPI list (``pypi_names.tsv.gz``), canonical."""
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            try:
                name = canonical(row["name"])
            except InvalidName:
                continue
            rows.append(Live(name, row["latest_release_month"] or "", bool(row["rank"])))
    return rows


def split_malicious(rows: Sequence[Malicious], cut: str = CUT) -> tuple[list[str], list[str]]:
    """(names first seen before ``cut``, names first seen on or after it)."""
    before = [row.name for row in rows if row.first_seen < cut]
    after = [row.name for row in rows if row.first_seen >= cut]
    return before, after


def split_live(rows: Sequence[Live], cut: str = CUT) -> tuple[list[str], list[str]]:
    """Unpopular live names whose latest release is before ``cut``, and from it on."""
    month = cut[:7]
    before = [row.name for row in rows if not row.popular and row.month and row.month < month]
    after = [row.name for row in rows if not row.popular and row.month >= month]
    return before, after


def busiest_week(rows: Sequence[Malicious]) -> tuple[str, str]:
    """The Monday-to-Sunday week (first and last ISO day) in which most of ``rows`` were
    first seen. One generator's burst can outweigh a year of other squats (docs/names.md,
    "Fourth pass"): the bench prints the recall outside it beside the whole figure."""
    weeks = Counter(
        (day - timedelta(days=day.weekday())).isoformat()
        for day in (date.fromisoformat(row.first_seen[:10]) for row in rows)
    )
    start = max(weeks, key=lambda week: (weeks[week], week))
    return start, (date.fromisoformat(start) + timedelta(days=6)).isoformat()


def typosquats(names: Sequence[str], popular: Sequence[str]) -> list[str]:
    """The names within DL 1 (5+ characters) or DL 2 (8+) of a popular name, not popular."""
    own = set(popular)
    names = [name for name in names if name not in own]
    if not names:
        return []
    distances = cdist(names, list(popular), scorer=OSA.distance, score_cutoff=2, dtype=np.uint8)
    nearest = distances.min(axis=1).tolist()
    return [
        name
        for name, d in zip(names, nearest, strict=True)
        if (d == 1 and len(name) >= 5) or (d == 2 and len(name) >= 8)
    ]


def combo_target(name: str, popular: set[str]) -> str | None:
    """The longest popular name at either end of ``name`` with something added, if any."""
    best = None
    for size in range(len(name) - 1, COMBO_MIN_TARGET_LENGTH - 1, -1):
        for part in (name[:size], name[-size:]):
            core = part.strip("-")
            if len(core) >= COMBO_MIN_TARGET_LENGTH and core in popular and core != name:
                best = core
                break
        if best:
            break
    return best


def combosquats(names: Sequence[str], popular: Sequence[str]) -> list[str]:
    """The names that are a popular name plus an affix or word, and not a typosquat."""
    own = set(popular)
    typo = set(typosquats(names, popular))
    return [
        name
        for name in names
        if name not in own and name not in typo and combo_target(name, own) is not None
    ]


def recall_at_alert_rate(
    positive: Sequence[float], negative: Sequence[float], rate: float
) -> tuple[float, float]:
    """Recall of ``positive`` when alerting on at most ``rate`` of ``negative``.

    Returns (recall, threshold): the threshold is the lowest score that keeps the share of
    negatives scoring at or above it within ``rate`` (a score of 0 never alerts).
    """
    neg = np.sort(np.asarray(negative, dtype=float))[::-1]
    allowed = int(rate * len(neg))
    threshold = float(neg[allowed]) if allowed < len(neg) else 0.0
    # Scores tied with the first disallowed negative do not alert.
    threshold = float(np.nextafter(threshold, np.inf))
    threshold = max(threshold, float(np.nextafter(0.0, 1.0)))
    pos = np.asarray(positive, dtype=float)
    return float((pos >= threshold).mean()) if len(pos) else 0.0, threshold


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Area under the ROC curve (ties count half), by the rank-sum formula."""
    pos = np.asarray(positive, dtype=float)
    neg = np.asarray(negative, dtype=float)
    if not len(pos) or not len(neg):
        return float("nan")
    values = np.concatenate([pos, neg])
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))

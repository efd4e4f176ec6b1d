"""Fit the name signal's logistic weights (``data/name_weights.json``) on labelled names.

Positives: real malicious PyPI names (``../shared/corpus/malicious_names.tsv``) that come
within reach of a popular project. Negatives: live, unpopular PyPI names (rank empty,
latest release 2025-01 or later, ``../shared/data/pypi_names.tsv.gz``) that come within
reach of one; only the half whose CRC-32 is even is used, the other half is held out for
`bench/bench_names.py`. Each name contributes its closest match (fewest edits, most
specific check, most popular target). The model is checked with cross-validation grouped
by target (a campaign of squats on one target never sits on both sides of a fold); the
intercept is then moved so that the policy threshold (0.5) flags at most the chosen share
of the negatives. With ``--made-up N``, N made-up typos of popular names
(``detector/names/synthetic.py``) join the positives, each weighing ``synthetic.WEIGHT`` of a
real one; the shipped weights use none (docs/names.md: the forward figure did not improve
and the popular-vs-popular or anchor figures got worse).

    python scripts/fit_name_weights.py [--shared ../shared] [--alert-rate 0.0025]

Needs the `[train]` extra (scikit-learn).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import zlib
from datetime import date
from pathlib import Path

import numpy as np
import sklearn
from rich.progress import track
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from detector.names import synthetic
from detector.names.checker import NameChecker
from detector.names.normalize import InvalidName, canonical
from detector.names.training import balanced
from detector.resources import data_path

GENERIC = ("extra-character", "substitution", "edit-distance-2", "dropped-words")


def closest(rows):
    if not rows:
        return None
    return min(
        rows,
        key=lambda row: (row[0].distance, row[0].kind in GENERIC, row[1].target_rank),
    )


def live_names(shared: Path, *, held_out: bool) -> list[str]:
    names = []
    with gzip.open(shared / "data" / "pypi_names.tsv.gz", "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row["rank"] or row["latest_release_month"] < "2025-01":
                continue
            if (zlib.crc32(row["name"].encode()) % 2 == 1) == held_out:
                names.append(row["name"])
    return names


def malicious_names(shared: Path) -> list[str]:
    with open(shared / "corpus" / "malicious_names.tsv", encoding="utf-8") as handle:
        return sorted({row["name"] for row in csv.DictReader(handle, delimiter="\t")})


def rows_for(checker: NameChecker, names: list[str], label: int, what: str, weight: float = 1.0):
    feats, labels, groups, weights = [], [], [], []
    canonical_names = []
    for raw in names:
        try:
            name = canonical(raw)
        except InvalidName:
            continue
        if name not in checker.corpus:
            canonical_names.append(name)
    chunks = [canonical_names[i : i + 4096] for i in range(0, len(canonical_names), 4096)]
    for chunk in track(chunks, description=f"matching {what}", transient=True):
        for rows in checker.candidates(chunk):
            found = closest(rows)
            if found is None:
                continue
            candidate, features = found
            feats.append(features.vector())
            labels.append(label)
            groups.append(candidate.target)
            weights.append(weight)
    return feats, labels, groups, weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared"
    )
    parser.add_argument("--alert-rate", type=float, default=0.0025)
    parser.add_argument("--out", type=Path, default=data_path("name_weights.json"))
    parser.add_argument(
        "--made-up", type=int, default=0, help=f"made-up typos (tried: {synthetic.COUNT})"
    )
    args = parser.parse_args()

    checker = NameChecker()
    pos = rows_for(checker, malicious_names(args.shared), 1, "malicious names")
    typos = synthetic.typos(checker.corpus.ranks, args.made_up, checker.index.rules)
    made = rows_for(checker, typos, 1, "made-up typos", synthetic.WEIGHT)
    neg = rows_for(checker, live_names(args.shared, held_out=False), 0, "live names")
    parts = (pos, made, neg)
    feats = [row for part in parts for row in part[0]]
    y = np.array([label for part in parts for label in part[1]])
    groups = np.array([group for part in parts for group in part[2]])
    sample = np.array([weight for part in parts for weight in part[3]])
    real = np.array([True] * len(pos[0]) + [False] * len(made[0]) + [True] * len(neg[0]))
    vectorizer = DictVectorizer(sparse=False)
    x = vectorizer.fit_transform(feats)

    def fit(xs, ys, ws):
        model = LogisticRegression(C=1.0, max_iter=2000)
        return model.fit(xs, ys, sample_weight=balanced(ys, ws))

    # Grouped cross-validation: recall at the alert budget on unseen targets.
    live_total = len(live_names(args.shared, held_out=False))
    negatives = int((y == 0).sum())

    def cut_for(model, xs_negative) -> float:
        """The decision value above which at most alert_rate of all live names fall
        (live names with no candidate at all are never flagged)."""
        allowed = int(args.alert_rate * live_total * len(xs_negative) / negatives)
        z = np.sort(model.decision_function(xs_negative))
        return float(z[-allowed - 1]) if allowed < len(z) else float(z[0] - 1)

    recalls = []
    for train, test in GroupKFold(n_splits=5).split(x, y, groups):
        model = fit(x[train], y[train], sample[train])
        cut = cut_for(model, x[train][y[train] == 0])
        test = test[real[test]]  # recall on real malicious names only
        z_test = model.decision_function(x[test])
        recalls.append(
            float(((z_test > cut) & (y[test] == 1)).sum() / max((y[test] == 1).sum(), 1))
        )

    model = fit(x, y, sample)
    # Move the intercept so that z > 0 (score > 0.5) flags at most alert_rate of the live names.
    cut = cut_for(model, x[y == 0])
    intercept = float(model.intercept_[0] - cut - 1e-4)
    weights = {
        name: round(float(w), 4)
        for name, w in zip(vectorizer.feature_names_, model.coef_[0], strict=True)
    }
    z_pos = model.decision_function(x[(y == 1) & real]) - cut
    report = {
        "note": "fitted by scripts/fit_name_weights.py; do not edit by hand",
        "fitted": date.today().isoformat(),
        "scikit_learn": sklearn.__version__,
        "training": {
            "positives": int(((y == 1) & real).sum()),
            "made_up_typos": int(((y == 1) & ~real).sum()),
            "made_up_weight": synthetic.WEIGHT,
            "negatives": int((y == 0).sum()),
            "live_names_in_fit_half": live_total,
            "alert_rate_target": args.alert_rate,
            "grouped_cv_recall_at_alert_rate": [round(r, 4) for r in recalls],
            "in_sample_recall": round(float((z_pos > 0).mean()), 4),
        },
        "intercept": round(intercept, 4),
        "weights": weights,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["training"], indent=2))


if __name__ == "__main__":
    main()

"""Forward-in-time misses of the code model, with their findings (issue 18 item 7).

Loads the whole-upload training data as `warden train` does (shared corpus plus the
installed distributions), featurizes it, trains on the samples first seen before the
cutoff with the given C and rule blend, and lists the forward malicious packages scored
below the forward threshold (FPR <= 0.5%), each with its score, per-file findings and
tiers; then the highest-scoring forward benign packages (they set the threshold).

    .venv/bin/python bench/forward_misses.py [--C 30] [--blend 0.1] [--jobs 2]
        [--cache /tmp/fwd_rows.pkl] [--json out.json]

``--cache`` keeps the featurized rows and clusters (pickle of this project's own
result objects, never of package content) so model experiments skip the scan; delete
it after any scanner change. Package files are read as text only.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detector.code.analyze import blend_score  # noqa: E402
from detector.code.corpus import Sample, is_forward, read_all, whole_corpus  # noqa: E402
from detector.code.train import (  # noqa: E402
    Row,
    TrainConfig,
    UncalledViews,
    fit,
    metrics,
    new_layout,
    rows_and_groups,
    vectorize,
)

SHARED = REPO.parent / "shared"


def load_samples() -> list[Sample]:
    from detector.code.installed import CORPUS_MAX_FILES, installed_samples

    mal_paths, ben_paths = whole_corpus(SHARED)
    mal = read_all(mal_paths, 1, max_files=CORPUS_MAX_FILES)
    ben = read_all(ben_paths, 0, max_files=CORPUS_MAX_FILES)
    return mal + ben + list(installed_samples())


def cached_rows_and_groups(samples: list[Sample], jobs: int,
                           cache: Path | None) -> tuple[list[Row], np.ndarray]:
    if cache and cache.is_file():
        with open(cache, "rb") as handle:
            rows, groups = pickle.load(handle)
        if len(rows) == len(samples):
            return rows, groups
    rows, groups = rows_and_groups(samples, jobs)
    if cache:
        with open(cache, "wb") as handle:
            pickle.dump((rows, groups), handle)
    return rows, groups


def describe(sample: Sample, row: Row, score: float) -> dict[str, Any]:
    findings, _, rules, _ = row
    per_file: dict[str, list[str]] = defaultdict(list)
    for f in findings:
        if f.severity != "info":
            per_file[f.file].append(f"{f.rule}[{f.severity},{f.tier}]@{f.line}: "
                                    f"{f.evidence[:90]}")
    return {"sample_id": sample.sample_id, "name": sample.name, "score": round(score, 4),
            "rule_score": round(rules, 4), "files": len(sample.files),
            "findings": dict(per_file)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--C", type=float, default=30.0)
    ap.add_argument("--blend", type=float, default=0.1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cache", type=Path)
    ap.add_argument("--benign-top", type=int, default=8)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    samples = load_samples()
    rows, groups = cached_rows_and_groups(samples, args.jobs, args.cache)
    y = np.array([s.label for s in samples])
    forward = np.array([is_forward(s) for s in samples])
    X = vectorize(new_layout(), rows)
    est = fit(X[~forward], y[~forward], groups[~forward], TrainConfig(C=args.C))
    p = UncalledViews.build(rows, new_layout().n_hash).probability(est, X, forward)
    idx = np.flatnonzero(forward)
    score = np.array([blend_score(rows[i][2], m, blend=args.blend)
                      for i, m in zip(idx, p, strict=True)])
    m = metrics(y[forward], score, groups[forward])
    print(f"forward: recall {m['recall']:.2%} FPR {m['fpr']:.2%} ROC-AUC {m['roc_auc']:.4f} "
          f"threshold {m['threshold']:.4f}")
    misses = [describe(samples[i], rows[i], s) for i, s in zip(idx, score, strict=True)
              if y[i] == 1 and s < m["threshold"]]
    misses.sort(key=lambda d: d["score"])
    top_benign = sorted((describe(samples[i], rows[i], s) for i, s in zip(idx, score, strict=True)
                         if y[i] == 0), key=lambda d: -d["score"])[: args.benign_top]
    for title, items in (("forward misses", misses), ("top forward benign", top_benign)):
        print(f"\n## {title} ({len(items)})")
        for d in items:
            print(f"- {d['name']} ({d['sample_id']}) score {d['score']} rules {d['rule_score']} "
                  f"files {d['files']}")
            for file, found in list(d["findings"].items())[:6]:
                print(f"    {file}: " + "; ".join(found[:4]))
    if args.json:
        args.json.write_text(json.dumps({"metrics": m, "misses": misses,
                                         "top_benign": top_benign}, indent=1))


if __name__ == "__main__":
    main()

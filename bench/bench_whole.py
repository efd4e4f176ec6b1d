"""Benchmark of `warden scan` on whole uploads (issue 18 items 1, 7).

Scores every whole-upload sample with the shipped model, as a registry would receive
it (every .py .pyw .pth .toml .cfg file, 88 KiB per file, 300 files per package):
malicious `malicious_dev_full`, benign `benign_whole_dev` (grouped by repository),
`benign_dev`, and the distributions installed in this virtualenv (wheel layout, read
from their RECORD as text). Prints:

- recall and false positives at the shipped threshold (`[code] flag_threshold`), per source;
- forward-in-time: malicious first seen on or after 2023-07-01 against the forward
  benign side (corpus.is_forward), recall at FPR <= 0.5% there and at the shipped
  threshold (for a model trained on all dates this is in-sample: `warden train`
  prints the true forward figure);
- the layout check: ROC-AUC of a classifier on file count, metadata presence and file
  lengths alone (grouped CV), which must stay far from 1;
- speed: median ms per package (CPU), packages/s on one core, ratio to a bare
  `ast.parse` of the same files.

    .venv/bin/python bench/bench_whole.py [--limit N] [--jobs 2] [--out bench/out/whole.json]

Needs ../shared; exits 2 when it is absent.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detector.code.corpus import Sample, is_forward, read_all, whole_corpus  # noqa: E402
from detector.code.installed import installed_samples  # noqa: E402

TARGET_FPR = 0.005


def bare_parse(files: dict[str, str]) -> None:
    for name, text in files.items():
        if name.endswith((".py", ".pyw")):
            with contextlib.suppress(SyntaxError, ValueError, RecursionError, MemoryError):
                ast.parse(text)


def _score(files: dict[str, str]) -> tuple[float, float, float]:
    from detector.code.scan import scan_files

    warnings.simplefilter("ignore")
    start = time.process_time()
    result = scan_files(files)
    scan_cpu = time.process_time() - start
    start = time.process_time()
    bare_parse(files)
    parse_cpu = time.process_time() - start
    return result.score, scan_cpu, parse_cpu


def load(shared: Path, limit: int) -> list[tuple[str, Sample]]:
    mal_paths, ben_paths = whole_corpus(shared)
    out: list[tuple[str, Sample]] = [("malicious_dev_full", s) for s in read_all(mal_paths, 1)]
    if limit:
        rng = np.random.default_rng(0)
        keep = set(rng.choice(len(out), size=min(limit, len(out)), replace=False).tolist())
        out = [x for i, x in enumerate(out) if i in keep]
    for path in ben_paths:
        out += [(path.name.split(".")[0], s) for s in read_all([path], 0)]
    out += [("installed", s) for s in installed_samples(REPO / ".venv")]
    return out


def threshold_at_fpr(neg: np.ndarray, fpr: float = TARGET_FPR) -> float:
    ranked = np.sort(neg)[::-1]
    allowed = int(np.floor(fpr * len(ranked)))
    return float(np.nextafter(ranked[min(allowed, len(ranked) - 1)], np.inf))


def layout_auc(samples: list[Sample]) -> float:
    """Grouped-CV ROC-AUC of a classifier that sees only layout (train.layout_check),
    grouped by repository or name."""
    from detector.code.train import layout_check

    y = np.array([s.label for s in samples])
    groups = np.array([s.group or s.name for s in samples])
    return float(layout_check(samples, y, groups)["roc_auc"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--limit", type=int, default=0, help="malicious samples (0: all)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "whole.json")
    parser.add_argument("--no-layout", action="store_true", help="skip the layout check")
    args = parser.parse_args()
    if not (args.shared / "corpus" / "malicious_dev_full.jsonl.gz").is_file():
        print(f"bench_whole: corpus not found under {args.shared}", file=sys.stderr)
        return 2
    from detector.policy import load_policy

    threshold = load_policy().code.flag_threshold
    data = load(args.shared, args.limit)
    print(f"scanning {len(data)} whole packages with {args.jobs} processes", file=sys.stderr)
    started = time.time()
    results = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for i, res in enumerate(pool.map(_score, [s.files for _, s in data], chunksize=8), 1):
            results.append(res)
            if i % 500 == 0:
                print(f"  {i}/{len(data)} ({time.time() - started:.0f} s)", file=sys.stderr)
    score = np.array([r[0] for r in results])
    y = np.array([s.label for _, s in data])
    source = np.array([src for src, _ in data])
    forward = np.array([is_forward(s) for _, s in data])
    report: dict[str, Any] = {"threshold": threshold, "packages": len(data), "sources": {}}
    for src in dict.fromkeys(source):
        mask = source == src
        flagged = score[mask] >= threshold
        report["sources"][src] = {"n": int(mask.sum()), "flagged": int(flagged.sum()),
                                  "share": float(flagged.mean())}
    whole = source == "benign_whole_dev"
    repos = sorted({s.group for _, s in data if s.group})
    per_repo = [float((score[whole & np.array([s.group == r for _, s in data])]
                       >= threshold).mean()) for r in repos]
    report["benign_whole_per_repo_fp"] = dict(zip(repos, per_repo, strict=True))
    report["benign_whole_mean_repo_fp"] = float(np.mean(per_repo)) if per_repo else 0.0
    neg = score[y == 0]
    t_all = threshold_at_fpr(neg)
    report["all"] = {"threshold_0.5pct": t_all, "recall_0.5pct": float((score[y == 1] >= t_all)
                                                                       .mean()),
                     "recall_at_shipped": float((score[y == 1] >= threshold).mean()),
                     "fpr_at_shipped": float((neg >= threshold).mean())}
    fneg = score[(y == 0) & forward]
    fpos = score[(y == 1) & forward]
    t_fwd = threshold_at_fpr(fneg)
    report["forward"] = {"malicious": len(fpos), "benign": len(fneg),
                         "threshold_0.5pct": t_fwd,
                         "recall_0.5pct": float((fpos >= t_fwd).mean()) if len(fpos) else 0.0,
                         "recall_at_shipped": float((fpos >= threshold).mean()),
                         "fpr_at_shipped": float((fneg >= threshold).mean())}
    scan_ms = np.array([r[1] for r in results]) * 1000
    parse_ms = np.array([r[2] for r in results]) * 1000
    report["speed"] = {"median_ms": float(np.median(scan_ms)),
                       "p99_ms": float(np.percentile(scan_ms, 99)),
                       "packages_per_cpu_s": float(len(scan_ms) / (scan_ms.sum() / 1000)),
                       "parse_median_ms": float(np.median(parse_ms)),
                       "scan_to_parse_cpu": float(scan_ms.sum() / max(parse_ms.sum(), 1e-9))}
    if not args.no_layout:
        report["layout_auc"] = layout_auc([s for _, s in data])
    report["scores"] = [[s.sample_id, src, int(s.label), s.first_seen, s.group, float(v)]
                        for (src, s), v in zip(data, score, strict=True)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report) + "\n")
    show = {k: v for k, v in report.items() if k not in ("scores", "benign_whole_per_repo_fp")}
    print(json.dumps(show, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of the setup-code signal (`warden scan`) on the shared corpus.

Prints: grouped cross-validation ROC-AUC and recall at FPR <= 0.5% (rules only,
model only, shipped blend), packages/s on one core (CPU time, and wall time), median
ms per package, the ratio to a bare `ast.parse` of the same files, and peak memory.
Writes an ROC/PR plot to docs/code-roc.png.

    .venv/bin/python bench/bench_scan.py [--limit N] [--shared ../shared]
        [--benign-extra ~/.cache/warden/corpus/benign_pypi.jsonl.gz]

Needs ../shared (the corpus); exits 2 with a message when it is absent. Benign
packages fetched by `scripts/fetch_benign.py` are added when that file exists
(its default output) or is given; speed is reported for the shared corpus folders
and for the fetched packages separately.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import resource
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress

from detector.code.archive import Package
from detector.code.cluster import cluster_ids
from detector.code.corpus import default_corpus, read_all
from detector.code.model import shipped_model
from detector.code.scan import scan_files, scan_with_analysis
from detector.code.train import TrainConfig, cross_validate, metrics

REPO = Path(__file__).resolve().parents[1]
FETCHED = Path.home() / ".cache" / "warden" / "corpus" / "benign_pypi.jsonl.gz"
console = Console(stderr=True)


def bare_parse(files: dict[str, str]) -> None:
    for name, text in files.items():
        if name.endswith(".py"):
            with contextlib.suppress(SyntaxError, ValueError, RecursionError, MemoryError):
                ast.parse(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--limit", type=int, default=0, help="malicious samples to use (0: all)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "code-roc.png")
    parser.add_argument(
        "--benign-extra",
        type=Path,
        action="append",
        default=None,
        help=f"more benign samples (default: {FETCHED} when it exists)",
    )
    args = parser.parse_args()
    extra = (
        args.benign_extra
        if args.benign_extra is not None
        else ([FETCHED] if FETCHED.is_file() else [])
    )
    mal_path, ben_path = default_corpus(args.shared)
    if not mal_path.is_file() or not ben_path.is_file():
        print(f"bench_scan: corpus not found under {args.shared}", file=sys.stderr)
        return 2
    warnings.simplefilter("ignore")
    mal = read_all([mal_path], 1)
    ben = read_all([ben_path], 0)
    n_shared = len(mal) + len(ben)
    fetched = read_all([ben_path, *extra], 0)[len(ben) :]
    if args.limit:
        step = max(1, len(mal) // args.limit)
        mal = mal[::step][: args.limit]
        n_shared = len(mal) + len(ben)
    samples = mal + ben + fetched
    shipped_model()  # load once, outside the timings

    # 1. speed: the full scan (rules + shipped model) per package, one process
    per_pkg: list[float] = []
    cpu_pkg: list[float] = []
    rows = []
    with Progress(console=console) as bar:
        task = bar.add_task("scanning (one core)", total=len(samples))
        for s in samples:
            t0, c0 = time.perf_counter(), time.process_time()
            result, analysis = scan_with_analysis(Package(files=s.files), s.sample_id)
            cpu_pkg.append(time.process_time() - c0)
            per_pkg.append(time.perf_counter() - t0)
            rows.append((result.findings, analysis.tokens, result.rule_score))
            bar.advance(task)
    parse_cpu: list[float] = []
    for s in samples:
        c0 = time.process_time()
        bare_parse(s.files)
        parse_cpu.append(time.process_time() - c0)

    # 2. memory: peak Python allocation of one scan, over a spread of packages
    sizes = sorted(samples, key=lambda s: sum(map(len, s.files.values())))
    probe = sizes[:: max(1, len(sizes) // 50)] + sizes[-5:]
    peak_scan = 0
    for s in probe:
        tracemalloc.start()
        scan_files(s.files)
        peak_scan = max(peak_scan, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()

    # 3. quality: grouped cross-validation on the same findings (models refit per fold)
    y = np.array([s.label for s in samples])
    groups = cluster_ids([s.files for s in samples])
    cv = cross_validate(rows, y, groups, TrainConfig(folds=args.folds))
    results = {name: metrics(y, score, groups) for name, score in cv.items()}

    print(
        f"corpus: {int(y.sum())} malicious, {int((y == 0).sum())} benign packages "
        f"({len(fetched)} of them fetched from PyPI), "
        f"{len(np.unique(groups))} near-duplicate clusters "
        f"({len(np.unique(groups[y == 1]))} malicious)"
    )
    for name, label in (
        ("score", "shipped blend"),
        ("model", "model only"),
        ("rules", "rules only"),
    ):
        m = results[name]
        print(
            f"grouped {args.folds}-fold CV, {label}: ROC-AUC {m['roc_auc']:.4f}, "
            f"recall {m['recall']:.2%} at FPR {m['fpr']:.2%} (<= 0.5%, threshold "
            f"{m['threshold']:.4f}), per-cluster recall {m['cluster_recall']:.2%}, "
            f"confusion {m['confusion']}"
        )
    parts = [("shared corpus folders", slice(0, n_shared))]
    if fetched:
        parts.append((f"fetched benign ({len(fetched)} packages)", slice(n_shared, None)))
    for label, part in parts:
        cpu, wall, parse = cpu_pkg[part], per_pkg[part], parse_cpu[part]
        print(
            f"speed, {label}: {len(cpu) / sum(cpu):.1f} packages/s of one core's CPU time "
            f"({len(wall) / sum(wall):.1f}/s wall clock, load {os.getloadavg()[0]:.1f}), "
            f"median {statistics.median(wall) * 1000:.2f} ms/package, p99 "
            f"{np.percentile(wall, 99) * 1000:.1f} ms, max {max(wall) * 1000:.0f} ms"
        )
        print(
            f"bare ast.parse of the same files ({label}): {len(parse) / sum(parse):.1f} "
            f"packages/s; scan/parse CPU time ratio {sum(cpu) / sum(parse):.2f}"
        )
    print(
        f"peak memory: {peak_scan / 1e6:.1f} MB allocated by one scan (max over "
        f"{len(probe)} packages incl. the largest); process peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
        f"(includes the corpus held in memory)"
    )
    _plot(y, cv, args.plot)
    print(f"plot: {args.plot}")
    return 0


def _plot(y: np.ndarray, cv: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, label in (("score", "shipped blend"), ("model", "model"), ("rules", "rules")):
        fpr, tpr, _ = roc_curve(y, cv[name])
        ax1.plot(fpr, tpr, label=label)
        prec, rec, _ = precision_recall_curve(y, cv[name])
        ax2.plot(rec, prec, label=label)
    ax1.axvline(0.005, color="grey", ls=":", label="FPR 0.5%")
    ax1.set_xscale("symlog", linthresh=0.01)
    ax1.set_xlim(left=0)
    ax1.set(xlabel="false-positive rate (benign)", ylabel="recall", title="ROC, grouped CV")
    ax2.set(xlabel="recall", ylabel="precision", title="precision-recall, grouped CV")
    for ax in (ax1, ax2):
        ax.legend(loc="lower right")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())

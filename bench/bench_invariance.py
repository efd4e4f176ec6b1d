"""Invariance suite figure (issue 18 item 2): how far meaning-preserving changes move
`warden scan`'s score.

Applies every transform of `detector.code.invariance.TRANSFORMS` (metadata and test files
added or dropped, modules and functions renamed, import forms switched, the code wrapped in
try/except, a class body or a decorator, moved into an imported module) to the hand-written
malicious and benign test fixtures and to a seeded sample of the whole-upload corpus, and
prints per transform: the largest score change (absolute, and the largest drop), recall
and false positives at the shipped threshold before and after.

    .venv/bin/python bench/bench_invariance.py [--per-class 150] [--jobs 2] [--no-corpus]
        [--card models/code-model.md]

`--card` writes the figures into the model card's "Invariance" section (replaced on every
run, so a retrained model's card says what its own score does under the transforms).

Goals: largest change < 0.05, recall change <= 2 points. The corpus part needs ../shared
(skipped with a note when it is absent).
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(REPO / "tests" / "code"))

from invariance_sets import corpus_sample, fixtures  # noqa: E402

from detector.code.invariance import DILUTIONS, TRANSFORMS  # noqa: E402

ALL = {**TRANSFORMS, **DILUTIONS}


def _scores(files: dict[str, str]) -> list[float]:
    from detector.code.scan import scan_files

    warnings.simplefilter("ignore")
    out = [scan_files(files).score]
    for transform in ALL.values():
        out.append(scan_files(transform(files)).score)
    return out


def summarize(labels: np.ndarray, scores: np.ndarray, threshold: float) -> list[dict[str, Any]]:
    base = scores[:, 0]
    rows = []
    for j, name in enumerate(ALL, 1):
        delta = scores[:, j] - base
        mal, ben = labels == 1, labels == 0
        rows.append({
            "transform": name,
            "dilution": name in DILUTIONS,
            "max_abs_change": float(np.abs(delta).max()),
            "max_drop": float(max(0.0, -delta.min())),
            "changed_over_0.05": int((np.abs(delta) >= 0.05).sum()),
            "recall_before": float((base[mal] >= threshold).mean()) if mal.any() else 0.0,
            "recall_after": float((scores[mal, j] >= threshold).mean()) if mal.any() else 0.0,
            "fp_before": int((base[ben] >= threshold).sum()),
            "fp_after": int((scores[ben, j] >= threshold).sum()),
        })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-corpus", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "invariance.json")
    parser.add_argument("--card", type=Path, help="model card to write the figures into")
    args = parser.parse_args()
    from detector.policy import load_policy

    threshold = load_policy().code.flag_threshold
    sets = {"fixtures": fixtures()}
    if not args.no_corpus:
        sample = corpus_sample(args.shared, args.per_class, REPO / ".venv")
        if sample:
            sets["corpus sample"] = sample
        else:
            print(f"bench_invariance: no corpus under {args.shared}; fixtures only",
                  file=sys.stderr)
    report: dict[str, Any] = {"threshold": threshold, "transforms": list(TRANSFORMS),
                              "dilutions": list(DILUTIONS)}
    started = time.time()
    for label, items in sets.items():
        print(f"{label}: {len(items)} packages x {len(ALL) + 1} versions",
              file=sys.stderr)
        with ProcessPoolExecutor(args.jobs) as pool:
            scores = np.array(list(pool.map(_scores, [f for _, _, f in items], chunksize=2)))
        labels = np.array([y for _, y, _ in items])
        rows = summarize(labels, scores, threshold)
        plain = [r for r in rows if not r["dilution"]]
        n = len(TRANSFORMS)
        worst = int(np.argmax(np.abs(scores[:, 1:n + 1] - scores[:, :1]).max(axis=1)))
        report[label] = {"packages": len(items), "malicious": int(labels.sum()),
                         "rows": rows,
                         "max_abs_change": max(r["max_abs_change"] for r in plain),
                         "max_recall_change": max(abs(r["recall_after"] - r["recall_before"])
                                                  for r in plain),
                         "worst_package": items[worst][0]}
        print(f"\n{label} ({len(items)} packages, {int(labels.sum())} malicious; threshold "
              f"{threshold})")
        print(f"{'transform':58s} {'max |d|':>8s} {'max drop':>8s} {'recall':>15s} "
              f"{'FP':>7s}")
        for r in rows:
            print(f"{r['transform']:58s} {r['max_abs_change']:8.3f} {r['max_drop']:8.3f} "
                  f"{r['recall_before']:6.1%} -> {r['recall_after']:6.1%} "
                  f"{r['fp_before']:3d} -> {r['fp_after']:<3d}")
    report["seconds"] = round(time.time() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    if args.card:
        write_card_section(args.card, card_section(report, args.per_class))
    return 0


CARD_HEADING = "## Invariance"


def card_section(report: dict[str, Any], per_class: int) -> str:
    """The model card's invariance section: per set, the largest change of any transform
    and the transforms that move a score at all, with recall and FPs before and after."""
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    lines = [f"{CARD_HEADING} (`bench/bench_invariance.py --per-class {per_class}`, {when})",
             "Meaning-preserving changes (detector/code/invariance.py), goal: every score "
             "moves by less than 0.05 and recall by at most 2 points. Threshold "
             f"{report['threshold']}.", "",
             "| set | packages | largest change (transform) | largest drop | recall before "
             "-> after (range) | FP before -> after (max) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for label in ("fixtures", "corpus sample"):
        if label not in report:
            continue
        part = report[label]
        rows = [r for r in part["rows"] if not r.get("dilution")]
        top = max(rows, key=lambda r: r["max_abs_change"])
        after = [r["recall_after"] for r in rows]
        lines.append(
            f"| {label} | {part['packages']} ({part['malicious']} malicious) | "
            f"{top['max_abs_change']:.3f} ({top['transform']}) | "
            f"{max(r['max_drop'] for r in rows):.3f} | {rows[0]['recall_before']:.1%} -> "
            f"{min(after):.1%}-{max(after):.1%} | {rows[0]['fp_before']} -> "
            f"{max(r['fp_after'] for r in rows)} |")
    moved = sorted({r["transform"] for label in ("fixtures", "corpus sample")
                    if label in report for r in report[label]["rows"]
                    if r["max_abs_change"] >= 0.001 and not r.get("dilution")})
    lines += ["", "Transforms that move any score by 0.001 or more: "
              + (", ".join(f"`{t}`" for t in moved) if moved else "none") + "."]
    diluted = [(label, r) for label in ("fixtures", "corpus sample") if label in report
               for r in report[label]["rows"] if r.get("dilution")]
    if diluted:
        lines += ["", "Dilution (an attack on volume: library code shipped and never run, "
                  "docs/code.md): " + "; ".join(
                      f"{label}: `{r['transform']}` largest drop {r['max_drop']:.3f}, recall "
                      f"{r['recall_before']:.1%} -> {r['recall_after']:.1%}, FP "
                      f"{r['fp_before']} -> {r['fp_after']}" for label, r in diluted) + "."]
    return "\n".join(lines) + "\n"


def write_card_section(card: Path, section: str) -> None:
    """Replace the card's invariance section, or insert it before the top features."""
    text = card.read_text()
    start = text.find(CARD_HEADING)
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + ("\n" + text[end + 1:] if end >= 0 else "")
    else:
        at = text.find("## Top features")
        at = at if at >= 0 else len(text)
        text = text[:at] + section + "\n" + text[at:]
    card.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())

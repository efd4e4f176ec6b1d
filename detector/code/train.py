"""`warden train`: featurize a labelled corpus, evaluate by grouped cross-validation,
fit the final calibrated model and write the artifact, metrics JSON and model card.

Evaluation: StratifiedGroupKFold over near-duplicate clusters (cluster.py), so
copies of one payload never sit on both sides of a fold; inside each training
fold the classifier is calibrated (sigmoid) on grouped inner folds too.

Needs the `[train]` extra (scikit-learn, scipy). The fitted estimator is exported to
plain arrays (model.py) and the export is checked against scikit-learn's own
probabilities on every training package before anything is written.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import StratifiedGroupKFold

from detector.code import model as model_mod
from detector.code.analyze import analyze, blend_score, rule_score
from detector.code.cluster import cluster_ids
from detector.code.corpus import FORWARD_CUTOFF, Sample, is_forward
from detector.code.findings import Finding
from detector.code.limits import Limits
from detector.code.rules import catalogue
from detector.policy import load_policy

# (findings, tokens, rule score, each entry point's files and tokens: Analysis.views)
Row = tuple[list[Finding], list[str], float, list[model_mod.View]]
TARGET_FPR = 0.005
# The exported arrays must give scikit-learn's probabilities to within rounding.
EXPORT_TOLERANCE = 1e-9


@dataclass
class TrainConfig:
    folds: int = 5
    seed: int = 0
    C: float = 3.0
    cluster_weight_power: float = 0.5
    n_hash: int = 2**15
    jobs: int = 1
    # Forward-in-time selection: these regularisations and rule blends are tried on the
    # forward split, and the best recall at FPR <= 0.5% there (then ROC-AUC) is kept.
    C_grid: tuple[float, ...] = (3.0, 10.0, 30.0)
    blend_grid: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3)
    cutoff: str = FORWARD_CUTOFF


# Training scans get this many times the CPU budget of `[code.limits] scan_cpu_seconds`.
# Where a scan runs out of CPU depends on the machine's speed and load (two processes on
# two hyperthreads, a shared host), so with the shipped budget a large library's rows were
# cut at a different file from one training to the next, and a budget finding in them
# taught the model noise (matplotlib, cut in one training, scored 0.68 out of fold and set
# the grouped-CV threshold). At scan time a cut in install/import-time code is decisive whatever the
# model says, so training on whole scans loses nothing; byte budgets stay as shipped.
TRAIN_CPU_FACTOR = 4.0


def training_limits() -> Limits:
    limits = load_policy().code.limits
    return replace(limits, scan_cpu_seconds=limits.scan_cpu_seconds * TRAIN_CPU_FACTOR)


def featurize_one(files: dict[str, str]) -> Row:
    result = analyze(files, limits=training_limits())
    return result.findings, result.tokens, rule_score(result.findings), result.views


def featurize(samples: Sequence[Sample], jobs: int = 1,
              tick: Callable[[], None] | None = None) -> list[Row]:
    if jobs <= 1:
        rows = []
        for s in samples:
            rows.append(featurize_one(s.files))
            if tick:
                tick()
        return rows
    with ProcessPoolExecutor(jobs) as pool:
        rows = []
        for row in pool.map(featurize_one, [s.files for s in samples], chunksize=32):
            rows.append(row)
            if tick:
                tick()
        return rows


def rows_and_groups(samples: Sequence[Sample], jobs: int = 1,
                    tick_rows: Callable[[], None] | None = None,
                    tick_clusters: Callable[[], None] | None = None
                    ) -> tuple[list[Row], np.ndarray]:
    """Every sample's features and its group (near-duplicate cluster joined by
    repository): what training, and any experiment that must split as it does, starts
    from."""
    rows = featurize(samples, jobs, tick_rows)
    groups = merge_groups(cluster_ids([s.files for s in samples], tick_clusters),
                          [s.group for s in samples])
    return rows, groups


def merge_groups(clusters: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Near-duplicate clusters joined by a shared group (a repository): packages of one
    repository never sit on both sides of a split."""
    parent = {int(c): int(c) for c in np.unique(clusters)}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[str, int] = {}
    for cluster, group in zip(clusters.tolist(), groups, strict=True):
        if group:
            other = first.setdefault(group, cluster)
            parent[find(cluster)] = find(other)
    return np.array([find(int(c)) for c in clusters])


LAYOUT_FEATURES = ("log file count", "log total characters", "log median file length",
                   "has setup.py", "has setup.cfg", "has pyproject.toml", "has __init__.py",
                   "has a test path")


def layout_row(files: dict[str, str]) -> list[float]:
    sizes = sorted(len(v) for v in files.values()) or [0]
    bases = {n.rsplit("/", 1)[-1] for n in files}
    return [float(np.log1p(len(files))), float(np.log1p(sum(sizes))),
            float(np.log1p(sizes[len(sizes) // 2])),
            *(float(b in bases) for b in ("setup.py", "setup.cfg", "pyproject.toml",
                                            "__init__.py")),
            float(any("test" in n.lower() for n in files))]


def layout_check(samples: Sequence[Sample], y: np.ndarray, groups: np.ndarray,
                 folds: int = 5) -> dict[str, Any]:
    """How well layout alone (file count, lengths, which metadata files exist) separates
    the classes: grouped-CV ROC-AUC of a gradient-boosted classifier on those columns. The
    model never sees them; a high figure says the data would reward a proxy for them."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = np.array([layout_row(s.files) for s in samples])
    oof = np.zeros(len(y))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=0)
    for train_idx, test_idx in splitter.split(X, y, groups):
        clf = HistGradientBoostingClassifier(max_iter=100, random_state=0)
        oof[test_idx] = clf.fit(X[train_idx], y[train_idx]).predict_proba(X[test_idx])[:, 1]
    per_column = {name: float(max(roc_auc_score(y, X[:, i]), 1 - roc_auc_score(y, X[:, i])))
                  for i, name in enumerate(LAYOUT_FEATURES)}
    return {"roc_auc": float(roc_auc_score(y, oof)), "columns": per_column}


def new_layout(n_hash: int = 2**15) -> model_mod.FeatureLayout:
    return model_mod.FeatureLayout(list(catalogue()), n_hash)


def vectorize(layout: model_mod.FeatureLayout, rows: Sequence[Row]) -> sp.csr_matrix:
    """The design matrix: dense rule columns, then hashed tokens (binary, unit length per
    package for hot and for cold tokens apart: a 3,000-call file must not saturate the
    logistic, and cold library code must not dilute hot code; `FeatureLayout.buckets`)."""
    if not rows:
        return sp.csr_matrix((0, layout.n_dense + layout.n_hash))
    dense = np.array([layout.dense_row(row[0], row[2]) for row in rows], dtype=np.float64)
    indptr, indices, values = [0], [], []
    for findings, tokens, *_ in rows:
        for group in layout.buckets(findings, tokens):
            indices.append(group)
            values.append(np.full(len(group), 1.0 / math.sqrt(max(len(group), 1))))
        indptr.append(indptr[-1] + sum(map(len, indices[-2:])))
    flat = np.concatenate(indices) if indices else np.zeros(0, dtype=np.intp)
    weights = np.concatenate(values) if values else np.zeros(0)
    # a column in both groups (a hash collision) holds the sum, as `probability` adds it
    hashed = sp.csr_matrix((weights, flat, indptr), shape=(len(rows), layout.n_hash))
    hashed.sum_duplicates()
    return sp.hstack([sp.csr_matrix(dense), hashed], format="csr")


def export(estimator: CalibratedClassifierCV, layout: model_mod.FeatureLayout,
           meta: dict[str, Any] | None = None) -> model_mod.CodeModel:
    """The fitted estimator as arrays: one logistic regression and sigmoid per fold."""
    parts = getattr(estimator, "calibrated_classifiers_", None)
    if not parts or estimator.method != "sigmoid" or list(estimator.classes_) != [0, 1] or any(
        len(c.calibrators) != 1 or c.estimator.coef_.shape[0] != 1 for c in parts
    ):
        raise ValueError("only a binary sigmoid-calibrated linear model can be exported")
    return model_mod.CodeModel(
        layout,
        coef=np.array([c.estimator.coef_[0] for c in parts]),
        intercept=np.array([c.estimator.intercept_[0] for c in parts]),
        a=np.array([c.calibrators[0].a_ for c in parts]),
        b=np.array([c.calibrators[0].b_ for c in parts]),
        meta=meta,
    )


def export_difference(model: model_mod.CodeModel, estimator: CalibratedClassifierCV,
                      rows: Sequence[Row]) -> float:
    """Largest |exported - scikit-learn| probability over ``rows``."""
    if not rows:
        return 0.0
    reference = estimator.predict_proba(vectorize(model.layout, rows))[:, 1]
    return float(np.max(np.abs(model.predict_many([row[:3] for row in rows]) - reference)))


def sample_weights(y: np.ndarray, groups: np.ndarray, power: float) -> np.ndarray:
    """Down-weight big clusters (1/size**power), then balance the two classes."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse] ** power
    for label in (0, 1):
        mask = y == label
        if mask.any():
            w[mask] *= len(y) / 2 / w[mask].sum()
    return w


def make_estimator(groups: np.ndarray, y: np.ndarray, cfg: TrainConfig) -> CalibratedClassifierCV:
    base = LogisticRegression(C=cfg.C, max_iter=3000, solver="liblinear")
    n_inner = min(3, len(np.unique(groups[y == 0])), len(np.unique(groups[y == 1])))
    # stratified: a plain GroupKFold gives a giant malicious cluster a fold of its
    # own, and a sigmoid fitted on one class is a constant
    splitter = StratifiedGroupKFold(n_splits=max(2, n_inner), shuffle=True, random_state=0)
    inner = list(splitter.split(np.zeros(len(y)), y, groups))
    return CalibratedClassifierCV(base, method="sigmoid", cv=inner)


def threshold_at_fpr(y: np.ndarray, score: np.ndarray, fpr: float = TARGET_FPR) -> float:
    """Smallest threshold whose false-positive rate on negatives is <= fpr."""
    neg = np.sort(score[y == 0])[::-1]
    allowed = int(np.floor(fpr * len(neg)))
    if allowed >= len(neg):
        return float(neg[-1])
    # flag when score >= t; t just above the (allowed+1)-th highest negative
    return float(np.nextafter(neg[allowed], np.inf))


def metrics(y: np.ndarray, score: np.ndarray, groups: np.ndarray,
            threshold: float | None = None) -> dict[str, Any]:
    t = threshold_at_fpr(y, score) if threshold is None else threshold
    pred = score >= t
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    mal_groups = groups[y == 1]
    caught = pred[y == 1]
    per_cluster = [caught[mal_groups == g].mean() for g in np.unique(mal_groups)]
    return {
        "roc_auc": float(roc_auc_score(y, score)),
        "average_precision": float(average_precision_score(y, score)),
        "threshold": t,
        "recall": float(tp / max(tp + fn, 1)),
        "fpr": float(fp / max(fp + tn, 1)),
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "cluster_recall": float(np.mean(per_cluster)) if per_cluster else 0.0,
    }


def _curve_points(x: np.ndarray, yv: np.ndarray, t: np.ndarray, n: int = 200) -> list[list[float]]:
    idx = np.unique(np.linspace(0, len(x) - 1, min(n, len(x))).astype(int))
    return [[float(x[i]), float(yv[i]), float(t[min(i, len(t) - 1)])] for i in idx]


def hot_rows(rows: Sequence[Row]) -> list[Row]:
    """Each package's code that runs uncalled alone (`CodeModel.package_probability`)."""
    out: list[Row] = []
    for findings, tokens, *_ in rows:
        hot_findings, hot_tokens = model_mod.hot_view(findings, tokens)
        out.append((hot_findings, hot_tokens, rule_score(hot_findings), []))
    return out


@dataclass
class UncalledViews:
    """Design matrices of each package's code that runs uncalled (``hot``, one row per
    package) and of the package as each entry point sees it where there are several
    (``views``, row i belongs to package ``owners[i]``), scored as
    `CodeModel.package_probability` scores them."""

    hot: sp.csr_matrix
    views: sp.csr_matrix
    owners: np.ndarray
    packages: int

    @classmethod
    def build(cls, rows: Sequence[Row], n_hash: int) -> UncalledViews:
        view_rows: list[Row] = []
        owners: list[int] = []
        for index, (findings, tokens, _, views) in enumerate(rows):
            for view_findings, view_tokens in model_mod.entry_views(findings, tokens, views):
                view_rows.append((view_findings, view_tokens, rule_score(view_findings), []))
                owners.append(index)
        return cls(vectorize(new_layout(n_hash), hot_rows(rows)),
                   vectorize(new_layout(n_hash), view_rows), np.array(owners, dtype=np.intp),
                   len(rows))

    def probability(self, est: CalibratedClassifierCV, X: sp.csr_matrix,
                    index: np.ndarray) -> np.ndarray:
        """The shipped model score of the packages ``index`` (``X`` holds every package):
        the largest of the whole package's probability, its hot code's and each entry
        point's, where it has any."""
        index = np.flatnonzero(index) if index.dtype == bool else index
        whole = est.predict_proba(X[index])[:, 1]
        X_hot = self.hot[index]
        has_hot = X_hot.getnnz(axis=1) > 0
        if has_hot.any():
            whole[has_hot] = np.maximum(whole[has_hot], est.predict_proba(X_hot[has_hot])[:, 1])
        position = np.full(self.packages, -1, dtype=np.intp)
        position[index] = np.arange(len(index))
        mine = position[self.owners] >= 0 if len(self.owners) else np.zeros(0, dtype=bool)
        if mine.any():
            np.maximum.at(whole, position[self.owners[mine]],
                          est.predict_proba(self.views[mine])[:, 1])
        return whole


def cross_validate(rows: list[Row], y: np.ndarray, groups: np.ndarray, cfg: TrainConfig,
                   tick: Callable[[], None] | None = None,
                   blend: float | None = None) -> dict[str, np.ndarray]:
    """Out-of-fold model, rule and blended scores."""
    X = vectorize(new_layout(cfg.n_hash), rows)
    uncalled = UncalledViews.build(rows, cfg.n_hash)
    rules = np.array([r[2] for r in rows])
    oof = np.zeros(len(y))
    splitter = StratifiedGroupKFold(n_splits=cfg.folds, shuffle=True, random_state=cfg.seed)
    for train_idx, test_idx in splitter.split(X, y, groups):
        est = make_estimator(groups[train_idx], y[train_idx], cfg)
        est.fit(X[train_idx], y[train_idx], sample_weight=sample_weights(
            y[train_idx], groups[train_idx], cfg.cluster_weight_power))
        oof[test_idx] = uncalled.probability(est, X, test_idx)
        if tick:
            tick()
    score = np.array([blend_score(r, p, blend=blend) for r, p in zip(rules, oof, strict=True)])
    return {"model": oof, "rules": rules, "score": score}


def fit(X: sp.csr_matrix, y: np.ndarray, groups: np.ndarray,
        cfg: TrainConfig) -> CalibratedClassifierCV:
    est = make_estimator(groups, y, cfg)
    return est.fit(X, y, sample_weight=sample_weights(y, groups, cfg.cluster_weight_power))


def forward_select(rows: list[Row], y: np.ndarray, groups: np.ndarray, forward: np.ndarray,
                   cfg: TrainConfig, tick: Callable[[], None] | None = None
                   ) -> dict[str, Any]:
    """Train on the samples first seen before the cutoff, measure on the later ones, for
    every C and rule blend of the grids; the best recall at FPR <= 0.5% on the forward
    side (then ROC-AUC) chooses the model. Returns every candidate's metrics and the
    chosen one's scores."""
    X = vectorize(new_layout(cfg.n_hash), rows)
    uncalled = UncalledViews.build(rows, cfg.n_hash)
    rules = np.array([r[2] for r in rows])
    past, future = ~forward, forward
    if len(np.unique(y[past])) < 2 or len(np.unique(y[future])) < 2:
        raise ValueError("the forward split needs both classes on both sides of "
                         f"{cfg.cutoff}")
    candidates = []
    best: dict[str, Any] | None = None
    for c in cfg.C_grid:
        est = fit(X[past], y[past], groups[past], TrainConfig(**{**cfg.__dict__, "C": c}))
        p = uncalled.probability(est, X, future)
        for blend in cfg.blend_grid:
            score = np.array([blend_score(r, m, blend=blend)
                              for r, m in zip(rules[future], p, strict=True)])
            m = metrics(y[future], score, groups[future])
            candidates.append({"C": c, "rule_blend": blend, "recall": m["recall"],
                               "roc_auc": m["roc_auc"], "threshold": m["threshold"]})
            key = (m["recall"], m["roc_auc"])
            if best is None or key > (best["metrics"]["recall"], best["metrics"]["roc_auc"]):
                best = {"C": c, "rule_blend": blend, "metrics": m,
                        "model": metrics(y[future], p, groups[future]),
                        "rules": metrics(y[future], rules[future], groups[future])}
        if tick:
            tick()
    assert best is not None
    return {"cutoff": cfg.cutoff, "train": {"malicious": int((y[past] == 1).sum()),
                                            "benign": int((y[past] == 0).sum())},
            "test": {"malicious": int((y[future] == 1).sum()),
                     "benign": int((y[future] == 0).sum())},
            "candidates": candidates, "chosen": best}


def top_features(model: model_mod.CodeModel, rows: list[Row], k: int = 25) -> list[dict]:
    """Largest positive and negative mean coefficients, with readable names.

    A hashed column can hold several tokens (collisions): its name lists the most
    frequent ones, so a coefficient is never pinned on a token that merely shares
    the bucket.
    """
    coefs = np.mean(model.coef, axis=0)
    names = model.layout.dense_names()
    n_dense = len(names)
    frequency: Counter[str] = Counter()
    for findings, tokens, *_ in rows:
        frequency.update(model.layout.tokens_for(findings, tokens))
    buckets: dict[int, list[str]] = {}
    for token, _ in frequency.most_common():
        buckets.setdefault(model.bucket(token), []).append(token)

    def label(column: int) -> str:
        tokens = buckets.get(column, [])
        if not tokens:
            return f"hash#{column}"
        more = f" (+{len(tokens) - 2} more)" if len(tokens) > 2 else ""
        return " / ".join(tokens[:2]) + more

    order = np.argsort(coefs)
    picks = [*order[::-1][:k], *order[:k]]
    return [{"feature": names[i] if i < n_dense else label(int(i - n_dense)),
             "coefficient": float(coefs[i])} for i in picks]


def train(samples: Sequence[Sample], out_dir: Path, cfg: TrainConfig,
          progress: Callable[[str, int], Callable[[], None]] | None = None,
          sources: Sequence[str] = ()) -> dict[str, Any]:
    """Run the whole pipeline; returns the metrics dict also written next to the model."""
    started = time.time()

    def stage(label: str, total: int) -> Callable[[], None] | None:
        return progress(label, total) if progress else None

    y = np.array([s.label for s in samples])
    if len(np.unique(y)) < 2:
        raise ValueError("training needs both malicious and benign samples")
    rows, groups = rows_and_groups(samples, cfg.jobs, stage("analysing packages", len(samples)),
                                   stage("clustering near-duplicates", len(samples)))
    forward = np.array([is_forward(s, cfg.cutoff) for s in samples])
    fwd = forward_select(rows, y, groups, forward, cfg,
                         stage("forward-in-time selection", len(cfg.C_grid)))
    chosen = fwd["chosen"]
    cfg = TrainConfig(**{**cfg.__dict__, "C": chosen["C"]})
    cv = cross_validate(rows, y, groups, cfg, stage("grouped cross-validation", cfg.folds),
                        blend=chosen["rule_blend"])
    report: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {
            "malicious": int((y == 1).sum()), "benign": int((y == 0).sum()),
            "sources": [Path(p).name for p in sources],
            "clusters": len(np.unique(groups)),
            "malicious_clusters": len(np.unique(groups[y == 1])),
            "benign_clusters": len(np.unique(groups[y == 0])),
            "largest_cluster": int(np.bincount(np.unique(groups, return_inverse=True)[1]).max()),
        },
        "split": {"method": "StratifiedGroupKFold by MinHash near-duplicate cluster, joined by "
                            "repository",
                  "folds": cfg.folds, "seed": cfg.seed},
        "config": {"C": cfg.C, "n_hash": cfg.n_hash, "calibration": "sigmoid, grouped inner CV",
                   "cluster_weight_power": cfg.cluster_weight_power,
                   "rule_blend": chosen["rule_blend"],
                   "policy_rule_blend": load_policy().code.rule_blend,
                   "model_prior": load_policy().code.model_prior,
                   "chosen_by": "forward-in-time recall at FPR <= 0.5%, then ROC-AUC"},
        "forward": fwd,
        "cv": {name: metrics(y, s, groups) for name, s in cv.items()},
    }
    report["layout"] = layout_check(samples, y, groups, cfg.folds)
    score = cv["score"]
    silent = np.array([not any(f.severity != "info" for f in row[0]) for row in rows])
    flagged = score >= report["cv"]["score"]["threshold"]
    report["silent"] = {
        "malicious_without_findings": int((silent & (y == 1)).sum()),
        "recall_with_findings": float(flagged[(y == 1) & ~silent].mean())
        if ((y == 1) & ~silent).any() else 0.0,
    }
    fpr, tpr, roc_t = roc_curve(y, score)
    prec, rec, pr_t = precision_recall_curve(y, score)
    report["curves"] = {
        "roc": {"columns": ["fpr", "tpr", "threshold"], "points": _curve_points(fpr, tpr, roc_t)},
        "pr": {"columns": ["recall", "precision", "threshold"],
               "points": _curve_points(rec[::-1], prec[::-1], pr_t[::-1])},
    }
    layout = new_layout(cfg.n_hash)
    estimator = fit(vectorize(layout, rows), y, groups, cfg)
    report["versions"] = model_mod.library_versions()
    final = export(estimator, layout, {"versions": report["versions"],
                                       "created": report["created"],
                                       "rule_blend": chosen["rule_blend"],
                                       "threshold_at_0.5pct_fpr": cv_threshold(report),
                                       "forward_threshold_at_0.5pct_fpr":
                                           chosen["metrics"]["threshold"]})
    difference = export_difference(final, estimator, rows)
    if difference > EXPORT_TOLERANCE:
        raise RuntimeError(f"exported model differs from scikit-learn by {difference:.3g}")
    report["export"] = {"artifact": model_mod.ARTIFACT, "format": model_mod.FORMAT,
                        "packages_compared": len(rows), "max_abs_difference": difference}
    report["top_features"] = top_features(final, rows)
    report["train_seconds"] = round(time.time() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_mod.save(final, out_dir / model_mod.ARTIFACT)
    (out_dir / "code-model.json").write_text(json.dumps(report, indent=1) + "\n")
    # token labels can hold lone surrogates (decoded payload strings)
    (out_dir / "code-model.md").write_text(model_card(report), encoding="utf-8",
                                           errors="backslashreplace")
    return report


def cv_threshold(report: dict[str, Any]) -> float:
    return float(report["cv"]["score"]["threshold"])


def model_card(r: dict[str, Any]) -> str:
    cv = r["cv"]
    d = r["data"]
    sources = ", ".join(f"`{name}`" for name in d.get("sources", [])) or "the shared corpus"
    quiet = r.get("silent")
    silent = (f"{quiet['malicious_without_findings']} malicious packages "
              f"({quiet['malicious_without_findings'] / max(d['malicious'], 1):.1%}) produce no "
              f"finding above `info`: their files hold no payload (it sits in a module the "
              f"sample does not include). Recall on the others: "
              f"**{quiet['recall_with_findings']:.2%}**.") if quiet else ""

    def line(name: str, m: dict[str, Any]) -> str:
        return (f"| {name} | {m['roc_auc']:.4f} | {m['average_precision']:.4f} | "
                f"{m['threshold']:.4f} | {m['recall']:.2%} | {m['fpr']:.2%} | "
                f"{m['cluster_recall']:.2%} |")

    lay = r.get("layout") or {"roc_auc": float("nan"), "columns": {}}
    lay_cols = ", ".join(f"{k} {v:.2f}" for k, v in lay["columns"].items())
    fw = r["forward"]
    cands = "; ".join(f"{c['C']:g}, {c['rule_blend']:g}: {c['recall']:.1%}, {c['roc_auc']:.4f}"
                      for c in fw["candidates"])
    feats = "\n".join(f"| `{f['feature']}` | {f['coefficient']:+.3f} |"
                      for f in r["top_features"][:15])
    versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
    exported = r.get("export")
    check = (f"On {exported['packages_compared']} corpus packages its probabilities "
             f"differ from scikit-learn's by at most {exported['max_abs_difference']:.2g} "
             f"(training refuses to write above {EXPORT_TOLERANCE:g}).") if exported else ""
    return f"""# Code model card (`models/code-model.npz`)

Built {r['created']} by `warden train` in {r['train_seconds']} s. Metrics, ROC and PR
curve points, confusion matrix and top features: `models/code-model.json`.

## Data
- {d['malicious']} malicious and {d['benign']} benign whole uploads (every `.py .pyw .pth
  .toml .cfg` file of a package, as a registry receives it, 300 files per package, every
  file cut at 90,112 characters as the shared corpus is; both classes through the same
  selection and caps), from {sources}. `installed` is every distribution of the
  training virtualenv, read from its `RECORD` as text (wheel layout, never imported).
  Corpus files are not part of the project.
- Near-duplicate clusters (MinHash over normalized 5-token shingles, LSH 16x4, plus exact
  normalized-token matches): {d['clusters']} clusters ({d['malicious_clusters']} malicious,
  {d['benign_clusters']} benign); the largest holds {d['largest_cluster']} packages.

## Model
- Features describe behaviour: per rule and per severity (low, medium, high), the
  number of files with a hit in code that runs uncalled (install time, or import time: a
  package's top `__init__.py` and what it imports) and in other code (log-scaled; files,
  not lines, so how statements are spread over lines does not count), the rule score,
  the rule score of that hot code and of other code alone, and hashed tokens
  ({r['config']['n_hash']} buckets: resolved call names and imports, with the package's
  own module and function names replaced by `_`, rule-by-tier pairs, and for a Python
  file that is not parsed whether it holds a line of 1,000+ characters (packed code) or
  not; unit length per package for the tokens of hot and of other code apart, so code
  that never runs cannot dilute what does). No file names, file kinds or metadata files (see
  "Layout" below).
- Logistic regression (C={r['config']['C']}, chosen on the forward split); each package
  weighs 1/sqrt(cluster size) (power {r['config']['cluster_weight_power']}) so the big
  template clusters do not drown the rest, then both classes get equal total weight.
  Calibrated with a sigmoid on grouped inner folds.
- The model probability of a package is the largest of the whole package's, that of
  its hot code alone and, when the hot code has several entry points (install time, each
  top-level package), that of the package as each entry point sees it (that entry's hot
  code and all call-only code). Code shipped beside a payload, never run or run from
  another entry point (a library vendored as a package of its own), cannot lower it below
  what the payload scores without it; every figure below uses it.
- Shipped score = {r['config']['rule_blend']} x rule score + {1 - r['config']['rule_blend']:.2f}
  x calibrated model probability moved from the training prior (50%, classes weighted
  equally) to an assumed prior of {r['config']['model_prior']} (`[code] model_prior`), a
  monotonic transform that keeps clean packages low.
- Probabilities are calibrated on the corpus mix (mostly malicious), not on registry
  prevalence: read them as a ranking plus a corpus-calibrated likelihood.

## Forward-in-time validation (chooses the model)
Trained on the samples first seen before {fw['cutoff']} ({fw['train']['malicious']}
malicious, {fw['train']['benign']} benign), measured on the later ones
({fw['test']['malicious']} malicious, {fw['test']['benign']} benign; benign packages
without a date go to one side by a stable hash of their repository or name, 30% forward).
C and the rule blend are picked by recall at FPR <= 0.5% on this split, then ROC-AUC.

| score | ROC-AUC | avg. precision | threshold | recall | FPR | mean per-cluster recall |
| --- | --- | --- | --- | --- | --- | --- |
{line('shipped (blend)', fw['chosen']['metrics'])}
{line('model only', fw['chosen']['model'])}
{line('rules only', fw['chosen']['rules'])}

Candidates (C, rule blend: forward recall at FPR <= 0.5%, ROC-AUC): {cands}.

## Layout alone
Both classes go through the same file selection and caps. Whether layout could still tell
them apart: a gradient-boosted classifier on file count, total and median file length
and which of `setup.py`, `setup.cfg`, `pyproject.toml`, `__init__.py` and a test path
exist scores grouped-CV ROC-AUC **{lay['roc_auc']:.3f}** (single columns: {lay_cols}).
The model sees none of these columns and no file names; the invariance suite
(`bench/bench_invariance.py`) measures what is left of the shortcut.

## Grouped cross-validation
{r['split']['folds']}-fold StratifiedGroupKFold by cluster (near-duplicates, and packages of one
repository, never on both sides), with
the forward-chosen C and blend.
Threshold = the lowest score with a false-positive rate <= 0.5% on the benign packages.

| score | ROC-AUC | avg. precision | threshold | recall | FPR | mean per-cluster recall |
| --- | --- | --- | --- | --- | --- | --- |
{line('shipped (blend)', cv['score'])}
{line('model only', cv['model'])}
{line('rules only', cv['rules'])}

Confusion at the threshold (shipped score): {cv['score']['confusion']}.
{silent}
The shipped policy puts `[code] flag_threshold` at this threshold (rounded); change it
there, not in code.

With {d['benign']} benign packages a 0.5% FPR allows {int(0.005 * d['benign'])} false
positives; the threshold moves by about one benign package's score per 200 benign samples.

Caveat: coefficients of hashed tokens are learned on this corpus, where a few large
template clusters dominate the malicious side; per-cluster weighting and the rule score
keep them in check, but read single token coefficients as corpus statistics, not rules.

## Training scans and the CPU budget
Training scans every package with {TRAIN_CPU_FACTOR:g} times the CPU budget of
`[code.limits] scan_cpu_seconds` (`train.TRAIN_CPU_FACTOR`): where a scan runs out of CPU
depends on the machine's speed and load, so with the shipped budget two trainings on the
same data cut large libraries at different files. At scan time a cut in install- or
import-time code is decisive whatever the model says.

## Invariance
Not measured for this model yet: `bench/bench_invariance.py --card models/code-model.md`
replaces this section with its figures.

## Top features (mean coefficient over calibration folds)
| feature | coefficient |
| --- | --- |
{feats}

## Artifact
`code-model.npz`: per calibration fold, the logistic regression's coefficients and
intercept and the sigmoid's two parameters, plus a JSON header (format, feature layout,
rule ids, hash buckets). No pickle: it loads with `numpy.load(allow_pickle=False)` and
scores with NumPy and mmh3, without scikit-learn. {check}

## Library versions
Built with {versions}. The artifact depends on none of them: loading checks its
format and feature layout, and the `[code] model_version_mismatch` policy decides
between "warn" (default) and "refuse" (the score falls back to the rule score) when the
layout differs.
"""

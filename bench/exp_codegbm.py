"""Experiment: does gradient boosting (or another weighting / penalty) beat the code
model's logistic regression on whole uploads?

Featurizes the same samples as `warden train` once (the slow part) and caches the rows
in a pickle of this script's own making (``--cache``, default /tmp/codegbm_rows.pkl),
then scores every variant on the forward-in-time split (train before the cutoff, test
after; chooses) and by grouped cross-validation, with the same thresholds (FPR <= 0.5%)
and metrics as train.py, plus false positives per benign source.

    nice .venv/bin/python bench/exp_codegbm.py --jobs 2            # featurize + all variants
    nice .venv/bin/python bench/exp_codegbm.py --only lr,hgb_stack  # selected variants

Corpus files are read as text only (never run or imported).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.code.train import (  # noqa: E402
    Row,
    TrainConfig,
    metrics,
    rows_and_groups,
)

SHARED = ROOT.parent / "shared"


@dataclass
class Data:
    rows: list[Row]
    y: np.ndarray
    groups: np.ndarray
    forward: np.ndarray
    source: np.ndarray  # corpus file stem, or "installed"


def build(jobs: int) -> Data:
    from detector.code.corpus import is_forward, read_all, whole_corpus
    from detector.code.installed import CORPUS_MAX_FILES, installed_samples

    mal_paths, ben_paths = whole_corpus(SHARED)
    samples, source = [], []
    for paths, label in ((mal_paths, 1), (ben_paths, 0)):
        for p in paths:
            got = read_all([p], label, max_files=CORPUS_MAX_FILES)
            samples += got
            source += [p.name.split(".")[0]] * len(got)
    extra = list(installed_samples())
    samples += extra
    source += ["installed"] * len(extra)
    t = time.time()
    rows, groups = rows_and_groups(samples, jobs)
    print(f"featurized and clustered {len(rows)} packages in {time.time() - t:.0f} s",
          file=sys.stderr)
    y = np.array([s.label for s in samples])
    forward = np.array([is_forward(s) for s in samples])
    return Data(rows, y, groups, forward, np.array(source))


def load(cache: Path, jobs: int) -> Data:
    if cache.is_file():
        with open(cache, "rb") as handle:
            data: Data = pickle.load(handle)
        return data
    data = build(jobs)
    with open(cache, "wb") as handle:
        pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return data




# ---------------------------------------------------------------- models

Fit = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (train_idx, test_idx) -> probability


class Lab:
    """Design matrices of the cached rows and fitters for every variant."""

    def __init__(self, data: Data, cfg: TrainConfig) -> None:
        from detector.code.train import new_layout, vectorize

        self.d, self.cfg = data, cfg
        layout = new_layout(cfg.n_hash)
        self.X = vectorize(layout, data.rows)
        self.n_dense = layout.n_dense
        self.D = self.X[:, : layout.n_dense].toarray()
        self.rules = np.array([r[2] for r in data.rows])
        # binary token presence (before unit scaling) for top-k token columns
        self.B = (self.X[:, layout.n_dense:] > 0).astype(np.float32).tocsc()

    def weights(self, idx: np.ndarray, power: float | None = None,
                benign_factor: float = 1.0) -> np.ndarray:
        """train.sample_weights, then the benign class times ``benign_factor``."""
        from detector.code.train import sample_weights

        p = self.cfg.cluster_weight_power if power is None else power
        w = sample_weights(self.d.y[idx], self.d.groups[idx], p)
        return np.where(self.d.y[idx] == 0, w * benign_factor, w)

    def calibrated(self, base: Any, idx: np.ndarray) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedGroupKFold

        y, g = self.d.y[idx], self.d.groups[idx]
        n_inner = min(3, len(np.unique(g[y == 0])), len(np.unique(g[y == 1])))
        splitter = StratifiedGroupKFold(n_splits=max(2, n_inner), shuffle=True, random_state=0)
        inner = list(splitter.split(np.zeros(len(y)), y, g))
        return CalibratedClassifierCV(base, method="sigmoid", cv=inner)

    def lr(self, tr: np.ndarray, te: np.ndarray, C: float = 10.0, power: float | None = None,
           l1_ratio: float = 0.0, benign_factor: float = 1.0) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression

        if 0 < l1_ratio < 1:
            base = LogisticRegression(C=C, l1_ratio=l1_ratio, solver="saga", max_iter=3000,
                                      tol=1e-3)
        else:
            base = LogisticRegression(C=C, l1_ratio=l1_ratio, max_iter=3000, solver="liblinear")
        est = self.calibrated(base, tr)
        est.fit(self.X[tr], self.d.y[tr],
                sample_weight=self.weights(tr, power, benign_factor))
        return est.predict_proba(self.X[te])[:, 1]

    def lr_oof(self, tr: np.ndarray, C: float, folds: int = 3) -> np.ndarray:
        """Out-of-fold LR probability on the training rows (grouped), for stacking."""
        from sklearn.model_selection import StratifiedGroupKFold

        out = np.zeros(len(tr))
        split = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=1)
        for a, b in split.split(np.zeros(len(tr)), self.d.y[tr], self.d.groups[tr]):
            out[b] = self.lr(tr[a], tr[b], C=C)
        return out

    def top_tokens(self, tr: np.ndarray, k: int) -> np.ndarray:
        df = np.asarray(self.B[tr].sum(axis=0)).ravel()
        return np.argsort(-df)[:k]

    def hgb(self, tr: np.ndarray, te: np.ndarray, lr: float = 0.05, iters: int = 300,
            leaves: int = 15, min_leaf: int = 20, l2: float = 1.0, stack_C: float | None = None,
            tokens: int = 0) -> np.ndarray:
        from sklearn.ensemble import HistGradientBoostingClassifier

        A_tr, A_te = self.D[tr], self.D[te]
        if tokens:
            cols = self.top_tokens(tr, tokens)
            A_tr = np.hstack([A_tr, self.B[tr][:, cols].toarray()])
            A_te = np.hstack([A_te, self.B[te][:, cols].toarray()])
        if stack_C is not None:
            A_tr = np.hstack([A_tr, self.lr_oof(tr, stack_C)[:, None]])
            A_te = np.hstack([A_te, self.lr(tr, te, C=stack_C)[:, None]])
        base = HistGradientBoostingClassifier(
            learning_rate=lr, max_iter=iters, max_leaf_nodes=leaves, min_samples_leaf=min_leaf,
            l2_regularization=l2, early_stopping=False, random_state=0)
        est = self.calibrated(base, tr)
        est.fit(A_tr, self.d.y[tr], sample_weight=self.weights(tr))
        return est.predict_proba(A_te)[:, 1]


# ---------------------------------------------------------------- evaluation

BLENDS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)


def blended(rules: np.ndarray, p: np.ndarray, blend: float) -> np.ndarray:
    from detector.code.analyze import blend_score

    return np.array([blend_score(r, m, blend=blend) for r, m in zip(rules, p, strict=True)])


def fp_by_source(d: Data, idx: np.ndarray, score: np.ndarray, t: float) -> dict[str, int]:
    neg = d.y[idx] == 0
    out: dict[str, int] = {}
    for src in np.unique(d.source[idx][neg]):
        m = neg & (d.source[idx] == src)
        out[str(src)] = int((score[m] >= t).sum())
    return out


class Runner:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        d = lab.d
        self.past, self.future = np.flatnonzero(~d.forward), np.flatnonzero(d.forward)
        from sklearn.model_selection import StratifiedGroupKFold

        split = StratifiedGroupKFold(n_splits=lab.cfg.folds, shuffle=True,
                                     random_state=lab.cfg.seed)
        self.cv_folds = list(split.split(np.zeros(len(d.y)), d.y, d.groups))
        self.fwd_cache: dict[str, np.ndarray] = {}
        self.cv_cache: dict[str, np.ndarray] = {}

    def forward_p(self, key: str, fit: Fit) -> np.ndarray:
        if key not in self.fwd_cache:
            self.fwd_cache[key] = fit(self.past, self.future)
        return self.fwd_cache[key]

    def cv_p(self, key: str, fit: Fit) -> np.ndarray:
        if key not in self.cv_cache:
            oof = np.zeros(len(self.lab.d.y))
            for tr, te in self.cv_folds:
                oof[te] = fit(tr, te)
            self.cv_cache[key] = oof
        return self.cv_cache[key]

    def evaluate(self, name: str, grid: dict[str, Fit]) -> dict[str, Any]:
        """Forward split picks a grid entry and a rule blend; CV measures that choice."""
        d, lab = self.lab.d, self.lab
        y_f, g_f, r_f = d.y[self.future], d.groups[self.future], lab.rules[self.future]
        best: dict[str, Any] | None = None
        cands = []
        for key, fit in grid.items():
            t0 = time.time()
            p = self.forward_p(key, fit)
            for blend in BLENDS:
                m = metrics(y_f, blended(r_f, p, blend), g_f)
                cands.append([key, blend, m["recall"], m["roc_auc"]])
                if best is None or (m["recall"], m["roc_auc"]) > (best["fwd"]["recall"],
                                                                  best["fwd"]["roc_auc"]):
                    best = {"key": key, "blend": blend, "fwd": m,
                            "fwd_model": metrics(y_f, p, g_f)}
            print(f"  {name} {key}: forward fit {time.time() - t0:.0f} s", file=sys.stderr)
        assert best is not None
        s_f = blended(r_f, self.forward_p(best["key"], grid[best["key"]]), best["blend"])
        best["fwd_fp"] = fp_by_source(d, self.future, s_f, best["fwd"]["threshold"])
        t0 = time.time()
        p = self.cv_p(best["key"], grid[best["key"]])
        score = blended(lab.rules, p, best["blend"])
        best["cv"] = metrics(d.y, score, d.groups)
        best["cv_model"] = metrics(d.y, p, d.groups)
        best["cv_fp"] = fp_by_source(d, np.arange(len(d.y)), score, best["cv"]["threshold"])
        print(f"  {name}: CV {time.time() - t0:.0f} s", file=sys.stderr)
        best["candidates"] = cands
        best["variant"] = name
        return best


def variants(lab: Lab, run: Runner) -> dict[str, Callable[[], dict[str, Fit]]]:
    def lr(**kw: Any) -> Fit:
        return lambda tr, te: lab.lr(tr, te, **kw)

    def hgb(**kw: Any) -> Fit:
        return lambda tr, te: lab.hgb(tr, te, **kw)

    def mix(a: str, fa: Fit, b: str, fb: Fit, w: float) -> Fit:
        # reuse cached probabilities: only valid on the runner's own splits
        def fit(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
            if len(te) == len(run.future) and np.array_equal(te, run.future):
                return w * run.forward_p(a, fa) + (1 - w) * run.forward_p(b, fb)
            full_a, full_b = run.cv_p(a, fa), run.cv_p(b, fb)
            return w * full_a[te] + (1 - w) * full_b[te]
        return fit

    hgb_grid = {"lr0.05-i300-l15": dict(lr=0.05, iters=300, leaves=15),
                "lr0.1-i200-l31": dict(lr=0.1, iters=200, leaves=31),
                "lr0.05-i500-l7": dict(lr=0.05, iters=500, leaves=7, min_leaf=40)}
    lr10 = ("lr-C10", lr(C=10.0))
    hgb_tok = ("hgb_tok500-lr0.05-i300-l15", hgb(tokens=500, lr=0.05, iters=300, leaves=15))
    return {
        "lr": lambda: {f"lr-C{c:g}": lr(C=c) for c in (3.0, 10.0, 30.0)},
        "lr_power": lambda: {f"lr-C{c:g}-pow{pw:g}": lr(C=c, power=pw)
                             for c in (10.0, 30.0) for pw in (0.0, 0.25, 0.75, 1.0)},
        "lr_l1": lambda: {f"lr-l1-C{c:g}": lr(C=c, l1_ratio=1.0) for c in (10.0, 30.0, 100.0)},
        "lr_en": lambda: {f"lr-en-C{c:g}": lr(C=c, l1_ratio=0.5) for c in (10.0, 30.0)},
        "lr_benign": lambda: {f"lr-C{c:g}-benign{f:g}": lr(C=c, benign_factor=f)
                              for c in (10.0, 30.0) for f in (0.5, 2.0, 4.0)},
        "hgb_dense": lambda: {f"hgb-{k}": hgb(**v) for k, v in hgb_grid.items()},
        "hgb_tok": lambda: {f"hgb_tok{n}-{k}": hgb(tokens=n, **v)
                            for n in (200, 500) for k, v in list(hgb_grid.items())[:2]},
        "hgb_stack": lambda: {f"hgb_stack-{k}": hgb(stack_C=10.0, **v)
                              for k, v in list(hgb_grid.items())[:2]},
        "mix_lr_hgb_tok": lambda: {f"mix-w{w:g}": mix(*lr10, *hgb_tok, w)
                                   for w in (0.3, 0.5, 0.7)},
        "mix_lr_hgb_tok200": lambda: {f"mix200-w{w:g}": mix(
            *lr10, "hgb_tok200-lr0.1-i200-l31",
            hgb(tokens=200, **hgb_grid["lr0.1-i200-l31"]), w) for w in (0.2, 0.3, 0.4, 0.5)},
        "mix_lr_hgb_dense": lambda: {f"mixd-w{w:g}": mix(
            *lr10, "hgb-lr0.05-i300-l15", hgb(**hgb_grid["lr0.05-i300-l15"]), w)
            for w in (0.3, 0.5, 0.7)},
    }


def line(r: dict[str, Any]) -> str:
    f, c = r["fwd"], r["cv"]
    return (f"| {r['variant']} | {r['key']}, blend {r['blend']:g} | {f['recall']:.2%} "
            f"({f['confusion']['tp']}/{f['confusion']['tp'] + f['confusion']['fn']}) | "
            f"{f['fpr']:.2%} | {f['roc_auc']:.4f} | {r['fwd_model']['roc_auc']:.4f} | "
            f"{c['recall']:.2%} | {c['fpr']:.2%} | {c['roc_auc']:.4f} | "
            f"{r['cv_model']['roc_auc']:.4f} | {r['fwd_fp']} | {r['cv_fp']} |")


HEADER = ("| variant | chosen (forward) | fwd recall | fwd FPR | fwd AUC | fwd model AUC | "
          "CV recall | CV FPR | CV AUC | CV model AUC | fwd FPs by source | CV FPs by source |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/codegbm_rows.pkl"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated variants (default: all)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/codegbm_results.jsonl"))
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    data = load(args.cache, args.jobs)
    print(f"{len(data.y)} packages ({int(data.y.sum())} malicious), forward test "
          f"{int(data.forward.sum())}", file=sys.stderr)
    lab = Lab(data, TrainConfig())
    run = Runner(lab)
    table = variants(lab, run)
    names = [n for n in args.only.split(",") if n] or list(table)
    print(HEADER)
    for name in names:
        r = run.evaluate(name, table[name]())
        print(line(r), flush=True)
        with open(args.out, "a") as handle:
            handle.write(json.dumps({k: v for k, v in r.items()}, default=str) + "\n")


if __name__ == "__main__":
    main()

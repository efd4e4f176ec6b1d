"""The trained code model: feature layout, prediction, and checked loading.

Features per package: for every catalogue rule and every severity, the number of
install/import-time files and of other files with a hit (log-scaled; files, not lines,
so a wrapper or formatter that moves statements between lines does not count), the rule
score and the rule scores of install/import-time and of other findings alone, and hashed
behaviour tokens (resolved call names and imports of install/import-time and other code,
with the package's own module and function names replaced by `_`, rule-by-tier pairs,
and the shape of files that are not parsed), scaled to unit length per package, the
tokens of code that runs uncalled and of other code each on their own.
No file names, file kinds or metadata files: a
package's layout is not evidence (analyze.behaviour_tokens).

The artifact ``models/code-model.npz`` holds plain arrays (per calibration fold: the
logistic regression's coefficients and intercept, the sigmoid calibrator's ``a`` and
``b``) and a JSON header (format, feature layout, rule ids, build metadata). It is read
with ``allow_pickle=False``, so loading it cannot run code, and scoring needs numpy and
mmh3 only: scikit-learn is a training dependency (the ``[train]`` extra, train.py).

Loading refuses an unknown artifact format. An artifact built for another feature
layout (``FEATURES``) follows the `[code] model_version_mismatch` policy: "warn"
(default: load and warn) or "refuse" (ignore the model; scores fall back to the rule
score).
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import mmh3
import numpy as np

from detector.code.analyze import HOT_TIERS
from detector.code.analyze import rule_score as score_of
from detector.code.findings import Finding
from detector.code.rules import catalogue
from detector.policy import Policy, resolve
from detector.resources import models_path

log = logging.getLogger(__name__)
ARTIFACT = "code-model.npz"
FORMAT = 1
# The feature layout a model was trained on; change it with any change to the features.
FEATURES = ("rule-files-log1p-hot-cold+rule-score-max-file+severity-files-hot-cold"
            "+rule-score-hot-cold+behaviour-tokens-v3-unparsed-shape"
            "+mmh3-x86_32-seed0-abs-mod-binary-l2-per-hot-cold+max-hot-view")
TOKEN_INDEX_CACHE = 200_000
# Severities counted per tier group: "high-severity evidence in code that runs uncalled"
# carries over to a rule the training data holds only in one held-out campaign.
SEVERITY_COLUMNS = ("low", "medium", "high")
ARRAYS = ("coef", "intercept", "a", "b")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that build (scikit-learn, when installed) and read a model,
    from package metadata: nothing is imported."""
    found = {}
    for name in ("scikit-learn", "scipy", "numpy", "mmh3"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def is_hot_token(token: str) -> bool:
    """A token of code that runs uncalled: `hot|c:os.system`, `rule|exec-call|hot`."""
    return token.startswith("hot|") or token.endswith("|hot")


def hot_view(findings: list[Finding], tokens: list[str]) -> tuple[list[Finding], list[str]]:
    """A package's findings and tokens of code that runs uncalled alone."""
    return [f for f in findings if f.tier in HOT_TIERS], [t for t in tokens if is_hot_token(t)]


View = tuple[frozenset[str], list[str]]  # an entry point's files and tokens (Analysis.views)


def entry_views(findings: list[Finding], tokens: list[str], views: Sequence[View]
                ) -> list[tuple[list[Finding], list[str]]]:
    """The package as each entry point sees it, when there are several: that entry's
    install- or import-time code with the package's call-only code, without the other
    entries' (with one entry, its view is the whole package)."""
    if len(views) < 2:
        return []
    cold_findings = [f for f in findings if f.tier not in HOT_TIERS]
    cold_tokens = [t for t in tokens if not is_hot_token(t)]
    return [([f for f in findings if f.tier in HOT_TIERS and f.file in files] + cold_findings,
             view_tokens + cold_tokens) for files, view_tokens in views]


class ModelVersionError(RuntimeError):
    """The artifact is unreadable here, or built for other features and the policy refuses it."""


@dataclass
class FeatureLayout:
    """How a package's findings and tokens become the model's columns."""

    rule_ids: list[str]
    n_hash: int = 2**15
    _index: dict[str, int] = field(init=False, repr=False)
    _token_index: dict[str, int] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {r: i for i, r in enumerate(self.rule_ids)}

    @property
    def n_dense(self) -> int:
        return 2 * len(self.rule_ids) + 1 + 2 * len(SEVERITY_COLUMNS) + 2

    def dense_names(self) -> list[str]:
        return [*(f"{r}|{side}" for r in self.rule_ids for side in ("hot", "cold")),
                "rule_score",
                *(f"severity:{s}|{side}" for s in SEVERITY_COLUMNS for side in ("hot", "cold")),
                "rule_score|hot", "rule_score|cold"]

    def bucket(self, token: str) -> int:
        """The hashed column of a token: |signed 32-bit MurmurHash3 (seed 0)| mod n_hash,
        the same column scikit-learn's FeatureHasher gives (tested)."""
        index = self._token_index.get(token)
        if index is None:
            index = abs(mmh3.hash(token.encode("utf-8", "surrogatepass"), 0)) % self.n_hash
            if len(self._token_index) < TOKEN_INDEX_CACHE:
                self._token_index[token] = index
        return index

    @staticmethod
    def tokens_for(findings: list[Finding], tokens: list[str]) -> list[str]:
        rule_tokens = [f"rule|{f.rule}|{'hot' if f.tier in HOT_TIERS else 'cold'}"
                       for f in findings]
        return sorted(set(tokens) | set(rule_tokens))

    def dense_row(self, findings: list[Finding], rule_score: float) -> list[float]:
        """Per rule and per severity, in code that runs uncalled (hot) and other code:
        log(1 + number of files with a hit), so how a file's statements are spread over
        lines (a wrapper, a formatter) does not move it; then the rule score, and the
        rule score of hot and of other findings alone."""
        index = self._index
        n_rules = len(self.rule_ids)
        per_rule: set[tuple[int, str]] = set()
        per_severity: set[tuple[int, str]] = set()
        hot: list[Finding] = []
        cold: list[Finding] = []
        for f in findings:
            side = 0 if f.tier in HOT_TIERS else 1
            (hot if side == 0 else cold).append(f)
            i = index.get(f.rule)
            if i is not None:
                per_rule.add((2 * i + side, f.file))
            if f.severity in SEVERITY_COLUMNS:
                per_severity.add((2 * SEVERITY_COLUMNS.index(f.severity) + side, f.file))
        rules = [0.0] * (2 * n_rules)
        for column, _ in per_rule:
            rules[column] += 1.0
        severities = [0.0] * (2 * len(SEVERITY_COLUMNS))
        for column, _ in per_severity:
            severities[column] += 1.0
        return [*(math.log1p(v) for v in rules), rule_score,
                *(math.log1p(v) for v in severities), score_of(hot), score_of(cold)]

    def buckets(self, findings: list[Finding], tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Distinct hashed columns of a package's code that runs uncalled (hot) and of
        the rest (cold). Each group is scaled to unit length on its own (a column holds
        1/sqrt(k) of its group's k), so library code shipped beside a payload, and never
        run, cannot shrink the payload's share of the score: volume is not evidence."""
        hot: set[int] = set()
        cold: set[int] = set()
        for token in self.tokens_for(findings, tokens):
            (hot if is_hot_token(token) else cold).add(self.bucket(token))
        return (np.array(sorted(hot), dtype=np.intp), np.array(sorted(cold), dtype=np.intp))


class CodeModel:
    """A calibrated ensemble of logistic regressions (one per calibration fold) as arrays.

    Probability = mean over folds of 1 / (1 + exp(a * (w . x + c) + b)), the formula of
    scikit-learn's CalibratedClassifierCV with sigmoid calibration.
    """

    def __init__(self, layout: FeatureLayout, coef: np.ndarray, intercept: np.ndarray,
                 a: np.ndarray, b: np.ndarray, meta: dict[str, Any] | None = None,
                 features: str = FEATURES) -> None:
        self.layout = layout
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.a = np.asarray(a, dtype=np.float64)
        self.b = np.asarray(b, dtype=np.float64)
        self.meta = meta or {}
        self.features = features
        folds = self.coef.shape[0] if self.coef.ndim == 2 else -1
        width = layout.n_dense + layout.n_hash
        if self.coef.shape != (folds, width) or folds < 1 or any(
            v.shape != (folds,) for v in (self.intercept, self.a, self.b)
        ):
            raise ValueError(f"model arrays do not match the layout ({folds} folds x {width})")

    @property
    def rule_ids(self) -> list[str]:
        return self.layout.rule_ids

    @property
    def n_hash(self) -> int:
        return self.layout.n_hash

    def bucket(self, token: str) -> int:
        return self.layout.bucket(token)

    def probability(self, dense: np.ndarray, hashed: tuple[np.ndarray, np.ndarray]) -> float:
        decision = self.intercept + self.coef[:, : self.layout.n_dense] @ dense
        for group in hashed:
            if len(group):
                # unit length per group: every distinct bucket holds 1/sqrt(k)
                columns = self.coef[:, self.layout.n_dense + group]
                decision += columns.sum(axis=1) / math.sqrt(len(group))
        return float(np.mean(1.0 / (1.0 + np.exp(self.a * decision + self.b))))

    def predict(self, findings: list[Finding], tokens: list[str], rule_score: float) -> float:
        """One package's probability of being malicious (microseconds, NumPy only)."""
        dense = np.array(self.layout.dense_row(findings, rule_score), dtype=np.float64)
        return self.probability(dense, self.layout.buckets(findings, tokens))

    def package_probability(self, findings: list[Finding], tokens: list[str],
                            rule_score: float, views: Sequence[View] = ()) -> float:
        """The shipped model score: the largest of the whole package's probability, that
        of its code that runs uncalled alone, and, when that code has several entry
        points (install time, each top-level package: ``analyze.entry_view``), that of
        the package as each sees it (``entry_views``). Code shipped beside a payload,
        never run or run from another entry point (a library vendored as a package of its
        own), then cannot lower the score below what the payload scores without it
        (docs/code.md, "Dilution")."""
        whole = self.predict(findings, tokens, rule_score)
        hot_findings, hot_tokens = hot_view(findings, tokens)
        if not (hot_findings or hot_tokens) or (
                len(hot_findings) == len(findings) and len(hot_tokens) == len(tokens)
                and len(views) < 2):
            return whole  # no code runs uncalled, or nothing else does
        best = max(whole, self.predict(hot_findings, hot_tokens, score_of(hot_findings)))
        for view_findings, view_tokens in entry_views(findings, tokens, views):
            best = max(best, self.predict(view_findings, view_tokens, score_of(view_findings)))
        return best

    def predict_many(self, batch: Sequence[tuple[list[Finding], list[str], float]]) -> np.ndarray:
        return np.array([self.predict(*row) for row in batch], dtype=np.float64)

    def header(self) -> dict[str, Any]:
        return {"format": FORMAT, "features": self.features, "rule_ids": self.rule_ids,
                "n_hash": self.n_hash, "n_dense": self.layout.n_dense, "meta": self.meta}


def save(model: CodeModel, path: Path) -> None:
    """Write the arrays and a JSON header (UTF-8 bytes) to one compressed ``.npz``."""
    header = np.frombuffer(json.dumps(model.header(), sort_keys=True).encode(), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, header=header, coef=model.coef, intercept=model.intercept,
                            a=model.a, b=model.b)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in ("header", *ARRAYS)}
    except (KeyError, ValueError, OSError, EOFError) as exc:
        raise ModelVersionError(f"{path.name} is not a Warden code model: {exc}") from exc
    try:
        header = json.loads(arrays.pop("header").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelVersionError(f"{path.name}: unreadable header: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise ModelVersionError(f"{path.name} has format {found!r}; this Warden reads {FORMAT}")
    return header, arrays


def load(path: Path, policy: Policy | None = None) -> CodeModel:
    """Load an artifact (no pickle), checking its format and feature layout against the policy."""
    return _load(path, resolve(policy).code.model_version_mismatch)


def _load(path: Path, mode: str) -> CodeModel:
    header, arrays = _read(path)
    features = header.get("features")
    if features != FEATURES:
        message = f"{path.name} was built for features {features!r}, this is {FEATURES!r}"
        if mode == "refuse":
            raise ModelVersionError(message)
        warnings.warn(message + "; loading anyway (policy: warn)", stacklevel=2)
    try:
        layout = FeatureLayout([str(r) for r in header["rule_ids"]], int(header["n_hash"]))
        model = CodeModel(layout, meta=header.get("meta") or {}, features=str(features),
                          **arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelVersionError(f"{path.name}: {exc}") from exc
    if model.rule_ids != list(catalogue()):
        log.warning("%s: rule catalogue changed since training; unknown rules are ignored",
                    path.name)
    return model


def shipped_model(policy: Policy | None = None) -> CodeModel | None:
    """The model in models/, or None (rule score only) when absent or refused by the
    policy's ``model_version_mismatch``; loaded once per mode."""
    return _shipped_model(resolve(policy).code.model_version_mismatch)


@lru_cache(maxsize=2)
def _shipped_model(mismatch: str) -> CodeModel | None:
    path = models_path(ARTIFACT)
    if not path.is_file():
        return None
    try:
        return _load(path, mismatch)
    except (ModelVersionError, OSError) as exc:
        log.warning("code model not used: %s", exc)
        return None

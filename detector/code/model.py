"""The trained code model: feature layout, prediction, and version-checked loading.

Features per package: for every catalogue rule, the tier-weighted hit count in
install/import-time files and in other files (log-scaled), the rule score, and
hashed tokens (resolved call names, imports, file kinds, rule-by-tier pairs),
scaled to unit length per package.

Loading checks the scikit-learn/numpy/joblib versions the artifact was built
with. A different scikit-learn minor version follows the `[code]
model_version_mismatch` policy: "warn" (default: load and warn once) or
"refuse" (ignore the model; scores fall back to the rule score).
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.feature_extraction import FeatureHasher
from sklearn.preprocessing import normalize
from sklearn.utils import murmurhash3_32

from detector.code.findings import Finding
from detector.code.rules import catalogue
from detector.policy import Policy, resolve
from detector.resources import models_path

log = logging.getLogger(__name__)
ARTIFACT = "code-model.joblib"
HOT = ("install", "import")
TOKEN_INDEX_CACHE = 200_000


class _LinearSigmoid:
    """A CalibratedClassifierCV of logistic regressions with sigmoid calibrators,
    unrolled into NumPy arrays so one package costs microseconds, not the
    milliseconds of scikit-learn's input validation. Same probabilities."""

    def __init__(self, estimator: Any, n_dense: int) -> None:
        parts = estimator.calibrated_classifiers_
        self.coef = np.array([c.estimator.coef_[0] for c in parts], dtype=np.float64)
        self.intercept = np.array([c.estimator.intercept_[0] for c in parts])
        self.a = np.array([c.calibrators[0].a_ for c in parts], dtype=np.float64)
        self.b = np.array([c.calibrators[0].b_ for c in parts], dtype=np.float64)
        self.n_dense = n_dense

    @staticmethod
    def supports(estimator: Any) -> bool:
        parts = getattr(estimator, "calibrated_classifiers_", None) or []
        return bool(parts) and getattr(estimator, "method", None) == "sigmoid" and all(
            len(c.calibrators) == 1 and hasattr(c.estimator, "coef_")
            and c.estimator.coef_.shape[0] == 1 for c in parts
        ) and list(getattr(estimator, "classes_", [])) == [0, 1]

    def probability(self, dense: np.ndarray, hashed: np.ndarray) -> float:
        decision = self.intercept + self.coef[:, : self.n_dense] @ dense
        if len(hashed):
            # unit length: every distinct bucket holds 1/sqrt(k)
            decision += self.coef[:, self.n_dense + hashed].sum(axis=1) / math.sqrt(len(hashed))
        return float(np.mean(1.0 / (1.0 + np.exp(self.a * decision + self.b))))


def library_versions() -> dict[str, str]:
    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "joblib": joblib.__version__, "scipy": __import__("scipy").__version__}


class CodeModel:
    """A calibrated classifier plus the feature layout it was trained on."""

    def __init__(self, estimator: Any, rule_ids: Sequence[str], n_hash: int,
                 meta: dict[str, Any] | None = None) -> None:
        self.estimator = estimator
        self.rule_ids = list(rule_ids)
        self.n_hash = n_hash
        self.meta = meta or {}
        self._hasher = FeatureHasher(n_features=n_hash, input_type="string",
                                     alternate_sign=False)
        self._transients()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for transient in ("_hasher", "_fast", "_fast_source", "_index", "_token_index"):
            state.pop(transient, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._hasher = FeatureHasher(n_features=self.n_hash, input_type="string",
                                     alternate_sign=False)
        self._transients()

    def _transients(self) -> None:
        self._index = {r: i for i, r in enumerate(self.rule_ids)}
        self._token_index: dict[str, int] = {}
        self._fast_source: Any = None
        self._fast: _LinearSigmoid | None = None

    def _fast_path(self) -> _LinearSigmoid | None:
        """The unrolled estimator, rebuilt whenever `estimator` is replaced."""
        if self._fast_source is not self.estimator:
            self._fast_source = self.estimator
            self._fast = (_LinearSigmoid(self.estimator, 2 * len(self.rule_ids) + 1)
                          if _LinearSigmoid.supports(self.estimator) else None)
        return self._fast

    def bucket(self, token: str) -> int:
        """The FeatureHasher column of a token (signed 32-bit MurmurHash3, seed 0)."""
        index = self._token_index.get(token)
        if index is None:
            index = abs(murmurhash3_32(token, seed=0)) % self.n_hash
            if len(self._token_index) < TOKEN_INDEX_CACHE:
                self._token_index[token] = index
        return index

    @staticmethod
    def tokens_for(findings: list[Finding], tokens: list[str]) -> list[str]:
        rule_tokens = [f"rule|{f.rule}|{'hot' if f.tier in HOT else 'cold'}" for f in findings]
        return sorted(set(tokens) | set(rule_tokens))

    def dense_row(self, findings: list[Finding], rule_score: float) -> list[float]:
        index = self._index
        row = [0.0] * (2 * len(self.rule_ids))
        for f in findings:
            i = index.get(f.rule)
            if i is not None:
                row[2 * i + (0 if f.tier in HOT else 1)] += 1.0
        row = [math.log1p(v) for v in row]
        return [*row, rule_score]

    def vectorize(self, batch: Sequence[tuple[list[Finding], list[str], float]]) -> sp.csr_matrix:
        dense = np.array([self.dense_row(f, s) for f, _, s in batch], dtype=np.float64)
        hashed = self._hasher.transform([self.tokens_for(f, t) for f, t, _ in batch])
        hashed.data = np.minimum(hashed.data, 1.0)
        # unit length per package: a 3,000-call file must not saturate the logistic
        hashed = normalize(hashed)
        return sp.hstack([sp.csr_matrix(dense), hashed], format="csr")

    def predict_many(self, batch: Sequence[tuple[list[Finding], list[str], float]]) -> np.ndarray:
        return self.estimator.predict_proba(self.vectorize(batch))[:, 1]

    def predict(self, findings: list[Finding], tokens: list[str], rule_score: float) -> float:
        """One package's probability: the NumPy fast path when the estimator allows it."""
        fast = self._fast_path()
        if fast is None:
            return float(self.predict_many([(findings, tokens, rule_score)])[0])
        dense = np.array(self.dense_row(findings, rule_score), dtype=np.float64)
        buckets = np.array(sorted({self.bucket(t) for t in self.tokens_for(findings, tokens)}),
                           dtype=np.intp)
        return fast.probability(dense, buckets)


def new_model(estimator: Any, n_hash: int = 2**15) -> CodeModel:
    return CodeModel(estimator, list(catalogue()), n_hash)


def save(model: CodeModel, path: Path) -> None:
    model.meta.setdefault("versions", library_versions())
    joblib.dump(model, path, compress=3)


class ModelVersionError(RuntimeError):
    """The artifact was built with another scikit-learn and the policy refuses it."""


def load(path: Path, policy: Policy | None = None) -> CodeModel:
    """Load an artifact, checking library versions against the policy."""
    return _load(path, resolve(policy).code.model_version_mismatch)


def _load(path: Path, mode: str) -> CodeModel:
    sidecar = path.with_suffix(".json")
    built = {}
    if sidecar.is_file():
        built = json.loads(sidecar.read_text()).get("versions", {})
    here = library_versions()

    def minor(v: str) -> str:
        return ".".join(v.split(".")[:2])

    if built and minor(built.get("scikit-learn", "")) != minor(here["scikit-learn"]):
        message = (f"{path.name} was built with scikit-learn {built.get('scikit-learn')}, "
                   f"this is {here['scikit-learn']}")
        if mode == "refuse":
            raise ModelVersionError(message)
        warnings.warn(message + "; loading anyway (policy: warn)", stacklevel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = joblib.load(path)
    if not isinstance(model, CodeModel):
        raise ModelVersionError(f"{path.name} does not hold a Warden code model")
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
    except (ModelVersionError, OSError, EOFError, ValueError, AttributeError,
            ModuleNotFoundError) as exc:
        log.warning("code model not used: %s", exc)
        return None

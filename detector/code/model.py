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

from detector.code.findings import Finding
from detector.code.rules import catalogue
from detector.policy import section
from detector.resources import models_path

log = logging.getLogger(__name__)
ARTIFACT = "code-model.joblib"
HOT = ("install", "import")


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

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_hasher", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._hasher = FeatureHasher(n_features=self.n_hash, input_type="string",
                                     alternate_sign=False)

    @staticmethod
    def tokens_for(findings: list[Finding], tokens: list[str]) -> list[str]:
        rule_tokens = [f"rule|{f.rule}|{'hot' if f.tier in HOT else 'cold'}" for f in findings]
        return sorted(set(tokens) | set(rule_tokens))

    def dense_row(self, findings: list[Finding], rule_score: float) -> list[float]:
        index = {r: i for i, r in enumerate(self.rule_ids)}
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
        return float(self.predict_many([(findings, tokens, rule_score)])[0])


def new_model(estimator: Any, n_hash: int = 2**15) -> CodeModel:
    return CodeModel(estimator, list(catalogue()), n_hash)


def save(model: CodeModel, path: Path) -> None:
    model.meta.setdefault("versions", library_versions())
    joblib.dump(model, path, compress=3)


class ModelVersionError(RuntimeError):
    """The artifact was built with another scikit-learn and the policy refuses it."""


def load(path: Path, policy_path: str | None = None) -> CodeModel:
    """Load an artifact, checking library versions against the policy."""
    sidecar = path.with_suffix(".json")
    built = {}
    if sidecar.is_file():
        built = json.loads(sidecar.read_text()).get("versions", {})
    mode = section("code", policy_path).get("model_version_mismatch", "warn")
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


@lru_cache(maxsize=1)
def shipped_model() -> CodeModel | None:
    """The model in models/, or None (rule score only) when absent or refused."""
    path = models_path(ARTIFACT)
    if not path.is_file():
        return None
    try:
        return load(path)
    except (ModelVersionError, OSError, EOFError, ValueError, AttributeError,
            ModuleNotFoundError) as exc:
        log.warning("code model not used: %s", exc)
        return None

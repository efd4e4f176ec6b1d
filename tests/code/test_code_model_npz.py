"""The code model as arrays: the export gives scikit-learn's probabilities, the hashed
columns are FeatureHasher's, and loading never unpickles."""

from __future__ import annotations

import json
import random
import string

import numpy as np
import pytest
from code_fixtures import BENIGN_PKG, MISS_HATCH_HOOK, MISS_SETUP_IMPORT
from sklearn.feature_extraction import FeatureHasher

from detector.code import model as model_mod
from detector.code.analyze import analyze, rule_score
from detector.code.train import (
    TrainConfig,
    export,
    export_difference,
    make_estimator,
    new_layout,
    sample_weights,
    vectorize,
)
from detector.policy import load_policy
from detector.resources import models_path


def _packages(n: int, seed: int) -> tuple[list, np.ndarray, np.ndarray]:
    """Varied defanged packages: fixtures with random extra calls and imports."""
    rng = random.Random(seed)
    rows, labels, groups = [], [], []
    bases = [(MISS_SETUP_IMPORT, 1), (MISS_HATCH_HOOK, 1), (BENIGN_PKG, 0)]
    for i in range(n):
        files, label = bases[i % len(bases)]
        extra = "".join(f"import mod{rng.randint(0, 40)}\nf{rng.randint(0, 40)}()\n"
                        for _ in range(rng.randint(0, 6)))
        files = {**files, "pkg/extra.py": extra}
        a = analyze(files)
        rows.append((a.findings, a.tokens, rule_score(a.findings)))
        labels.append(label)
        groups.append(i)
    return rows, np.array(labels), np.array(groups)


@pytest.fixture(scope="module")
def fitted():
    rows, y, groups = _packages(60, 1)
    layout = new_layout()
    estimator = make_estimator(groups, y, TrainConfig()).fit(
        vectorize(layout, rows), y, sample_weight=sample_weights(y, groups, 0.5))
    return estimator, layout


def test_exported_arrays_give_scikit_learns_probabilities(fitted, tmp_path):
    estimator, layout = fitted
    path = tmp_path / model_mod.ARTIFACT
    model_mod.save(export(estimator, layout, {"note": "test"}), path)
    loaded = model_mod.load(path)
    rows, _, _ = _packages(40, 2)  # packages the model has not seen
    reference = estimator.predict_proba(vectorize(layout, rows))[:, 1]
    ours = loaded.predict_many(rows)
    assert np.max(np.abs(ours - reference)) < 1e-12
    assert export_difference(loaded, estimator, rows) < 1e-12
    assert len(set(np.round(ours, 6))) > 2  # not a constant
    assert loaded.meta == {"note": "test"}


def test_only_a_sigmoid_calibrated_linear_model_exports(fitted):
    estimator, layout = fitted
    estimator.method = "isotonic"
    try:
        with pytest.raises(ValueError, match="sigmoid"):
            export(estimator, layout)
    finally:
        estimator.method = "sigmoid"


def test_token_buckets_match_the_feature_hasher():
    """The shipped model was fitted on FeatureHasher columns; mmh3 must give the same."""
    layout = new_layout()
    rng = random.Random(5)
    tokens = ["".join(rng.choice(string.printable) for _ in range(rng.randint(1, 40)))
              for _ in range(3000)] + ["hot|c:os.system", "é∂ unicode", "", "日本語|i:x"]
    hasher = FeatureHasher(n_features=layout.n_hash, input_type="string", alternate_sign=False)
    matrix = hasher.transform([[t] for t in tokens]).tocoo()
    expected = dict(zip(matrix.row.tolist(), matrix.col.tolist(), strict=True))
    assert all(layout.bucket(t) == expected[i] for i, t in enumerate(tokens))


def test_shipped_model_reads_without_pickle_and_scores():
    model = model_mod.shipped_model()
    assert model is not None
    with np.load(models_path(model_mod.ARTIFACT), allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)
    a = analyze(MISS_SETUP_IMPORT)
    b = analyze(BENIGN_PKG)
    assert model.predict(a.findings, a.tokens, rule_score(a.findings)) > \
        model.predict(b.findings, b.tokens, rule_score(b.findings))


def test_a_pickled_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, header=np.frombuffer(b'{"format": 1}', dtype=np.uint8),
             coef=np.array([object()], dtype=object), intercept=np.zeros(1),
             a=np.zeros(1), b=np.zeros(1))
    with pytest.raises(model_mod.ModelVersionError, match=r"evil\.npz"):
        model_mod.load(path)


def test_unknown_format_and_garbage_are_refused(fitted, tmp_path):
    estimator, layout = fitted
    model = export(estimator, layout)
    path = tmp_path / "m.npz"
    model_mod.save(model, path)
    with np.load(path) as data:
        arrays = dict(data)
    header = json.loads(arrays["header"].tobytes())
    header["format"] = 99
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(model_mod.ModelVersionError, match="format 99"):
        model_mod.load(path)
    path.write_bytes(b"not a zip at all")
    with pytest.raises(model_mod.ModelVersionError, match=r"m\.npz"):
        model_mod.load(path)


def test_other_feature_layout_warns_or_refuses(fitted, tmp_path):
    estimator, layout = fitted
    model = export(estimator, layout)
    model.features = "an older layout"
    path = tmp_path / "old.npz"
    model_mod.save(model, path)
    with pytest.warns(UserWarning, match="an older layout"):
        model_mod.load(path)
    refuse = tmp_path / "refuse.toml"
    refuse.write_text('[code]\nmodel_version_mismatch = "refuse"\n')
    with pytest.raises(model_mod.ModelVersionError, match="an older layout"):
        model_mod.load(path, policy=load_policy(refuse))


def test_arrays_must_match_the_layout(fitted):
    estimator, layout = fitted
    model = export(estimator, layout)
    with pytest.raises(ValueError, match="layout"):
        model_mod.CodeModel(model_mod.FeatureLayout(layout.rule_ids, 16), model.coef,
                            model.intercept, model.a, model.b)

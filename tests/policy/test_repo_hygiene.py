"""The docs name files that exist, and `make bench` runs a script that exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_every_test_bench_and_script_file_the_docs_name_exists() -> None:
    tests = {p.name for p in (REPO / "tests").rglob("test_*.py")}
    missing = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for path in re.findall(r"\b((?:tests|bench|scripts|notebooks|service|detector|warden)"
                               r"/[\w/.-]+\.(?:py|ipynb|toml|md))", text):
            if not (REPO / path).exists():
                missing.append(f"{doc.name}: {path}")
        for name in re.findall(r"\b(test_\w+\.py)\b", text):
            if name not in tests:
                missing.append(f"{doc.name}: {name}")
    assert missing == []


def test_every_script_the_makefile_runs_exists() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    scripts = re.findall(r"\$\(PY\) ([\w/.-]+\.py)", makefile)
    assert scripts and all((REPO / s).is_file() for s in scripts)

"""Table-driven tests from the anchors' own test suites (``research/registry-cases.tsv``).

Squat cases run against a corpus of their source's targets, as the source's tests do (a
flat corpus: every target counts as a protected popular name, rank 1). The reported false
positives of other checks run against Warden's shipped corpus, as a registry would.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from detector.names import NameChecker, canonical, default_checker
from detector.popular import PopularCorpus

SHARED_CASES = Path(__file__).resolve().parents[3] / "shared" / "research" / "registry-cases.tsv"


def _rows(sources: tuple[str, ...], ecosystems: tuple[str, ...]) -> list[dict[str, str]]:
    if not SHARED_CASES.is_file():
        return []
    with open(SHARED_CASES, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r for r in rows if r["source"] in sources and r["ecosystem"] in ecosystems]


def _flat_corpus(rows: list[dict[str, str]]) -> PopularCorpus:
    targets = sorted({canonicalize_name(r["target"]) for r in rows if r["target"]})
    return PopularCorpus.from_names(targets, ranks=[1] * len(targets), version="test")


def _case_id(row: dict[str, str]) -> str:
    return f"{row['source']}:{row['name']}->{row['target'] or '-'}"


UNIT_ROWS = _rows(("warehouse-tests", "guarddog-tests"), ("pypi",))
REPORTED_FALSE_POSITIVES = _rows(
    ("guarddog-issue-fp", "warehouse-issue-fp", "pypi-support-issue-fp"), ("pypi",)
)
TYPOMANIA_ROWS = [
    r
    for r in _rows(("typomania-tests",), ("any",))
    # Left out: typomania's synthetic one- and two-letter names and one-letter words (below
    # Warden's minimum name length), its test-only typo table (`a`->`b`), and `abc-`, which
    # is not a valid project name.
    if len(r["name"]) >= 3
    and len(r["target"]) >= 3
    and min(len(w) for w in r["name"].replace("_", "-").split("-") if w) >= 2
    and r["kind"] != "keyboard-typo"
    and not r["name"].endswith("-")
]
CRATES_ROWS = [
    r
    for r in _rows(("crates.io-tests",), ("crates",))
    # `bar`/`bar-rs` is cleared by crates.io only because the two share an owner.
    if r["kind"] != "family-sibling"
]


@pytest.fixture(scope="module")
def unit_checker(shared_dir: Path) -> NameChecker:
    return NameChecker(_flat_corpus(UNIT_ROWS))


@pytest.mark.parametrize("row", UNIT_ROWS, ids=_case_id)
def test_warehouse_and_guarddog_cases(row: dict[str, str], unit_checker: NameChecker) -> None:
    result = unit_checker.check(row["name"])
    target = canonicalize_name(row["target"]) if row["target"] else None
    flagged_targets = {m.target for m in result.matches if m.score >= unit_checker.threshold}
    if row["expected"] == "squat":
        assert result.flagged, result.to_dict()
        assert target in flagged_targets, result.to_dict()
    else:
        assert target not in flagged_targets, result.to_dict()


@pytest.mark.parametrize("row", REPORTED_FALSE_POSITIVES, ids=_case_id)
def test_reported_false_positives_stay_quiet(row: dict[str, str], shared_dir: Path) -> None:
    """Legitimate names that PyPI's or GuardDog's checks refused or flagged."""
    result = default_checker().check(row["name"])
    assert not result.flagged, result.to_dict()


@pytest.mark.parametrize("row", TYPOMANIA_ROWS, ids=_case_id)
def test_typomania_candidates_are_reached(row: dict[str, str], shared_dir: Path) -> None:
    """typomania asserts which popular names each check looks up; Warden must reach them,
    unless PEP 503 makes the two one project (then it is never a squat of itself)."""
    corpus = PopularCorpus.from_names([row["target"]], ranks=[1])
    result = NameChecker(corpus).check(row["name"])
    target = canonicalize_name(row["target"])
    if canonical(row["name"]) == target:
        assert result.matches == [], result.to_dict()
    else:
        assert target in {m.target for m in result.matches}, result.to_dict()


@pytest.mark.parametrize("row", CRATES_ROWS, ids=_case_id)
def test_crates_affix_cases(row: dict[str, str], shared_dir: Path) -> None:
    """crates.io's affix cases, with crates.io's own affixes (`rs`, `sys`, `core`) added."""
    from dataclasses import replace

    from detector.names.index import NameIndex
    from detector.names.rules import load_rules

    checker = NameChecker(_flat_corpus(CRATES_ROWS))
    rules = replace(load_rules(), affixes=load_rules().affixes | {"rs", "sys", "core"})
    checker.index = NameIndex.build(checker.corpus, rules)
    result = checker.check(row["name"])
    target = canonicalize_name(row["target"]) if row["target"] else None
    if row["expected"] == "squat":
        assert target in {m.target for m in result.matches}, result.to_dict()
    else:
        assert not result.flagged, result.to_dict()

"""The hand-made labelled name cases the names notebook sweeps thresholds on."""

from __future__ import annotations

import csv
from pathlib import Path

from detector.resources import data_path

CASES = Path(__file__).with_name("name_cases.tsv")


def _rows() -> list[dict[str, str]]:
    with open(CASES, encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


def _popular() -> set[str]:
    with open(data_path("popular.tsv"), encoding="utf-8") as handle:
        return {row["name"] for row in csv.DictReader(handle, delimiter="\t")}


def test_cases_are_well_formed_and_unique() -> None:
    rows = _rows()
    assert {"name", "target", "expected", "kind", "note"} <= set(rows[0])
    assert {r["expected"] for r in rows} == {"squat", "not-squat"}
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names))


def test_labels_agree_with_the_shipped_popular_list() -> None:
    popular = _popular()
    for row in _rows():
        if row["expected"] == "squat":
            assert row["target"] in popular and row["name"] not in popular, row
        elif row["kind"] == "popular":
            assert row["name"] in popular, row
        else:
            assert row["name"] not in popular, row

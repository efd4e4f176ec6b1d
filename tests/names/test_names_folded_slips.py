"""Two edits where one is only a separator or a final 's': the other, when it is a slip
(a doubled, left-out or swapped letter), names the match. Squats and their legitimate
two-edit look-alikes side by side."""

from __future__ import annotations

import pytest
from rapidfuzz.distance import OSA

from detector.names import NameChecker
from detector.names.allowlist import Allowlist
from detector.names.edits import classify
from detector.names.rules import load_rules
from detector.popular import PopularCorpus

RULES = load_rules("pypi")


@pytest.mark.parametrize(
    ("name", "target", "kind"),
    [
        # squats: a slip beside a dropped final 's' or an added separator
        ("ansiicolor", "ansicolors", "repeated-character"),
        ("pyinstalers", "pyinstaller", "omitted-character"),
        ("beautiful-sopu", "beautifulsoup", "swapped-characters"),
        # look-alikes: both edits trivial, two real changes, or a change of key or letter
        ("asciicolor", "ascii-colors", "edit-distance-2"),
        ("waterdog", "watchdog", "edit-distance-2"),
        ("fit-common", "dbt-common", "edit-distance-2"),
        ("djamgos", "django", "edit-distance-2"),  # a neighbouring key, not a slip kept
        ("pyinstalerz", "pyinstaller", "edit-distance-2"),
    ],
)
def test_a_slip_beside_a_trivial_edit_takes_the_slips_kind(
    name: str, target: str, kind: str
) -> None:
    assert OSA.distance(name, target) == 2
    edit = classify(name, target, 2, RULES)
    assert edit.kind == kind
    assert ("separator or final 's'" in edit.detail) is (kind != "edit-distance-2")


def test_the_folded_slip_keeps_its_two_edits_and_outscores_two_plain_edits() -> None:
    corpus = PopularCorpus.from_names(["pyinstaller", "requests"], ranks=[1396, 1])
    checker = NameChecker(corpus, allowlist=Allowlist())
    slip, plain = checker.check_many(["pyinstalers", "pyinstalerz"])
    assert slip.best is not None and plain.best is not None
    assert (slip.best.kind, slip.best.distance) == ("omitted-character", 2)
    assert (plain.best.kind, plain.best.distance) == ("edit-distance-2", 2)
    assert slip.score > plain.score

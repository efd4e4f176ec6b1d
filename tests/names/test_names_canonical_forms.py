"""PEP 503 normalization and the skeleton: the fast paths give what the plain definitions
give (packaging's ``canonicalize_name``; ``str.translate`` with the fold table)."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name as packaging_canonicalize

from detector.names.normalize import skeleton
from detector.names.rules import load_rules
from detector.pep503 import canonicalize_name

NAMES = ["requests", "Django", "oslo.concurrency", "zope_interface", "a--b", "A__.-b",
         "py-yaml", "x", "", "-lead", "trail-", "Ünïcode", "ab\u0130c", "numpy2", "ru-RU"]


@pytest.mark.parametrize("name", NAMES)
def test_canonical_name_is_packagings(name: str) -> None:
    assert canonicalize_name(name) == packaging_canonicalize(name)


@pytest.mark.parametrize("name", ["rnodern", "c1ick", "dj4ng0", "pi11ow", "vvheel", "boto3",
                                  "cl-ick", "s8ss", "|ib", "numpy"])
def test_skeleton_folds_as_the_translation_table(name: str) -> None:
    rules = load_rules()
    folded = name.replace("-", "")
    for sequence, fold in rules.fold_sequences:
        folded = folded.replace(sequence, fold)
    assert skeleton(name, rules) == folded.translate(rules.fold_table)

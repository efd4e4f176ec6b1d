"""Classifies how a name differs from a popular name it is close to.

The deletion index finds every popular name within Damerau-Levenshtein 1 or 2;
this module says *which* typo that is (swap, doubled letter, neighbouring key,
look-alike, bit flip, ...) so the score and the explanation can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.names.rules import NameRules

SEPARATOR = "-"


@dataclass(frozen=True)
class Edit:
    kind: str
    position: str  # "start", "middle" or "end": where in the target the edit sits
    detail: str  # e.g. "'e' and 'u' swapped"


def _where(index: int, length: int) -> str:
    if index <= 0:
        return "start"
    if index >= length - 1:
        return "end"
    return "middle"


def _first_difference(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _insertion(name: str, target: str) -> Edit:
    """``name`` is ``target`` with one character added."""
    i = _first_difference(name, target)
    added = name[i]
    where = _where(i, len(target) + 1)
    neighbours = (name[i - 1] if i > 0 else "", name[i + 1] if i + 1 < len(name) else "")
    if added in neighbours:
        return Edit("repeated-character", where, f"'{added}' doubled")
    if added == SEPARATOR:
        return Edit("separator", where, "a separator added")
    if i == len(target) and added == "s":
        return Edit("plural", "end", "'s' added")
    if added.isdigit() and (i == len(target) or not name[i + 1 :].isalpha()):
        return Edit("version-suffix", where, f"digit '{added}' added")
    return Edit("extra-character", where, f"'{added}' inserted")


def _deletion(name: str, target: str) -> Edit:
    """``name`` is ``target`` with one character left out."""
    i = _first_difference(name, target)
    dropped = target[i]
    where = _where(i, len(target))
    if dropped == SEPARATOR:
        return Edit("separator", where, "a separator dropped")
    if i == len(target) - 1 and dropped == "s":
        return Edit("plural", "end", "final 's' dropped")
    if dropped.isdigit() and i == len(target) - 1:
        return Edit("version-suffix", "end", f"final digit '{dropped}' dropped")
    return Edit("omitted-character", where, f"'{dropped}' left out")


def _substitution(name: str, target: str, rules: NameRules) -> Edit:
    diffs = [i for i, (x, y) in enumerate(zip(name, target, strict=True)) if x != y]
    if len(diffs) == 2 and diffs[1] == diffs[0] + 1:
        i = diffs[0]
        if name[i] == target[i + 1] and name[i + 1] == target[i]:
            return Edit(
                "swapped-characters",
                _where(i, len(target)),
                f"'{target[i]}' and '{target[i + 1]}' swapped",
            )
    if len(diffs) != 1:
        return Edit("edit-distance-2", "middle", "two edits")
    i = diffs[0]
    got, want = name[i], target[i]
    where = _where(i, len(target))
    detail = f"'{want}' replaced by '{got}'"
    if got.isdigit() and want.isdigit():
        return Edit("digit-change", where, detail)
    if SEPARATOR in (got, want):
        return Edit("separator", where, detail)
    if rules.is_homoglyph(got, want):
        return Edit("homoglyph", where, f"look-alike '{got}' for '{want}'")
    if rules.is_keyboard_neighbour(got, want):
        return Edit("keyboard-typo", where, f"neighbouring key '{got}' for '{want}'")
    flipped = ord(got) ^ ord(want)
    if flipped & (flipped - 1) == 0:
        return Edit("bit-flip", where, f"one bit flipped: '{want}' became '{got}'")
    return Edit("substitution", where, detail)


def classify(name: str, target: str, distance: int, rules: NameRules) -> Edit:
    """The kind of a one- or two-edit difference between canonical names."""
    if distance >= 2:
        return Edit("edit-distance-2", "middle", "two edits")
    if len(name) == len(target) + 1:
        return _insertion(name, target)
    if len(name) + 1 == len(target):
        return _deletion(name, target)
    return _substitution(name, target, rules)

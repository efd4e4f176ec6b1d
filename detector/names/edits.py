"""Classifies how a name differs from a popular name it is close to.

The deletion index finds every popular name within Damerau-Levenshtein 1 or 2;
this module says *which* typo that is (swap, doubled letter, neighbouring key,
look-alike, bit flip, ...) so the score and the explanation can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz.distance import OSA, Postfix, Prefix

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
    """Length of the common prefix (rapidfuzz's C loop: ten times a Python one)."""
    return int(Prefix.similarity(a, b))


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


# Slips that a second, trivial edit (a separator, a final 's') does not hide: typed by hand,
# `ansiicolor` is `ansicolors` with 'i' doubled, `pyinstalers` is `pyinstaller` with an 'l'
# left out. Legitimate two-edit look-alikes rarely fold to one of these (docs/names.md,
# "Fourth pass"); keyboard, look-alike and bit-flip changes do, and stay two edits.
FOLDED_SLIPS = frozenset({"repeated-character", "swapped-characters", "omitted-character"})


def _folded(name: str) -> str:
    """``name`` without separators or a final 's' (edits that change no letter typed)."""
    flat = name.replace(SEPARATOR, "")
    return flat[:-1] if flat.endswith("s") and len(flat) > 4 else flat


def _two_edits(name: str, target: str, rules: NameRules) -> Edit:
    """Two edits, or a slip beside a separator or a final 's' changed (then that slip)."""
    a, b = _folded(name), _folded(target)
    if a != b and abs(len(a) - len(b)) <= 1 and OSA.distance(a, b, score_cutoff=1) == 1:
        slip = classify(a, b, 1, rules)
        if slip.kind in FOLDED_SLIPS:
            detail = f"{slip.detail}, and a separator or final 's' changed"
            return Edit(slip.kind, slip.position, detail)
    return Edit("edit-distance-2", "middle", "two edits")


def classify(name: str, target: str, distance: int, rules: NameRules) -> Edit:
    """The kind of a one- or two-edit difference between canonical names. A two-edit
    difference keeps its distance but takes a slip's kind when one edit is only a separator
    or a final 's' (``_two_edits``)."""
    if distance >= 2:
        return _two_edits(name, target, rules)
    if len(name) == len(target) + 1:
        return _insertion(name, target)
    if len(name) + 1 == len(target):
        return _deletion(name, target)
    return _substitution(name, target, rules)


_VOWELS = frozenset("aeiouy")


@dataclass(frozen=True)
class Difference:
    """What a name changes of a popular name, by parts of the name."""

    added: str  # what the name adds when the target is kept whole at one end ("" otherwise)
    token: str  # the name's words that hold the difference (`pyperclipe`, `lock`)
    at: str  # "whole-word" (a word added or changed), "word-edge", "inside" or "none"
    target_at_start: bool  # the target (or its kept part) opens the name
    vowel_swap: bool  # one vowel changed for another


def difference(name: str, target: str) -> Difference:
    """Where and in which words ``name`` differs from ``target`` (both canonical)."""
    n, t = len(name), len(target)
    limit = min(n, t)
    i = int(Prefix.similarity(name, target))
    j = min(int(Postfix.similarity(name, target)), limit - i)
    if i == n and i == t:
        return Difference("", "", "none", True, False)
    removed = target[i : t - j]
    stop = n - j
    added = name[i:stop].strip("-") if not removed and (i == 0 or j == 0) else ""
    a, b = i, stop  # the changed characters, without separators at their ends
    while a < b and name[a] == "-":
        a += 1
    while b > a and name[b - 1] == "-":
        b -= 1
    start = name.rfind("-", 0, a) + 1
    end = name.find("-", b)
    token = name[start : end if end >= 0 else n]
    changes = stop > i  # something added or changed (not only a character left out)
    before_edge = i == 0 or name[i - 1] == "-" or (changes and name[i] == "-")
    after_edge = stop == n or name[stop] == "-" or (changes and name[stop - 1] == "-")
    if not changes:
        before_edge = after_edge = before_edge or after_edge
    if before_edge and after_edge and changes:
        at = "whole-word"
    elif before_edge or after_edge:
        at = "word-edge"  # a letter left out next to a separator is at a word's edge too
    else:
        at = "inside"
    changed = name[i:stop]
    vowel = len(changed) == 1 and len(removed) == 1 and changed in _VOWELS and removed in _VOWELS
    return Difference(added, token, at, j == 0 or i > 0, vowel)

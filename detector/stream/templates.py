"""Templates: the shape a generator leaves on names, and a content hash of files.

Two names from one generator ("xolortpdcanegu", "xolokqzvbmeplw") share a
shape even though they share no characters beyond the prefix; files copied
from one payload share a hash once the project name, whitespace and comments
are masked.
"""

from __future__ import annotations

import hashlib
import re

_RUNS = re.compile(r"[a-z]+|[A-Z]+|[0-9]+|[^a-zA-Z0-9]")
_SEPARATORS = re.compile(r"[-_.]+")
_COMMENT = re.compile(r"#[^\n]*")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)*\b")


def shape(text: str, *, letter_lengths: bool = True) -> str:
    """Character-class shape with run lengths: ``xk3qpz`` -> ``a2 9 a3``."""
    parts = []
    for run in _RUNS.findall(text):
        first = run[0]
        if first.isdigit():
            parts.append(f"9{len(run)}")
        elif first.islower() or first.isupper():
            letters = "a" if first.islower() else "A"
            parts.append(f"{letters}{len(run)}" if letter_lengths else letters)
        else:
            parts.append(first)
    return " ".join(parts)


def coarse_shape(text: str) -> str:
    """Character-class shape keeping digit run lengths only: ``john.smith42`` -> ``a . a 92``.

    What a generator filling a template from name lists leaves on usernames: the
    names' lengths vary, the template's separators and digit count do not.
    """
    return shape(text, letter_lengths=False)


def name_head(name: str) -> str:
    """A project-name family key: first token and token count, or a short prefix and length."""
    lowered = name.lower()
    tokens = [t for t in _SEPARATORS.split(lowered) if t]
    if len(tokens) >= 2:
        return f"{tokens[0]}-*{len(tokens)}"
    return f"{lowered[:3]}*{len(lowered) // 3}"


def name_shape(name: str) -> str:
    """Shape of a project name with separators unified and digits folded."""
    return shape(_SEPARATORS.sub("-", name.lower()))


def files_hash(files: dict[str, str], project: str | None) -> str | None:
    """Hash of the files with the project name, comments, numbers and spacing masked.

    ``None`` when there are no files. Near-identical payloads that differ only
    in the name they were stamped with, version numbers or layout collide.
    """
    if not files:
        return None
    digest = hashlib.blake2b(digest_size=8)
    names = set()
    if project:
        lowered = project.lower()
        names = {lowered, lowered.replace("-", "_"), lowered.replace("_", "-")}
    for path in sorted(files):
        text = files[path]
        lowered = text.lower()
        for name in names:
            lowered = lowered.replace(name, "\x00")
        lowered = _COMMENT.sub("", lowered)
        lowered = _NUMBER.sub("0", lowered)
        lowered = " ".join(lowered.split())  # whitespace runs -> one space, ends stripped
        digest.update(path.rsplit("/", 1)[-1].encode())
        digest.update(b"\x01")
        digest.update(lowered.encode("utf-8", "replace"))
        digest.update(b"\x02")
    return digest.hexdigest()


def text_hash(text: str | None) -> str | None:
    """Hash of a short free text (a summary) with case and spacing folded."""
    if not text:
        return None
    folded = " ".join(text.lower().split())
    if len(folded) < 12:
        return None
    return hashlib.blake2b(folded.encode(), digest_size=8).hexdigest()

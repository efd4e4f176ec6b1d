"""The deletion index finds every popular name within reach, as a brute force would."""

from __future__ import annotations

import random
import string

from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from detector.names.deletion_hash import variant_hashes
from detector.names.index import NameIndex
from detector.names.rules import load_rules
from detector.popular import PopularCorpus


def deletions(name: str, depth: int) -> set[str]:
    """``name`` and every string made from it by deleting up to ``depth`` characters."""
    found = {name}
    frontier = {name}
    for _ in range(depth):
        frontier = {word[:i] + word[i + 1 :] for word in frontier for i in range(len(word))}
        found |= frontier
    return found


ALPHABET = string.ascii_lowercase + string.digits + "-"


def _python_hash(text: str) -> int:
    base = 0x100000001B3
    return sum((ord(c) + 1) * pow(base, k, 1 << 64) for k, c in enumerate(text)) % (1 << 64)


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=14))
@settings(max_examples=150, deadline=None)
def test_vectorized_hashes_equal_hashes_of_explicit_deletions(name: str) -> None:
    blocks = variant_hashes([name], len(name), 2)
    got = {int(h) for block in blocks for h in block.ravel()}
    assert got == {_python_hash(v) for v in deletions(name, 2)}


def test_neighbours_match_brute_force() -> None:
    rng = random.Random(5)
    corpus_names = sorted(
        {
            "".join(rng.choice("abcdefg-") for _ in range(rng.randint(3, 12))).strip("-") or "abc"
            for _ in range(400)
        }
    )
    corpus_names = [n for n in corpus_names if "--" not in n and len(n) >= 3]
    corpus = PopularCorpus.from_names(corpus_names)
    index = NameIndex.build(corpus, load_rules())
    queries = [
        "".join(rng.choice("abcdefg") for _ in range(rng.randint(3, 12))) for _ in range(300)
    ]
    depths = [2 if len(q) >= 8 else 1 for q in queries]
    found = index.neighbours(queries, depths)
    for query, depth, ids in zip(queries, depths, found, strict=True):
        reached = {index.entries[i] for i in ids}
        for name in index.names:
            if depth == 2 and len(name) < 6:
                continue  # short popular names are indexed one deletion deep only
            if OSA.distance(query, name) <= depth:
                assert name in reached, (query, name)

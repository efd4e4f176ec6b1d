"""The fast path of a batch: a name the tables say reaches nothing must be one on which no
check fires (checked against running every check on a full query)."""

from __future__ import annotations

import random

from detector.names import NameChecker
from detector.names.allowlist import Allowlist
from detector.names.checker import CHECKS, Query, _prepare_batch
from detector.names.index import affix_cores
from detector.names.normalize import skeleton, squashed, words
from detector.popular import PopularCorpus

POPULAR = ["requests", "numpy", "django", "python-dateutil", "opencv-python", "pyyaml", "attrs"]


def _full_query(name: str, checker: NameChecker) -> Query:
    index = checker.index
    depth = 2 if len(name) >= 8 else 1
    return Query(
        name=name,
        squashed=squashed(name),
        skeleton=skeleton(name, index.rules),
        words=tuple(words(name)),
        own_rank=index.corpus.rank(name),
        cores=affix_cores(name, index.rules),
        edit_ids=index.neighbours([name], [depth])[0],
    )


def test_skipped_names_are_those_no_check_fires_on() -> None:
    checker = NameChecker(PopularCorpus.from_names(POPULAR), allowlist=Allowlist())
    rng = random.Random(11)
    names = ["reqeusts", "numpy2", "py-yaml", "dateutil-python", "opencv", "attr", "zzz-top"]
    for _ in range(3000):
        base = rng.choice([*POPULAR, "mylib", "data-tools", "xq"])
        chars = list(base)
        for _ in range(rng.randint(0, 3)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice("abcdeioprsty-0123"))
        name = "".join(chars).strip("-").replace("--", "-")
        if name:
            names.append(name)
    queries = _prepare_batch(names, checker.index)
    skipped = 0
    for name, query in zip(names, queries, strict=True):
        if query is None:
            skipped += 1
            full = _full_query(name, checker)
            fired = [c for check in CHECKS for c in check(full, checker.index)]
            assert fired == [], (name, fired)
    assert 0 < skipped < len(names)
    # And the batch gives every name the result it gets alone.
    batch = checker.check_many(names[:400])
    assert [r.to_dict() for r in batch] == [checker.check(n).to_dict() for n in names[:400]]

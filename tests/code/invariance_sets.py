"""The packages the invariance suite transforms: every hand-written malicious and benign
fixture, and a seeded sample of the whole-upload corpus (used by
tests/code/test_code_invariance.py and bench/bench_invariance.py)."""

from __future__ import annotations

from pathlib import Path

import code_fixtures as cf
import numpy as np
import rule_fixtures as rf

from detector.code.corpus import read_all, whole_corpus
from detector.code.installed import installed_samples

Item = tuple[str, int, dict[str, str]]


def fixtures() -> list[Item]:
    """(id, label, files) of every package fixture and every rule's two fixtures."""
    out: list[Item] = []
    for name in ("MISS_SETUP_IMPORT", "MISS_HATCH_HOOK", "MISS_INTREE_BACKEND"):
        out.append((f"fixture:{name}", 1, dict(getattr(cf, name))))
    for name in ("BENIGN_WITH_TESTS", "BENIGN_PKG"):
        out.append((f"fixture:{name}", 0, dict(getattr(cf, name))))
    for rule_id, (bad, good) in rf.RULES.items():
        out.append((f"rule:{rule_id}:malicious", 1, dict(bad)))
        out.append((f"rule:{rule_id}:benign", 0, dict(good)))
    return out


def corpus_sample(shared: Path, per_class: int, venv: Path | None = None,
                  seed: int = 7) -> list[Item]:
    """`per_class` malicious whole uploads and as many benign whole packages (the shared
    corpus and the installed distributions); [] when the corpus is absent."""
    mal_paths, ben_paths = whole_corpus(shared)
    if not all(p.is_file() for p in (*mal_paths, *ben_paths)):
        return []
    rng = np.random.default_rng(seed)
    mal = read_all(mal_paths, 1)
    ben = read_all(ben_paths, 0) + list(installed_samples(venv))
    picks = [mal[i] for i in rng.choice(len(mal), min(per_class, len(mal)), replace=False)]
    picks += [ben[i] for i in rng.choice(len(ben), min(per_class, len(ben)), replace=False)]
    return [(s.sample_id, s.label, s.files) for s in picks]

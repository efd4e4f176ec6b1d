"""The name index cache: plain arrays and JSON (never a pickle), read back to the same index."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from detector.names.index import NameIndex
from detector.names.rules import load_rules
from detector.popular import PopularCorpus, shipped_corpus


def _same(a: NameIndex, b: NameIndex) -> None:
    for f in fields(NameIndex):
        left, right = getattr(a, f.name), getattr(b, f.name)
        if f.name in ("delete_tables", "delete_filters"):
            assert left.keys() == right.keys()
            for n in left:
                pairs = zip(left[n], right[n], strict=True) if f.name == "delete_tables" \
                    else [(left[n], right[n])]
                for x, y in pairs:
                    assert np.array_equal(x, y) and x.dtype == y.dtype
        else:
            assert left == right, f.name


def test_cache_is_npz_without_pickle_and_reads_back_equal(tmp_path, monkeypatch):
    monkeypatch.setenv("WARDEN_CACHE_DIR", str(tmp_path))
    corpus, rules = shipped_corpus(), load_rules()
    built = NameIndex.build(corpus, rules)
    files = list(tmp_path.iterdir())
    assert [f.suffix for f in files] == [".npz"]
    with np.load(files[0], allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)
    cached = NameIndex.build(corpus, rules)
    assert cached is not built
    _same(built, cached)
    queries = ["reqeusts", "nunpy", "djangoo-rest", "python-dateutill"]
    assert cached.neighbours(queries, [1, 1, 2, 2]) == built.neighbours(queries, [1, 1, 2, 2])


def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("WARDEN_CACHE_DIR", str(tmp_path))
    corpus = PopularCorpus.from_names(["requests", "numpy", "django-rest-framework"])
    rules = load_rules()
    built = NameIndex.build(corpus, rules)
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"PK\x03\x04 not really a zip")
    rebuilt = NameIndex.build(corpus, rules)
    _same(built, rebuilt)
    with np.load(path, allow_pickle=False) as data:  # rewritten whole
        assert "header" in data.files

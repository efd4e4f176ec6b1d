"""Near-duplicate clusters: MinHash over normalized token shingles, LSH banding,
union-find. Copies of one payload land in one cluster, so grouped
cross-validation never puts a copy on both sides of a fold."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|[^\sA-Za-z0-9_]")
MAX_TOKENS = 20_000
SHINGLE = 5
N_PERM = 64
BANDS = 16  # 16 bands x 4 rows: pairs above ~0.5 Jaccard collide in some band
_MERSENNE = np.uint64((1 << 61) - 1)


def normalized_tokens(files: dict[str, str]) -> list[str]:
    """Tokens of all files in name order; numbers collapse so versions do not split copies."""
    out: list[str] = []
    for name in sorted(files):
        for tok in TOKEN.findall(files[name][:400_000]):
            out.append("0" if tok[0].isdigit() else tok)
            if len(out) >= MAX_TOKENS:
                return out
    return out


class _Hasher:
    def __init__(self, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 1 << 61, N_PERM, dtype=np.uint64)
        self.b = rng.integers(0, 1 << 61, N_PERM, dtype=np.uint64)
        self.ids: dict[str, int] = {}

    def signature(self, tokens: Sequence[str]) -> np.ndarray:
        ids = self.ids
        arr = np.fromiter(
            (ids.setdefault(t, zlib.crc32(t.encode("utf-8", "replace"))) for t in tokens),
            dtype=np.uint64, count=len(tokens),
        )
        if len(arr) < SHINGLE:
            arr = np.concatenate([arr, np.zeros(SHINGLE - len(arr), dtype=np.uint64)])
        with np.errstate(over="ignore"):
            h = np.zeros(len(arr) - SHINGLE + 1, dtype=np.uint64)
            for k in range(SHINGLE):
                h = h * np.uint64(1_000_003) + arr[k: len(arr) - SHINGLE + 1 + k]
            h = np.unique(h)
            perm = (self.a[:, None] * h[None, :] + self.b[:, None]) % _MERSENNE
        return perm.min(axis=1)


def cluster_ids(samples: Sequence[dict[str, str]], progress=None) -> np.ndarray:
    """A cluster id per sample (near-duplicates share one)."""
    n = len(samples)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    hasher = _Hasher()
    rows = N_PERM // BANDS
    buckets: dict[tuple[int, bytes], int] = {}
    exact: dict[int, int] = {}
    for i, files in enumerate(samples):
        tokens = normalized_tokens(files)
        key = hash(tuple(tokens))
        if key in exact:
            union(i, exact[key])
        else:
            exact[key] = i
        sig = hasher.signature(tokens)
        for band in range(BANDS):
            bkey = (band, sig[band * rows:(band + 1) * rows].tobytes())
            if bkey in buckets:
                union(i, buckets[bkey])
            else:
                buckets[bkey] = i
        if progress is not None:
            progress()
    return np.array([find(i) for i in range(n)])

"""Hashes of a name's deletion neighbourhood, computed with NumPy for many names at once.

A string ``s`` hashes to ``H(s) = sum(c_k * B**k) mod 2**64`` (``c_k`` = byte + 1). With
prefix sums ``P`` of the terms, deleting position ``i`` gives
``P[i] + B⁻¹ (H - P[i+1])`` and deleting ``i < j`` gives
``P[i] + B⁻¹ (P[j] - P[i+1]) + B⁻² (H - P[j+1])`` (``B`` is odd, so ``B⁻¹`` exists mod
2**64). Every variant of a batch of equal-length names is thus a handful of array
operations instead of a Python loop over strings. Equal hashes are candidates only:
the caller verifies each with an edit distance.
"""

from __future__ import annotations

import numpy as np

_MOD = 1 << 64
_BASE = 0x100000001B3  # odd (the 64-bit FNV prime)
_BASE_INV = pow(_BASE, -1, _MOD)
_MAX_LENGTH = 256
_POWERS = np.array([pow(_BASE, k, _MOD) for k in range(_MAX_LENGTH)], dtype=np.uint64)
_B1 = np.uint64(_BASE_INV)
_B2 = np.uint64(_BASE_INV * _BASE_INV % _MOD)


def _codes(names: list[str], length: int) -> np.ndarray:
    raw = np.frombuffer("".join(names).encode("ascii"), dtype=np.uint8)
    return raw.reshape(len(names), length).astype(np.uint64) + np.uint64(1)


def variant_hashes(names: list[str], length: int, depth: int) -> list[np.ndarray]:
    """Hashes of each name's deletions, one array per number of deletions (0, 1, 2 up to
    ``depth``), each of shape (names, variants). ``names`` are ASCII, ``length`` long."""
    with np.errstate(over="ignore"):
        terms = _codes(names, length) * _POWERS[:length]
        prefix = np.zeros((len(names), length + 1), dtype=np.uint64)
        np.cumsum(terms, axis=1, out=prefix[:, 1:])
        total = prefix[:, length : length + 1]
        blocks = [total, prefix[:, :length] + _B1 * (total - prefix[:, 1:])]
        if depth >= 2 and length >= 2:
            blocks.append(_pair_deletions(prefix, total, length))
    return blocks


def _pair_deletions(prefix: np.ndarray, total: np.ndarray, length: int) -> np.ndarray:
    """Hashes of every two-deletion variant, columns in (i, j) order, i < j.

    ``P[i] + B⁻¹ (P[j] - P[i+1]) + B⁻² (H - P[j+1])`` splits into a term of ``i`` alone,
    ``A[i] = P[i] - B⁻¹ P[i+1]``, and one of ``j`` alone, ``C[j] = B⁻¹ P[j] + B⁻² (H - P[j+1])``.
    Each row of pairs with one ``i`` is then ``A[i] + C[i+1:]``: one broadcast add over
    contiguous columns, measured 2-5x faster than gathering ``(i, j)`` index arrays."""
    head = prefix[:, :length] - _B1 * prefix[:, 1:]
    tail = _B1 * prefix[:, :length] + _B2 * (total - prefix[:, 1:])
    out = np.empty((prefix.shape[0], length * (length - 1) // 2), dtype=np.uint64)
    start = 0
    for i in range(length - 1):
        stop = start + length - 1 - i
        np.add(head[:, i : i + 1], tail[:, i + 1 :], out=out[:, start:stop])
        start = stop
    return out


def group_by_length(names: list[str]) -> dict[int, list[int]]:
    """Positions of ``names`` grouped by length (the hashing works on equal-length batches)."""
    groups: dict[int, list[int]] = {}
    for position, name in enumerate(names):
        groups.setdefault(len(name), []).append(position)
    return groups

"""Dilution augmentation for training: a malicious package's features joined with a
benign package's, as if the payload shipped beside (or inside) ordinary library code.

An attacker's cheapest disguise is volume: vendor a real library next to the payload,
never imported, or copy a whole library and add the payload to its `__init__.py`. The
corpus holds few such packages, so a model fitted on it learns "much ordinary code means
benign" and a vendored library sends most payloads under the threshold. Training on
joined rows teaches it that library code beside a payload does not clear the payload.

Rows are joined without re-scanning: the findings and the model tokens of both packages
side by side, the library's turned into call-only (cold) code when it is vendored and
never imported, kept as they are when it is the package the payload rides in. The rule
score is computed again on the joined findings. Nothing here reads or runs package text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from detector.code.analyze import rule_score
from detector.code.findings import Finding
from detector.vocab import Tier

Row = tuple[list[Finding], list[str], float]
HOT_TIERS = (Tier.INSTALL, Tier.IMPORT)


def as_cold(row: Row) -> Row:
    """A package's row as if none of its code ran uncalled (vendored, never imported)."""
    findings = [dataclasses.replace(f, tier=Tier.OTHER) if f.tier in HOT_TIERS else f
                for f in row[0]]
    tokens = ["cold|" + t[4:] if t.startswith("hot|") else t for t in row[1]]
    return findings, tokens, rule_score(findings)


def joined(payload: Row, library: Row, vendored: bool) -> Row:
    """``payload``'s row with ``library``'s added: as cold code when ``vendored``."""
    extra = as_cold(library) if vendored else library
    findings = [*payload[0], *extra[0]]
    return findings, [*payload[1], *extra[1]], rule_score(findings)


def dilute(rows: Sequence[Row], y: np.ndarray, train: np.ndarray, seed: int
           ) -> tuple[list[Row], np.ndarray]:
    """One diluted copy of every malicious row in ``train`` (indices), each joined with a
    benign row of ``train`` drawn at random, vendored or carrying it at even odds.

    Returns the new rows and, for each, the index of the malicious row it came from (its
    label and group are that row's). Only training rows are used on either side, so a
    held-out package never shapes the model through a joined copy."""
    rng = np.random.default_rng(seed)
    train = np.asarray(train)
    malicious = train[y[train] == 1]
    benign = train[y[train] == 0]
    if not len(malicious) or not len(benign):
        return [], np.zeros(0, dtype=np.intp)
    libraries = rng.choice(benign, size=len(malicious))
    vendored = rng.random(len(malicious)) < 0.5
    out = [joined(rows[m], rows[b], bool(v))
           for m, b, v in zip(malicious, libraries, vendored, strict=True)]
    return out, malicious.astype(np.intp)

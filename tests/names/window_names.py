"""Helpers shared by the tests of the window rules (grids, pairs, echoes): names that match
nothing, the name check, a stream's memory fed as the scorer feeds it, and
`check-name --file` with times."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from detector.names import (
    BurstMemory,
    NameResult,
    default_checker,
    is_burst_member,
    is_pair_member,
)
from detector.names.bursts import load_pieces
from detector.policy import Policy, build_policy, load_policy

WARDEN = str(Path(sys.executable).with_name("warden"))
CFG = load_policy().names
STATS = load_pieces()
NOISE = "bdfhjkmnpqrsvwz"


def policy_with(**names: object) -> Policy:
    """The shipped policy with these ``[names]`` keys changed."""
    tables = load_policy().to_dict()
    tables["names"].update(names)
    return build_policy(tables)


def noise_names(count: int, seed: int = 2, length: int = 7) -> list[str]:
    """Names of ``length`` letters drawn from consonants, half of them split in two by a
    separator: they glue, cross and join nothing."""
    rng = random.Random(seed)
    names = []
    for i in range(count):
        body = "".join(rng.choice(NOISE) for _ in range(length))
        names.append(body if i % 2 else f"{body[: length // 2]}-{body[length // 2 :]}")
    return names


def check(names: list[str]) -> list[NameResult]:
    return default_checker().check_many(names)


def raised_by(after: list[NameResult], rule: str) -> set[str]:
    """The names a rule (`burst`, `run`, `grid`, `pair`) raised."""
    return {r.name for r in after if r.sweep is not None and rule in r.sweep}


def through_stream(names: list[str], times: list[float], memory: BurstMemory | None = None
                   ) -> dict[str, tuple[float, str]]:
    """Each name through a stream's memory in time order, its score passed as the scorer
    passes it (detector/stream/scorer.py): name -> (score, reason) of what raised it."""
    memory = BurstMemory(CFG, STATS) if memory is None else memory
    checked = {r.name: r for r in check(names)}
    found = {}
    for i in sorted(range(len(names)), key=lambda i: times[i]):
        result = checked[names[i]]
        assert result.normalized is not None
        burst, pair = is_burst_member(result, CFG), is_pair_member(result, CFG)
        got = memory.observe(result.normalized, times[i], result.score if burst else None,
                             pair_score=result.score if pair and not burst else None)
        if got is not None:
            found[names[i]] = (got.score, got.reason)
    return found


def check_name_file(folder: Path, names: list[str], stamps: list[str]) -> list[dict[str, Any]]:
    """`warden check-name --file --json` on a TSV of ``names`` at ``stamps`` (ISO times):
    its lines, parsed, in the order written."""
    listing = folder / "names.tsv"
    listing.write_text("name\tts\n" + "".join(
        f"{name}\t{stamp}\n" for name, stamp in zip(names, stamps, strict=True)))
    done = subprocess.run([WARDEN, "check-name", "--file", str(listing), "--json"],
                          capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]

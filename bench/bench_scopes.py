"""Scoped against whole-type breaker pauses: the collateral of each (issue 16 item 6).

For each seed: simulate (baseline, benign crowds, the default campaigns and the
campaign shapes a cohort holds: one domain, subdomain rotation, one name template,
one IP range; ``typosquat-waves`` is the mixed shape), then replay it twice with the
shipped policy (``detector.replay.collateral``): once with cohort scopes, once with
``cohort_kinds = []`` (every trip pauses its whole event type). Prints, per crowd type
and campaign shape, legitimate events refused (benign kinds) or attack events let
through (campaign kinds, admitted while no pause held them), scoped against whole type,
per seed and summed.

Usage: ``.venv/bin/python bench/bench_scopes.py [--seeds 1 2 3 4 5] [--days 90]
[--policy FILE]``
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from typing import Any

from detector.policy import load_policy
from detector.replay import collateral, collateral_text
from detector.stream.shapes import SHAPE_KINDS
from detector.stream.simulate import CAMPAIGN_KINDS, SimConfig, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--policy", default=None)
    args = parser.parse_args()
    policy = load_policy(args.policy) if args.policy else None
    total: dict[str, Counter[str]] = defaultdict(Counter)
    attack: dict[str, bool] = {}
    pauses: Counter[str] = Counter()
    for seed in args.seeds:
        start = time.perf_counter()
        events, labels = simulate(SimConfig(days=args.days, seed=seed,
                                            campaigns=CAMPAIGN_KINDS + SHAPE_KINDS))
        report = collateral(events, labels, policy)
        for kind, row in report["by_kind"].items():
            attack[kind] = row["attack"]
            for key in ("events", "scoped", "whole_type"):
                total[kind][key] += row[key]
        for way, counts in report["pauses"].items():
            for scope, n in counts.items():
                pauses[f"{way} {'cohort' if '|' in scope else 'type'}"] += n
        print(f"seed {seed} ({len(events)} events, {time.perf_counter() - start:.0f} s):",
              flush=True)
        print(collateral_text(report), flush=True)
    summed: dict[str, Any] = {"by_kind": {
        kind: {"events": row["events"], "attack": attack[kind], "scoped": row["scoped"],
               "whole_type": row["whole_type"]} for kind, row in sorted(total.items())}}
    print(f"\nall {len(args.seeds)} seeds, {args.days} days each "
          f"(pauses: {dict(sorted(pauses.items()))}):")
    print(collateral_text(summed))


if __name__ == "__main__":
    main()

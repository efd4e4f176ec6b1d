"""Dump every scan result with an unlimited CPU budget, to check a speed change is exact.

`python bench/scan_equivalence.py OUT.jsonl --every 7` scans every 7th package of the
whole-upload data (malicious, benign whole, installed libraries) with no CPU budget (so
no result depends on timing) and writes, per package, the findings (rule, file, line,
tier, evidence), tokens, tiers and scores. Run it before and after a change and `cmp`
the two files: a cost change must leave them byte-identical.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_whole import load  # noqa: E402

from detector.code.archive import Package  # noqa: E402
from detector.code.budget import Budget  # noqa: E402
from detector.code.scan import scan_with_analysis  # noqa: E402
from detector.policy import load_policy  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()
    policy = load_policy()
    data = load(args.shared, 0)[::args.every]
    cpu = 0.0
    with args.out.open("w") as out:
        for source, sample in data:
            package = Package()
            package.files.update(sample.files)
            start = time.process_time()
            result, analysis = scan_with_analysis(
                package, sample.name, policy, budget=Budget(cpu_seconds=1e9))
            cpu += time.process_time() - start
            out.write(json.dumps({
                "source": source, "name": sample.name, "result": result.to_dict(),
                "tokens": analysis.tokens, "tiers": analysis.tiers}, sort_keys=True) + "\n")
    print(f"{len(data)} packages, scan CPU {cpu:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

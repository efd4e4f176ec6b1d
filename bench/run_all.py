"""Run every benchmark and print its figures (`make bench`).

Each bench runs as its own process (its timings and peak memory are its own), one
after the other, with short settings by default so the whole run takes minutes; pass
``--full`` for each bench's own defaults (the figures quoted in the docs). A bench that
needs ``../shared`` says so and is counted as skipped when it is absent.

    .venv/bin/python bench/run_all.py [--full] [--only names scan ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# name: (script, short arguments)
BENCHES: dict[str, tuple[str, list[str]]] = {
    "names": ("bench_names.py", ["--quick"]),
    "scan": ("bench_scan.py", ["--limit", "200", "--folds", "3"]),
    "stream": ("bench_stream.py", ["--seeds", "1", "--days", "30", "--skip-year"]),
    "backfill": ("bench_backfill.py", ["--sdists", "100"]),
    "service": ("bench_service.py", ["--seconds", "5", "--status-seconds", "3",
                                     "--skip-fuzz", "--skip-kill"]),
}
MISSING_INPUT = 2  # the benches' exit status when ../shared (their input) is absent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="each bench's own defaults")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), default=None)
    args = parser.parse_args()
    failed, skipped = [], []
    for name in args.only or BENCHES:
        script, short = BENCHES[name]
        command = [sys.executable, str(BENCH / script), *([] if args.full else short)]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        status = subprocess.run(command, cwd=BENCH.parent).returncode
        print(f"== {name}: exit {status} after {time.perf_counter() - started:.0f} s\n",
              flush=True)
        if status == MISSING_INPUT:
            skipped.append(name)
        elif status != 0:
            failed.append(name)
    print(f"benches failed: {failed or 'none'}; skipped (input absent): {skipped or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

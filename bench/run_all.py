"""`make bench`: run every benchmark script in bench/ in turn and print their figures.

Each script runs in its own process with this interpreter, its output passed through
as it comes; a summary at the end lists each script's exit status and wall time. A
script that needs ../shared exits 2 without it and is reported as skipped. ``--quick``
passes each script its short settings (fewer runs, smaller loads); ``--only`` and
``--skip`` pick scripts by name (``names``, ``scan``, ``whole``, ``invariance``, ``stream``,
``service``, ``backfill``, ``startup``, ``crowds``, ``scopes``, ...).

    .venv/bin/python bench/run_all.py [--quick] [--only names,startup] [--skip service]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# name -> (full arguments, quick arguments); in the order they run
SCRIPTS: dict[str, tuple[list[str], list[str]]] = {
    "startup": ([], ["--runs", "3"]),
    "names": ([], ["--quick"]),
    "scan": ([], ["--limit", "400", "--folds", "3"]),
    "whole": ([], ["--limit", "400", "--no-layout"]),
    "invariance": ([], ["--per-class", "20"]),
    "stream": ([], ["--seeds", "1", "--skip-year"]),
    "service": ([], ["--seconds", "5", "--status-seconds", "3", "--skip-fuzz",
                     "--skip-kill"]),
    "backfill": ([], ["--sdists", "100"]),
    "hostile": ([], []),
    "scanload": ([], ["--seconds", "5"]),
    "triage": ([], ["--lone", "10", "--wave", "5"]),
    "crowds": ([], ["--seeds", "1", "--days", "30"]),
    "scopes": ([], ["--seeds", "1", "--days", "30"]),
}


def _names(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SCRIPTS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown benchmark(s): {', '.join(unknown)}; "
                                         f"known: {', '.join(SCRIPTS)}")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short settings for each script")
    parser.add_argument("--only", type=_names, default=None, help="comma-separated names")
    parser.add_argument("--skip", type=_names, default=[], help="comma-separated names")
    args = parser.parse_args()
    chosen = [n for n in (args.only or SCRIPTS) if n not in args.skip]
    summary = []
    for name in chosen:
        full, quick = SCRIPTS[name]
        command = [sys.executable, str(BENCH / f"bench_{name}.py"), *(quick if args.quick
                                                                        else full)]
        print(f"\n=== bench_{name}.py {' '.join(command[2:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(command, check=False).returncode
        seconds = time.perf_counter() - started
        status = {0: "ok", 2: "skipped (needs ../shared or a tool; see above)"}.get(
            code, f"failed (exit {code})")
        summary.append((name, status, seconds))
    print("\n=== summary")
    for name, status, seconds in summary:
        print(f"bench_{name}.py  {seconds:7.1f} s  {status}")
    return 1 if any(status.startswith("failed") for _, status, _ in summary) else 0


if __name__ == "__main__":
    sys.exit(main())

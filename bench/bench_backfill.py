"""Bench `warden backfill`: names over the whole PyPI list, code over generated sdists.

Prints, for 1 and 2 local workers: wall seconds (cluster start-up included),
rows or packages per second, the speed-up of 2 workers over 1, and the
backfill's overhead over `warden check-name --file` on the same list in one
process. Needs ../shared/data/pypi_names.tsv.gz for the names part (skipped,
with a note, when absent). Run: .venv/bin/python bench/bench_backfill.py
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
NAMES = REPO.parent / "shared" / "data" / "pypi_names.tsv.gz"
console = Console()

SETUP_PY = (
    "from setuptools import setup\n\n"
    "setup(name={name!r}, version='1.0', packages=[{name!r}], install_requires=['requests'])\n"
)
MODULE = "def add(a, b):\n    return a + b\n\n\ndef greet(who):\n    return 'hello ' + who\n"


def make_sdists(folder: Path, count: int) -> None:
    """``count`` small benign sdists (setup.py, a module, PKG-INFO)."""
    for i in range(count):
        name = f"benchpkg{i}"
        with tarfile.open(folder / f"{name}-1.0.tar.gz", "w:gz") as archive:
            for rel, text in (
                ("setup.py", SETUP_PY.format(name=name)),
                (f"{name}/__init__.py", MODULE * (1 + i % 5)),
                ("PKG-INFO", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"),
            ):
                data = text.encode()
                info = tarfile.TarInfo(f"{name}-1.0/{rel}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def warden(*args: str, stdout: Any = subprocess.PIPE) -> tuple[float, float, str]:
    """Run the CLI; wall seconds, CPU seconds of it and all its processes, and stdout.

    CPU seconds stay meaningful when other jobs share the machine; wall seconds do not.
    """
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "warden", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"warden {' '.join(args)} failed:\n{done.stderr}")
    return elapsed, _children_cpu() - cpu_before, done.stdout or ""


def backfill(kind: str, source: Path, out: Path, workers: int) -> dict:
    elapsed, cpu, stdout = warden(
        "backfill",
        kind,
        "--input",
        str(source),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--json",
    )
    summary = json.loads(stdout)
    summary["wall_seconds"], summary["cpu_seconds"] = elapsed, cpu
    return summary


def bench_names(scratch: Path, table: Table) -> None:
    if not NAMES.is_file():
        console.print(f"[yellow]skipping names: {NAMES} not present[/]")
        return
    runs = {}
    for workers in (1, 2):
        with console.status(f"backfill names, {workers} worker(s)…"):
            runs[workers] = backfill("names", NAMES, scratch / f"names-{workers}", workers)
        s = runs[workers]
        table.add_row(
            f"backfill names, {workers} worker(s)",
            f"{s['rows']:,} names",
            f"{s['wall_seconds']:.1f} s",
            f"{s['cpu_seconds']:.1f} s",
            f"{s['rows'] / s['wall_seconds']:,.0f} names/s (start-up {s['startup_seconds']:.1f} s)",
        )
    with console.status("backfill names, resume of a finished run…"):
        resumed = backfill("names", NAMES, scratch / "names-2", 2)
    table.add_row(
        "backfill names, re-run (all partitions done)",
        f"{resumed['rows']:,} names",
        f"{resumed['wall_seconds']:.1f} s",
        f"{resumed['cpu_seconds']:.1f} s",
        "-",
    )
    with (
        console.status("check-name --file, one process…"),
        open(scratch / "check-name.jsonl", "w") as sink,
    ):
        single, single_cpu, _ = warden("check-name", "--file", str(NAMES), "--json", stdout=sink)
    rows = runs[1]["rows"]
    table.add_row(
        "check-name --file --json (one process)",
        f"{rows:,} names",
        f"{single:.1f} s",
        f"{single_cpu:.1f} s",
        f"{rows / single:,.0f} names/s",
    )
    speedup = runs[1]["wall_seconds"] / runs[2]["wall_seconds"]
    table.add_row("speed-up, 2 workers over 1", "", f"{speedup:.2f}×", "", "")
    for workers in (1, 2):
        wall = runs[workers]["wall_seconds"] / single - 1
        cpu = runs[workers]["cpu_seconds"] / single_cpu - 1
        table.add_row(
            f"overhead of backfill ({workers} worker) over check-name",
            "",
            f"{wall:+.0%}",
            f"{cpu:+.0%}",
            "",
        )


def bench_code(scratch: Path, table: Table, count: int) -> None:
    tree = scratch / "sdists"
    tree.mkdir()
    with console.status(f"building {count} benign sdists…"):
        make_sdists(tree, count)
    seconds = {}
    for workers in (1, 2):
        with console.status(f"backfill code, {workers} worker(s)…"):
            s = backfill("code", tree, scratch / f"code-{workers}", workers)
        seconds[workers] = s["wall_seconds"]
        work = s["seconds"] - s["startup_seconds"]
        table.add_row(
            f"backfill code, {workers} worker(s)",
            f"{s['rows']:,} sdists",
            f"{s['wall_seconds']:.1f} s",
            f"{s['cpu_seconds']:.1f} s",
            f"{s['rows'] / s['wall_seconds']:,.1f} pkg/s ({s['rows'] / work:,.1f} after start-up)",
        )
    table.add_row(
        "speed-up, 2 workers over 1 (code)", "", f"{seconds[1] / seconds[2]:.2f}×", "", ""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdists", type=int, default=600, help="benign sdists to generate")
    parser.add_argument("--skip-names", action="store_true")
    parser.add_argument("--skip-code", action="store_true")
    args = parser.parse_args()
    table = Table(title="warden backfill (wall time, cluster start-up included)")
    console.print(
        f"load average before the run: {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs (other jobs skew wall times, not CPU seconds)"
    )
    for column in ("what", "input", "wall time", "CPU time", "throughput"):
        table.add_column(column)
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as scratch:
        if not args.skip_names:
            bench_names(Path(scratch), table)
        if not args.skip_code:
            bench_code(Path(scratch), table, args.sdists)
    console.print(table)


if __name__ == "__main__":
    main()

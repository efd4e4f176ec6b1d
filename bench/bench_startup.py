"""Start-up cost of the CLI and size of the runtime install.

Prints the wall time of a one-file `warden scan` (a fresh process each run: imports,
policy, rule catalogue and code model load, one small sdist), minimum and median of
``--runs`` runs, and the modules a scan imports that only training, backfill or
plots need. With ``--install`` it also builds a throw-away virtualenv from
``requirements/runtime.txt`` plus the project without dependencies (the runtime
install, no extras) and prints its package count and megabytes.

    .venv/bin/python bench/bench_startup.py [--runs 10] [--install] [--baseline DIR]

``--baseline DIR`` also times a checkout of another commit (``git archive REF | tar -x
-C DIR``) with this interpreter and its libraries, runs alternating with the current
tree's so both see the same load. (The "before" figures in docs/install.md: commit 92ab55e.)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WARDEN = Path(sys.executable).with_name("warden")
HEAVY = ("sklearn", "scipy", "joblib", "dask", "distributed", "pandas", "pyarrow", "matplotlib")
SETUP = "from setuptools import setup\n\nsetup(name='tiny', version='1.0', packages=['tiny'])\n"


def tiny_sdist(folder: Path) -> Path:
    path = folder / "tiny-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in (("tiny-1.0/setup.py", SETUP), ("tiny-1.0/tiny/__init__.py", "")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# `warden scan` from the code under a given folder (the folder first on sys.path)
FROM_TREE = ("import sys; root = sys.argv.pop(1); sys.path.insert(0, root); "
             "from warden.cli import main; import detector; "
             "assert detector.__file__.startswith(root), detector.__file__; main()")


def scan_command(sdist: Path, tree: Path | None) -> list[str]:
    if tree is None:
        return [str(WARDEN), "scan", str(sdist), "--json"]
    return [sys.executable, "-c", FROM_TREE, str(tree), "scan", str(sdist), "--json"]


def time_scans(sdist: Path, runs: int, trees: tuple[Path | None, ...] = (None,),
               ) -> list[list[float]]:
    """Wall times per tree, the trees' runs interleaved."""
    times: list[list[float]] = [[] for _ in trees]
    for _ in range(runs):
        for slot, tree in enumerate(trees):
            started = time.perf_counter()
            proc = subprocess.run(scan_command(sdist, tree), capture_output=True, text=True,
                                  check=False, cwd=sdist.parent)
            times[slot].append(time.perf_counter() - started)
            if proc.returncode != 0:
                raise SystemExit(f"warden scan failed: {proc.stderr}")
            json.loads(proc.stdout.splitlines()[0])
    return times


def heavy_imports(sdist: Path) -> list[str]:
    code = ("import sys; from warden.cli import app\n"
            "try:\n    app(['scan', sys.argv[1], '--json'])\nexcept SystemExit:\n    pass\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})),"
            " file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, str(sdist)], capture_output=True,
                          text=True, check=False)
    return proc.stderr.strip().splitlines()[-1:] if proc.stderr else []


def install_size() -> tuple[int, float]:
    """Packages and megabytes of a fresh runtime install (needs the package index)."""
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = venv / "bin" / "python"
        pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        runtime = REPO / "requirements" / "runtime.txt"
        if runtime.is_file():
            subprocess.run([*pip, "--require-hashes", "-r", str(runtime)], check=True)
            subprocess.run([*pip, "--no-deps", str(REPO)], check=True)
        else:  # before the lock: what `pip install .` pulled in
            subprocess.run([*pip, str(REPO)], check=True)
        site = next((venv / "lib").glob("python*/site-packages"))
        dists = list(site.glob("*.dist-info"))
        size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
        return len(dists), size / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--install", action="store_true",
                        help="also measure a fresh runtime install (slow, uses the index)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a checkout of another commit to time alternately")
    args = parser.parse_args()
    os.environ.setdefault("WARDEN_CACHE_DIR", "")
    trees: tuple[Path | None, ...] = (None,) if args.baseline is None else (
        args.baseline.resolve(), REPO)
    with tempfile.TemporaryDirectory() as tmp:
        sdist = tiny_sdist(Path(tmp))
        time_scans(sdist, 1, trees)  # warm the file cache
        timings = time_scans(sdist, args.runs, trees)
        heavy = heavy_imports(sdist)
    for tree, times in zip(trees, timings, strict=True):
        label = "" if tree is None else f" ({'baseline' if tree != REPO else 'this tree'})"
        print(f"one-file `warden scan` wall time over {args.runs} runs{label}: "
              f"min {min(times):.2f} s, median {statistics.median(times):.2f} s")
    print(f"training/backfill/plot modules imported by a scan: {heavy[0] if heavy else '?'}")
    if args.install:
        count, megabytes = install_size()
        print(f"runtime install: {count} packages, {megabytes:.0f} MB of site-packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())

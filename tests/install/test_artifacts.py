"""No artifact in the repository is a pickle: loading data must never run code."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pck", ".sav", ".dill", ".pt", ".pth"}


def _tracked() -> list[Path]:
    proc = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    if proc.returncode == 0 and proc.stdout:
        return [REPO / name for name in proc.stdout.decode().split("\0") if name]
    skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache"}
    return [p for p in REPO.rglob("*") if p.is_file() and not skip & set(p.parts)]


def _looks_pickled(head: bytes) -> bool:
    # protocol 2+ opens with PROTO (0x80) and the version; joblib's compressed files
    # open with their own magic
    return (len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5) or head.startswith(b"ZF")


def test_no_pickle_or_joblib_artifacts():
    offenders = []
    for path in _tracked():
        if not path.is_file():
            continue
        with open(path, "rb") as handle:
            head = handle.read(8)
        if path.suffix in PICKLE_SUFFIXES or _looks_pickled(head):
            offenders.append(path.relative_to(REPO))
    assert not offenders, offenders


def test_every_npz_loads_without_pickle():
    archives = [p for p in _tracked() if p.suffix == ".npz"]
    assert any(p.name == "code-model.npz" for p in archives)
    for path in archives:
        assert zipfile.is_zipfile(path), path
        with np.load(path, allow_pickle=False) as data:
            for name in data.files:
                assert data[name].dtype != object, (path, name)

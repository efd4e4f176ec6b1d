"""Input builders and a CLI runner for the backfill tests."""

from __future__ import annotations

import random
import string
import subprocess
import sys
from pathlib import Path

BASE_NAMES = [
    "requests", "numpy", "pandas", "django", "flask", "boto3", "urllib3", "setuptools",
    "matplotlib", "scikit-learn", "cryptography", "pyyaml", "beautifulsoup4", "pillow",
]


def _variants(name: str, rng: random.Random) -> list[str]:
    i = rng.randrange(1, len(name) - 1)
    return [
        name[:i] + name[i + 1 :],  # a deletion
        name[:i] + name[i + 1] + name[i] + name[i + 2 :],  # an adjacent swap
        name + "-" + rng.choice(["dev", "utils", "py", "lib"]),
        name.replace("-", "_"),
    ]


def make_names(count: int, seed: int = 7) -> list[str]:
    """``count`` distinct names: popular ones, squat-like variants and random strings."""
    rng = random.Random(seed)
    names: dict[str, None] = {}
    pool = [v for base in BASE_NAMES for v in (base, *_variants(base, rng))]
    for name in pool:
        names.setdefault(name)
    while len(names) < count:
        length = rng.randint(4, 14)
        names.setdefault("".join(rng.choice(string.ascii_lowercase + "-_") for _ in range(length))
                         .strip("-_") or "x")
    return list(names)[:count]


def write_names(path: Path, names: list[str], extra: bytes = b"") -> Path:
    path.write_bytes("\n".join(names).encode() + b"\n" + extra)
    return path


def run_warden(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warden", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )


SETUP_PY = '''from setuptools import setup

setup(name={name!r}, version="1.0", packages=[{pkg!r}], install_requires=["requests"])
'''

INIT_PY = '''"""{name}: a small benign library."""

def greet(who: str) -> str:
    return "hello " + who
'''


def make_sdist(folder: Path, index: int) -> Path:
    """A small benign sdist ``pkg<index>-1.0.tar.gz`` with a setup.py and one module."""
    import io
    import tarfile

    name, pkg = f"pkg{index}", f"pkg{index}"
    path = folder / f"{name}-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for rel, text in (
            ("setup.py", SETUP_PY.format(name=name, pkg=pkg)),
            (f"{pkg}/__init__.py", INIT_PY.format(name=name)),
            ("PKG-INFO", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-1.0/{rel}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path

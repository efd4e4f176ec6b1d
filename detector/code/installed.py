"""Benign whole packages without downloading anything: the distributions installed in a
virtual environment, read from their ``RECORD`` files as plain text.

Every file a wheel installed is listed in ``<name>.dist-info/RECORD``; the code files
among them (the same selection and caps as the shared corpus: ``.py .pyw .pth .toml
.cfg``, 90,112 characters per file, 300 files per package) make one benign sample in
wheel layout. Nothing is imported or executed: files are opened and read as text.

Files outside site-packages (``../../bin/...``: console scripts pip generates) and
byte-compiled caches are not part of an upload and are left out; distributions whose
RECORD is missing, and editable installs (this project: a `.pth` pointing at the
source tree), give nothing.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from detector.code.corpus import CORPUS_FILE_CHARS, Sample, _text

# The shared corpus keeps these suffixes, at most this many files per package.
CODE_SUFFIXES = (".py", ".pyw", ".pth", ".toml", ".cfg")
CORPUS_MAX_FILES = 300


def site_packages(venv: Path | None = None) -> Path | None:
    """The site-packages folder of a virtual environment (default: this interpreter's)."""
    root = Path(venv) if venv is not None else Path(sys.prefix)
    found = sorted(root.glob("lib/python3*/site-packages")) + sorted(
        root.glob("Lib/site-packages"))
    return found[0] if found else None


def is_corpus_file(name: str) -> bool:
    """The shared corpus's file selection (by suffix)."""
    return name.lower().endswith(CODE_SUFFIXES)


def select_files(files: dict[str, str], max_files: int = CORPUS_MAX_FILES,
                 max_chars: int = CORPUS_FILE_CHARS) -> dict[str, str]:
    """The corpus's caps applied to any package: code suffixes only, the first
    `max_files` names in sorted order, each cut at `max_chars` characters."""
    names = sorted(n for n in files if is_corpus_file(n))[:max_files]
    return {n: files[n][:max_chars] for n in names}


def _record_paths(record: Path) -> list[str]:
    try:
        text = record.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for row in csv.reader(io.StringIO(text)):
        if not row:
            continue
        name = row[0].replace("\\", "/")
        parts = PurePosixPath(name).parts
        if not parts or name.startswith("/") or ".." in parts or "__pycache__" in parts:
            continue
        if is_corpus_file(name):
            out.append(name)
    return out


def _editable(info: Path) -> bool:
    """PEP 610: `direct_url.json` says `"editable": true`."""
    try:
        data = json.loads((info / "direct_url.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("dir_info"), dict) and \
        data["dir_info"].get("editable") is True


def installed_samples(venv: Path | None = None, *, max_files: int = CORPUS_MAX_FILES,
                      max_chars: int = CORPUS_FILE_CHARS,
                      exclude: frozenset[str] = frozenset()) -> Iterator[Sample]:
    """One benign sample (label 0) per installed distribution with code files, in wheel
    layout, with the corpus's selection and caps. `exclude`: distribution names
    (normalized: lower case, `-`) to leave out."""
    root = site_packages(venv)
    if root is None:
        return
    for info in sorted(root.glob("*.dist-info")):
        record = info / "RECORD"
        if not record.is_file():
            continue
        dist = info.name[: -len(".dist-info")]
        name, _, version = dist.partition("-")
        key = name.lower().replace("_", "-").replace(".", "-")
        if key in exclude:
            continue
        if _editable(info):
            continue  # an editable install (this project): a pointer, not an upload
        names = sorted(_record_paths(record))[:max_files]
        files: dict[str, str] = {}
        for rel in names:
            path = root / rel
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    files[rel] = _text(handle.read(max_chars))
            except OSError:
                continue
        if files:
            yield Sample(f"installed:{key}-{version}", key, files, 0)

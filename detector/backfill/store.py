"""The output folder: a manifest, and one Parquet file per finished partition.

A partition file is written under a temporary dot-name and renamed into place,
so a crash never leaves a half file that a resumed run would count as done
(pyarrow and pandas ignore names starting with ``.`` or ``_`` when reading the
folder).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MANIFEST = "_warden_backfill.json"


class BackfillOutputError(ValueError):
    """The output folder cannot be used (unwritable, or holds another run's results)."""


def partition_file(out_dir: Path, index: int) -> Path:
    return out_dir / f"part-{index:05d}.parquet"


def write_partition(out_dir: Path, index: int, table: pa.Table) -> Path:
    """Write one partition atomically: a unique temp file, then a rename over the final name."""
    final = partition_file(out_dir, index)
    temp = out_dir / f".{final.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(table, temp, compression="zstd")
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)
    return final


def finished_rows(out_dir: Path, index: int, expected_rows: int) -> int | None:
    """Rows of a finished partition file, or None when it is missing, unreadable or short."""
    path = partition_file(out_dir, index)
    if not path.is_file():
        return None
    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException):
        return None
    return rows if rows == expected_rows else None


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The manifest of an earlier run in ``out_dir``, or None when there is none (or junk)."""
    try:
        data = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def prepare(out_dir: Path, manifest: dict[str, Any]) -> None:
    """Create the folder and its manifest, or check that it holds a run of the same input."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackfillOutputError(f"{out_dir}: cannot create ({exc.strerror})") from exc
    if not out_dir.is_dir():
        raise BackfillOutputError(f"{out_dir}: is not a directory")
    path = out_dir / MANIFEST
    if path.exists():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BackfillOutputError(f"{path}: unreadable manifest ({exc})") from exc
        keys = ("kind", "fingerprint", "rows", "partition_size", "policy")
        if any(existing.get(key) != manifest[key] for key in keys):
            raise BackfillOutputError(
                f"{out_dir}: holds a backfill of another input, partition size or policy; "
                "use a fresh --out folder"
            )
        return
    temp = out_dir / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
    try:
        temp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise BackfillOutputError(f"{out_dir}: cannot write ({exc.strerror})") from exc


def count_flagged(out_dir: Path, index: int) -> tuple[int, int]:
    """Flagged and error rows of a finished partition file (for a resumed run's summary)."""
    table = pq.read_table(partition_file(out_dir, index), columns=["flagged", "error"])
    flagged = int(pc.sum(table["flagged"]).as_py() or 0)
    return flagged, table.num_rows - table["error"].null_count

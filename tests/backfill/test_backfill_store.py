"""The output folder: atomic partition files and a manifest that guards resumes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from detector.backfill import NAMES_SCHEMA, BackfillOutputError
from detector.backfill.store import finished_rows, partition_file, prepare, write_partition


def _table(rows: int) -> pa.Table:
    return pa.Table.from_pylist(
        [{"line": i, "name": f"n{i}", "flagged": False, "checks": [], "reasons": []}
         for i in range(rows)],
        schema=NAMES_SCHEMA,
    )


MANIFEST = {"kind": "names", "fingerprint": "abc", "rows": 3, "partition_size": 2, "policy": None,
            "partitions": 2}


def test_written_partition_counts_as_finished_and_leaves_no_temp(tmp_path: Path) -> None:
    write_partition(tmp_path, 0, _table(3))
    assert finished_rows(tmp_path, 0, 3) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["part-00000.parquet"]


def test_short_missing_or_corrupt_partition_is_not_finished(tmp_path: Path) -> None:
    write_partition(tmp_path, 0, _table(2))
    assert finished_rows(tmp_path, 0, 3) is None
    assert finished_rows(tmp_path, 1, 3) is None
    partition_file(tmp_path, 2).write_bytes(b"PAR1 half a file")
    assert finished_rows(tmp_path, 2, 3) is None


def test_manifest_accepts_the_same_run_and_rejects_another(tmp_path: Path) -> None:
    prepare(tmp_path / "out", MANIFEST)
    prepare(tmp_path / "out", dict(MANIFEST))
    with pytest.raises(BackfillOutputError, match="another input"):
        prepare(tmp_path / "out", {**MANIFEST, "fingerprint": "def"})


def test_output_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(BackfillOutputError):
        prepare(target, MANIFEST)

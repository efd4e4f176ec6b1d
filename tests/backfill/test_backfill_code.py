"""`warden backfill code`: one row per archive, errors as rows, same scores as `warden scan`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from backfill_helpers import make_sdist, run_warden

from detector.backfill import read_code_inputs


@pytest.fixture()
def archives(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "b").mkdir()
    for i in range(12):
        make_sdist(tree / ("a" if i % 2 else "b"), i)
    (tree / "b" / "broken-1.0.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    (tree / "b" / "empty-1.0.zip").write_bytes(b"")
    return tree


def test_code_backfill_over_a_tree(archives: Path, tmp_path: Path, dask_cluster) -> None:
    from detector.code import scan_path

    out = tmp_path / "out"
    result = run_warden("backfill", "code", "--input", str(archives), "--out", str(out),
                        "--scheduler", dask_cluster.scheduler_address,
                        "--partition-size", "5", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    items = read_code_inputs(archives)
    table = pd.read_parquet(out).sort_values("line").reset_index(drop=True)
    assert summary["rows"] == len(table) == len(items) == 14
    assert table["path"].tolist() == [i.value for i in items]
    assert table["path"].is_unique

    for row in table.itertuples():
        want = scan_path(row.path)
        assert row.score == pytest.approx(want.score)
        assert row.flagged == want.flagged
        assert row.n_findings == len(want.findings)
        assert (None if pd.isna(row.error) else row.error) == want.error
        if want.model_score is not None:
            assert row.probability == pytest.approx(want.model_score)
    broken = table.set_index("path").loc[str(archives / "b" / "broken-1.0.tar.gz")]
    assert broken["error"]
    assert summary["errors"] == int(table["error"].notna().sum()) >= 2


def test_listing_with_a_missing_path_gives_an_error_row(
    archives: Path, tmp_path: Path, dask_cluster
) -> None:
    from detector.backfill import run_backfill

    listing = tmp_path / "list.txt"
    listing.write_text("tree/a/pkg1-1.0.tar.gz\ntree/gone-1.0.tar.gz\n", encoding="utf-8")
    out = tmp_path / "out"
    summary = run_backfill("code", read_code_inputs(listing), out,
                           scheduler=dask_cluster.scheduler_address)
    table = pd.read_parquet(out).sort_values("line")
    assert summary.rows == len(table) == 2
    gone = table.iloc[1]
    assert gone["error"] == "no such file or directory" and gone["decision"] == "error"
    assert table.iloc[0]["decision"] in ("allow", "review")


def test_code_input_that_does_not_exist_is_exit_2(tmp_path: Path) -> None:
    result = run_warden("backfill", "code", "--input", str(tmp_path / "none"),
                        "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert str(tmp_path / "none") in result.stderr

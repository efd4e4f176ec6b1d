"""`warden backfill names` end to end: real Dask workers, real Parquet files."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from backfill_helpers import make_names, run_warden, write_names

from detector.backfill import read_names, run_backfill
from detector.backfill.store import partition_file
from detector.policy import load_policy


def _read(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out).sort_values("line").reset_index(drop=True)


def _assert_complete(out: Path, source: Path) -> pd.DataFrame:
    """One row per input item, none lost or duplicated, every row scored or explained."""
    table = _read(out)
    items = read_names(source)
    assert len(table) == len(items)
    assert table["line"].is_unique
    assert table["line"].tolist() == [i.line for i in items]
    assert table["name"].tolist() == [i.value for i in items]
    return table


def test_cli_backfill_matches_check_names_row_for_row(tmp_path: Path) -> None:
    from detector.names import check_names

    names = make_names(1500)
    source = write_names(tmp_path / "names.txt", names, extra=b"bad\xffline\nnot a name!\n")
    out = tmp_path / "out"
    result = run_warden("backfill", "names", "--input", str(source), "--out", str(out),
                        "--workers", "2", "--partition-size", "400", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    table = _assert_complete(out, source)
    assert summary["rows"] == len(table) == len(names) + 2
    assert summary["partitions"] == len(list(out.glob("part-*.parquet"))) == 4
    assert summary["flagged"] == int(table["flagged"].sum())

    bad = table[table["name"].str.contains("\ufffd")]
    assert len(bad) == 1 and bad["error"].iloc[0] == f"line {len(names) + 1}: not valid UTF-8"
    assert bad["decision"].iloc[0] == "error"

    scored = table[table["error"].isna()]
    expected = {r.name: r for r in check_names(scored["name"].tolist())}
    for row in scored.itertuples():
        want = expected[row.name]
        assert row.score == pytest.approx(want.score)
        assert row.flagged == want.flagged
        assert row.decision == ("review" if want.flagged else "allow")
        best_target = None if pd.isna(row.best_target) else row.best_target
        assert best_target == (want.matches[0].target if want.matches else None)
        assert sorted(row.checks) == sorted({m.kind for m in want.matches})
    assert (table["decision"] == "review").sum() > 0, "the variants of popular names should flag"


def test_resume_skips_finished_partitions_and_redoes_broken_ones(
    tmp_path: Path, dask_cluster
) -> None:
    source = write_names(tmp_path / "names.txt", make_names(1000, seed=3))
    items = read_names(source)
    out = tmp_path / "out"
    first = run_backfill("names", items, out, scheduler=dask_cluster.scheduler_address,
                         partition_size=100)
    assert (first.partitions, first.partitions_skipped, first.rows_scored) == (10, 0, 1000)
    before = _read(out)

    partition_file(out, 3).unlink()  # never finished
    partition_file(out, 7).write_bytes(partition_file(out, 7).read_bytes()[:200])  # half written
    (out / ".part-00005.parquet.123.abc.tmp").write_bytes(b"left by a crash")
    untouched = partition_file(out, 0).stat().st_mtime_ns

    # The resume need not repeat --partition-size: the folder's manifest remembers it.
    second = run_backfill("names", items, out, scheduler=dask_cluster.scheduler_address)
    assert (second.partitions_skipped, second.rows_scored) == (8, 200)
    assert second.flagged == first.flagged and second.rows == 1000
    assert partition_file(out, 0).stat().st_mtime_ns == untouched
    pd.testing.assert_frame_equal(_assert_complete(out, source), before)


def test_killed_worker_costs_a_retry_not_a_row(tmp_path: Path) -> None:
    from dask.distributed import Client, LocalCluster

    source = write_names(tmp_path / "names.txt", make_names(30000, seed=11))
    items = read_names(source)
    out = tmp_path / "out"
    outcome: dict[str, object] = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.run(lambda: __import__("detector.names").names.check_names(["warm"]))

        def run() -> None:
            outcome["summary"] = run_backfill(
                "names", items, out, scheduler=cluster.scheduler_address, partition_size=250)

        thread = threading.Thread(target=run)
        thread.start()
        victim: tuple[int, list[str]] | None = None
        deadline = time.monotonic() + 60
        while victim is None and thread.is_alive() and time.monotonic() < deadline:
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if busy and len(list(out.glob("part-*.parquet"))) >= 2:
                address, keys = next(iter(busy.items()))
                pid = client.run(os.getpid, workers=[address])[address]
                os.kill(pid, signal.SIGKILL)
                victim = (pid, [str(k) for k in keys])
            time.sleep(0.005)
        thread.join(timeout=120)
    assert victim is not None, "the run ended before a worker could be killed"
    assert not psutil.pid_exists(victim[0]) or psutil.Process(victim[0]).status() == "zombie"
    summary = outcome["summary"]
    assert summary.failed == [] and summary.rows == len(items)
    table = _assert_complete(out, source)
    in_flight = {int(key.split("-")[3]) for key in victim[1]}
    lines = set(table["line"])
    for index in in_flight:  # the partitions the dead worker held were run again
        assert {i.line for i in items[index * 250:(index + 1) * 250]} <= lines


def test_missing_input_is_exit_2_naming_it(tmp_path: Path) -> None:
    result = run_warden("backfill", "names", "--input", str(tmp_path / "nope.txt"),
                        "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    message = f"warden: {tmp_path / 'nope.txt'}: no such file"
    assert result.stderr.strip().splitlines()[-1] == message
    assert not (tmp_path / "out").exists()


def test_bad_worker_count_is_exit_2(tmp_path: Path) -> None:
    source = write_names(tmp_path / "n.txt", ["requests"])
    result = run_warden("backfill", "names", "--input", str(source), "--out",
                        str(tmp_path / "out"), "--workers", "0")
    assert result.returncode == 2 and "--workers" in result.stderr


def test_out_folder_of_another_input_is_exit_2(tmp_path: Path, dask_cluster) -> None:
    out = tmp_path / "out"
    first = write_names(tmp_path / "a.txt", ["requests", "numpy"])
    run_backfill("names", read_names(first), out, scheduler=dask_cluster.scheduler_address)
    other = write_names(tmp_path / "b.txt", ["flask"])
    result = run_warden("backfill", "names", "--input", str(other), "--out", str(out))
    assert result.returncode == 2
    assert "another input" in result.stderr and str(out) in result.stderr


def test_unreachable_scheduler_is_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = write_names(tmp_path / "n.txt", ["requests"])
    impatient = tmp_path / "impatient.toml"
    impatient.write_text("[backfill]\nconnect_timeout_s = 1\n", encoding="utf-8")
    result = run_warden("backfill", "names", "--input", str(source), "--out",
                        str(tmp_path / "out"), "--scheduler", f"tcp://127.0.0.1:{port}",
                        "--policy", str(impatient))
    assert result.returncode == 2
    assert f"tcp://127.0.0.1:{port}" in result.stderr


def test_policy_file_changes_the_decisions_and_guards_the_resume(
    tmp_path: Path, dask_cluster
) -> None:
    from detector.names import NameChecker, check_names

    source = write_names(tmp_path / "names.txt", make_names(300, seed=5))
    items = read_names(source)
    strict = tmp_path / "strict.toml"
    strict.write_text("[names]\nflag_threshold = 0.95\n", encoding="utf-8")
    out = tmp_path / "out"
    summary = run_backfill("names", items, out, scheduler=dask_cluster.scheduler_address,
                           policy=load_policy(strict))
    table = _read(out)
    want = NameChecker(policy=load_policy(strict)).check_many(table["name"].tolist())
    assert table["flagged"].tolist() == [r.flagged for r in want]
    shipped_flags = sum(r.flagged for r in check_names(table["name"].tolist()))
    assert summary.flagged == sum(r.flagged for r in want) < shipped_flags

    # The same folder with the shipped policy would mix two policies' decisions.
    result = run_warden("backfill", "names", "--input", str(source), "--out", str(out))
    assert result.returncode == 2 and "policy" in result.stderr


def test_bad_policy_file_is_exit_2(tmp_path: Path) -> None:
    source = write_names(tmp_path / "n.txt", ["requests"])
    policy = tmp_path / "bad.toml"
    policy.write_text("[names]\nflag_threshhold = 0.9\n", encoding="utf-8")
    result = run_warden("backfill", "names", "--input", str(source), "--out",
                        str(tmp_path / "out"), "--policy", str(policy))
    assert result.returncode == 2
    assert "flag_threshhold" in result.stderr
    assert not (tmp_path / "out").exists()


def test_empty_input_writes_no_partitions_and_starts_no_cluster(tmp_path: Path) -> None:
    source = tmp_path / "empty.txt"
    source.write_bytes(b"")
    summary = run_backfill("names", read_names(source), tmp_path / "out", workers=1)
    assert (summary.rows, summary.partitions, summary.startup_seconds) == (0, 0, 0.0)
    assert list((tmp_path / "out").glob("part-*")) == []

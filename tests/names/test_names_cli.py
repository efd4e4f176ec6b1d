"""`warden check-name` and `warden data refresh` through the real console script."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

WARDEN = str(Path(sys.executable).with_name("warden"))


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WARDEN, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_json_follows_the_contract() -> None:
    done = run("check-name", "reqeusts", "requests", "--json")
    assert done.returncode == 0, done.stderr
    first, second = lines(done.stdout)
    assert first["name"] == "reqeusts" and first["normalized"] == "reqeusts"
    assert first["flagged"] is True and 0.5 <= first["score"] <= 1.0
    best = first["matches"][0]
    assert best["target"] == "requests" and best["kind"] == "swapped-characters"
    assert isinstance(best["target_rank"], int) and best["distance"] == 1
    assert "requests" in first["reasons"][0]
    assert second["matches"] == [] and second["flagged"] is False


BAD_NAMES = {
    "": "empty name",
    "naïve-lib": "non-ASCII",
    "a" * 201: "at most 200",
    "bad name!": "not a valid project name",
    "-leading": "not a valid project name",
}


def test_bad_names_get_an_error_and_the_batch_goes_on(tmp_path: Path) -> None:
    names = ["reqeusts", *BAD_NAMES, "numpyy"]
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    done = run("check-name", "--file", str(path), "--json")
    assert done.returncode == 0, done.stderr
    out = lines(done.stdout)
    assert [o["name"] for o in out] == names  # one line per input, in order
    assert out[0]["flagged"] and out[-1]["error"] is None
    for record, (name, why) in zip(out[1:-1], BAD_NAMES.items(), strict=True):
        assert record["name"] == name
        assert why in record["error"]
        assert record["flagged"] is False and record["score"] == 0.0


def test_table_shows_a_clear_line_for_a_bad_name() -> None:
    done = run("check-name", "reqeusts", "bad name!")
    assert done.returncode == 0
    assert "not a valid project name" in done.stdout
    assert "2 names, 1 flagged, 1 errors" in done.stderr


def test_undecodable_bytes_are_a_per_name_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"requests\ncaf\xe9\nnumpy\n")
    out = lines(run("check-name", "--file", str(path), "--json").stdout)
    assert len(out) == 3 and "non-ASCII" in out[1]["error"] and out[2]["error"] is None


def test_stdin_and_gzipped_tsv(tmp_path: Path) -> None:
    out = lines(run("check-name", "--file", "-", "--json", stdin="reqeusts\nnumpy\n").stdout)
    assert [o["name"] for o in out] == ["reqeusts", "numpy"]
    path = tmp_path / "names.tsv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("name\tlatest_version\nreqeusts\t1.0\nnumpy\t2.0\n")
    out = lines(run("check-name", "--file", str(path), "--json").stdout)
    assert [o["name"] for o in out] == ["reqeusts", "numpy"]


@pytest.mark.parametrize("target", ["missing.txt", "a-directory"])
def test_unreadable_file_exits_2_with_one_line(tmp_path: Path, target: str) -> None:
    (tmp_path / "a-directory").mkdir()
    done = run("check-name", "--file", str(tmp_path / target), "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1 and target in message


def test_no_names_is_bad_usage() -> None:
    done = run("check-name")
    assert done.returncode == 2 and "NAME" in done.stderr


def test_refresh_from_top_pypi_packages_json(tmp_path: Path) -> None:
    source = tmp_path / "top.json"
    source.write_text(
        json.dumps(
            {
                "last_update": "2026-11-30 10:00:00",
                "rows": [
                    {"project": "Zzfancy_Lib", "download_count": 9},
                    {"project": "requests", "download_count": 5},
                ],
            }
        )
    )
    dest = tmp_path / "popular.tsv"
    done = run("data", "refresh", str(source), "--dest", str(dest))
    assert done.returncode == 0, done.stderr
    assert dest.read_text().splitlines() == ["rank\tname", "1\tzzfancy-lib", "2\trequests"]

    from detector.names import NameChecker
    from detector.popular import read_corpus

    checker = NameChecker(read_corpus(dest))
    assert checker.check("zzfancy-lbi").best.target == "zzfancy-lib"


def test_refresh_from_tsv_and_bad_sources(tmp_path: Path) -> None:
    good = tmp_path / "top.tsv"
    good.write_text("rank\tname\n2\tbar\n1\tFoo_Bar\n")
    dest = tmp_path / "popular.tsv"
    assert run("data", "refresh", str(good), "--dest", str(dest)).returncode == 0
    assert dest.read_text().splitlines() == ["rank\tname", "1\tfoo-bar", "2\tbar"]

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    done = run("data", "refresh", str(broken), "--dest", str(dest))
    assert done.returncode == 2 and "not valid JSON" in done.stderr
    assert dest.read_text().splitlines()[1] == "1\tfoo-bar"  # the old list is kept
    done = run("data", "refresh", str(tmp_path / "nope.tsv"), "--dest", str(dest))
    assert done.returncode == 2 and "nope.tsv" in done.stderr

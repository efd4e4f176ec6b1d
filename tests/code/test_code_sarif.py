"""`warden scan --format sarif`: a SARIF 2.1.0 log valid against the official schema
(tests/code/data/sarif-schema-2.1.0.json), carrying the same findings as the JSON Lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from code_fixtures import BENIGN_PKG, MISS_HATCH_HOOK, MISS_SETUP_IMPORT, write_dir, write_sdist
from jsonschema import Draft4Validator

from detector.code.rules import catalogue
from warden.sarif import PACKAGE_RULE

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def warden(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warden", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env={**os.environ})


def _valid(log: dict) -> None:
    errors = sorted(Draft4Validator(SCHEMA).iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_the_schema_rejects_a_broken_log():
    """The validator is live: a log missing its required parts fails."""
    assert list(Draft4Validator(SCHEMA).iter_errors({"version": "2.1.0", "runs": [{}]}))
    Draft4Validator.check_schema(SCHEMA)


@pytest.fixture
def packages(tmp_path):
    write_dir(tmp_path / "bad-dir", MISS_SETUP_IMPORT)
    write_sdist(tmp_path / "hook-1.0.tar.gz", MISS_HATCH_HOOK)
    write_dir(tmp_path / "fine dir", BENIGN_PKG)
    (tmp_path / "broken.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    return tmp_path, ["bad-dir", "hook-1.0.tar.gz", "fine dir", "broken.tar.gz"]


def test_sarif_is_valid_and_matches_the_json_lines(packages):
    root, names = packages
    proc = warden("scan", "--format", "sarif", *names, cwd=root)
    assert proc.returncode == 0, proc.stderr
    log = json.loads(proc.stdout)
    _valid(log)
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [*catalogue(), PACKAGE_RULE]
    lines = [json.loads(line) for line in
             warden("scan", "--json", *names, cwd=root).stdout.splitlines()]
    flagged = [row["path"] for row in lines if row["flagged"]]
    assert "bad-dir" in flagged and "hook-1.0.tar.gz" in flagged
    found = [r for r in run["results"] if r["ruleId"] != PACKAGE_RULE]
    assert [(r["ruleId"], r["properties"]["package"]) for r in found] == [
        (f["rule"], row["path"]) for row in lines for f in row["findings"]]
    assert sorted(r["properties"]["package"] for r in run["results"]
                  if r["ruleId"] == PACKAGE_RULE) == sorted(flagged)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert run["properties"]["packages"] == [
        {k: v for k, v in row.items() if k != "findings"} for row in lines]


def test_locations_point_at_files_in_directories_and_archives(packages):
    root, names = packages
    run = json.loads(warden("scan", "--format", "sarif", *names, cwd=root).stdout)["runs"][0]
    artifacts = run["artifacts"]
    by_package = {}
    for result in run["results"]:
        location = result["locations"][0]["physicalLocation"]
        by_package.setdefault(result["properties"]["package"], []).append(location)
    for location in by_package["bad-dir"]:
        uri = location["artifactLocation"]["uri"]
        assert location["artifactLocation"]["uriBaseId"] == "SRCROOT"
        assert (root / uri).exists(), uri  # a real path under the scanned directory
    lined = [loc for loc in by_package["bad-dir"] if "region" in loc]
    assert lined and all(loc["region"]["startLine"] >= 1 for loc in lined)
    inner = next(loc for loc in by_package["hook-1.0.tar.gz"]
                 if "parentIndex" in artifacts[loc["artifactLocation"]["index"]])
    parent = artifacts[artifacts[inner["artifactLocation"]["index"]]["parentIndex"]]
    assert parent["location"]["uri"] == "hook-1.0.tar.gz"
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == root.as_uri() + "/"
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["message"]["text"].startswith("broken.tar.gz:")
    assert run["invocations"][0]["executionSuccessful"] is True


def test_all_unreadable_still_prints_a_valid_log_and_exits_2(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 truncated")
    proc = warden("scan", "--format", "sarif", "broken.zip", cwd=tmp_path)
    assert proc.returncode == 2 and "broken.zip" in proc.stderr
    log = json.loads(proc.stdout)
    _valid(log)
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_format_flags_are_checked(tmp_path):
    write_dir(tmp_path / "p", BENIGN_PKG)
    proc = warden("scan", "--json", "--format", "sarif", "p", cwd=tmp_path)
    assert proc.returncode == 2 and "--json" in proc.stderr and not proc.stdout
    proc = warden("scan", "--format", "xml", "p", cwd=tmp_path)
    assert proc.returncode == 2 and "sarif" in proc.stderr
    same = warden("scan", "--format", "json", "p", cwd=tmp_path)
    assert same.stdout == warden("scan", "--json", "p", cwd=tmp_path).stdout

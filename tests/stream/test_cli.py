"""`warden score`, `warden simulate` and `warden replay` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WARDEN = [sys.executable, "-m", "warden"]


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WARDEN, *args], capture_output=True, text=True, input=stdin,
                          timeout=300)


@pytest.fixture(scope="module")
def stream_files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("stream")
    events, labels = folder / "events.jsonl", folder / "labels.jsonl"
    done = _run("simulate", "--days", "8", "--seed", "4", "--campaigns", "typosquat-waves",
                "--crowds", "none",
                "--first-campaign-day", "4", "--scale", "0.3", "--out", str(events),
                "--labels", str(labels))
    assert done.returncode == 0, done.stderr
    return events, labels


def test_simulate_writes_events_and_labels(stream_files) -> None:
    events, labels = stream_files
    rows = [json.loads(line) for line in events.read_text().splitlines()]
    truth = [json.loads(line) for line in labels.read_text().splitlines()]
    assert len(rows) == len(truth) > 5000
    assert {t["kind"] for t in truth} == {"baseline", "typosquat-waves"}
    again = _run("simulate", "--days", "8", "--seed", "4", "--campaigns", "typosquat-waves",
                 "--crowds", "none", "--first-campaign-day", "4", "--scale", "0.3")
    assert again.stdout == events.read_text()


def test_score_json_lines_one_per_event_plus_breaker_lines(stream_files, tmp_path) -> None:
    events, _ = stream_files
    campaigns = tmp_path / "campaigns.jsonl"
    done = _run("score", str(events), "--json", "--campaigns", str(campaigns))
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    decisions = [o for o in out if "decision" in o]
    assert len(decisions) == len(events.read_text().splitlines())
    assert any("breaker" in o for o in out)
    found = [json.loads(line) for line in campaigns.read_text().splitlines()]
    assert found and all(c["id"].startswith("c-") for c in found)


def test_score_from_stdin_with_a_bad_line() -> None:
    good = {"id": "a", "ts": "2024-03-26T10:00:00Z", "type": "account.created",
            "account": {"username": "bob"}}
    done = _run("score", "-", stdin=json.dumps(good) + "\n{broken\n")
    assert done.returncode == 0
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["id"] == "a" and second["line"] == 2 and "not valid JSON" in second["error"]
    assert "1 lines with errors" in done.stderr


def test_score_missing_file_exits_2_naming_it(tmp_path) -> None:
    missing = tmp_path / "nope.jsonl"
    done = _run("score", str(missing))
    assert done.returncode == 2 and str(missing) in done.stderr and done.stdout == ""


def test_score_bad_policy_exits_2(tmp_path, stream_files) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[stream]\nno_such_key = 1\n")
    done = _run("score", str(stream_files[0]), "--policy", str(policy))
    assert done.returncode == 2 and "no_such_key" in done.stderr


def test_simulate_rejects_unknown_campaign_kind() -> None:
    done = _run("simulate", "--days", "1", "--campaigns", "zombies")
    assert done.returncode == 2 and "zombies" in done.stderr


def test_replay_reports_pauses_and_their_cost(stream_files, tmp_path) -> None:
    events, labels = stream_files
    done = _run("replay", str(events), "--labels", str(labels), "--json")
    assert done.returncode == 0, done.stderr
    (result,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert result["timeline"], "the typosquat wave should pause a scope"
    assert result["false_trips"] == 0
    assert result["campaign_events"] > 0
    assert 0 <= result["campaign_events_let_through"] <= result["campaign_events"]
    for pause in result["timeline"]:
        assert pause["scope"] in ("account.created", "project.created", "release.uploaded")
        assert pause["start"] and pause["reason"]


def test_replay_counts_false_trips_of_a_trigger_happy_policy(stream_files, tmp_path) -> None:
    events, labels = stream_files
    quiet = tmp_path / "quiet.jsonl"  # the first days: legitimate traffic only
    quiet.write_text("".join(events.read_text().splitlines(keepends=True)[:2500]))
    policy = tmp_path / "policy.toml"
    policy.write_text("[stream]\nreview_threshold = 0.1\n\n[breaker]\n"
                      "trip_rules = [{window_minutes = 60, flagged = 2}]\n")
    done = _run("replay", str(quiet), "--labels", str(labels), "--policy", str(policy), "--json")
    (loose,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert loose["campaign_events"] == 0
    assert loose["false_trips"] == len(loose["timeline"]) > 0
    assert loose["legitimate_events_held"] > 0


def test_replay_human_output_and_missing_labels(stream_files, tmp_path) -> None:
    events, _ = stream_files
    short = tmp_path / "short.jsonl"
    short.write_text("".join(events.read_text().splitlines(keepends=True)[:500]))
    done = _run("replay", str(short))
    assert done.returncode == 0 and "events" in done.stdout
    report = tmp_path / "report.txt"
    done = _run("replay", str(short), "--out", str(report))
    assert done.returncode == 0 and done.stdout == "" and "events" in report.read_text()
    done = _run("replay", str(events), "--labels", str(tmp_path / "none.jsonl"))
    assert done.returncode == 2 and "none.jsonl" in done.stderr


def test_replay_bad_labels_exit_2(stream_files, tmp_path) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text("not json\n")
    done = _run("replay", str(stream_files[0]), "--labels", str(labels))
    assert done.returncode == 2 and "labels line 1" in done.stderr


def test_replay_compares_two_policies_side_by_side(stream_files, tmp_path) -> None:
    events, labels = stream_files
    quiet = tmp_path / "quiet.jsonl"
    quiet.write_text("".join(events.read_text().splitlines(keepends=True)[:2500]))
    loose = tmp_path / "loose.toml"
    loose.write_text("[stream]\nreview_threshold = 0.1\n\n[breaker]\n"
                     "trip_rules = [{window_minutes = 60, flagged = 2}]\n")
    done = _run("replay", str(quiet), "--labels", str(labels), "--compare", str(loose),
                "--json")
    assert done.returncode == 0, done.stderr
    both = json.loads(done.stdout)
    assert both["policies"] == ["shipped", "loose.toml"]
    shipped, trigger_happy = both["results"]
    assert trigger_happy["false_trips"] > shipped["false_trips"]
    text = _run("replay", str(quiet), "--labels", str(labels), "--compare", str(loose))
    header, *rows = text.stdout.splitlines()
    assert header.split() == ["shipped", "loose.toml"]
    pauses = next(r for r in rows if r.startswith("pauses"))
    assert pauses.split()[1:] == [str(len(shipped["timeline"])),
                                  str(len(trigger_happy["timeline"]))]


def test_replay_collateral_sets_scoped_against_whole_type_pauses(tmp_path) -> None:
    events, labels = tmp_path / "events.jsonl", tmp_path / "labels.jsonl"
    done = _run("simulate", "--days", "9", "--seed", "4", "--campaigns",
                "one-domain,ip-range", "--crowds", "none", "--first-campaign-day", "5",
                "--scale", "0.5", "--out", str(events), "--labels", str(labels))
    assert done.returncode == 0, done.stderr
    done = _run("replay", str(events), "--labels", str(labels), "--collateral", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    rows = report["by_kind"]
    assert set(rows) == {"baseline", "one-domain", "ip-range"}
    assert rows["one-domain"]["attack"] and not rows["baseline"]["attack"]
    scoped, whole = report["pauses"]["scoped"], report["pauses"]["whole_type"]
    assert any("|" in scope for scope in scoped)  # cohort pauses, scoped
    assert all("|" not in scope for scope in whole)  # whole types only
    # a cohort pause refuses fewer legitimate registrations than the whole type
    assert rows["baseline"]["scoped"] < rows["baseline"]["whole_type"]
    text = _run("replay", str(events), "--labels", str(labels), "--collateral")
    assert "legitimate refused" in text.stdout and "attack let through" in text.stdout
    bad = _run("replay", str(events), "--collateral")
    assert bad.returncode == 2 and "--labels" in bad.stderr

"""Sweeps over a batch of names (detector.sweeps, detector.names.sweeps, check-name --file)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.names import NameResult, bursts, default_checker
from detector.names.sweeps import BatchSweeps, apply_sweeps, member_target
from detector.policy import build_policy, load_policy
from detector.resources import data_path
from detector.sweeps import SWEEP_KINDS, SweepMemory, boosted, is_member_match
from detector.timestamps import format_ts

WARDEN = str(Path(sys.executable).with_name("warden"))
HOUR = 3600.0
CFG = load_policy().names

# Five typos of one mid-ranked target, each scoring below the threshold or near it alone.
SWEEP = ["pyperclipe", "pyperclp", "pypreclip", "pyperclpi", "pyperrclip"]
# Five members of one family: a brand plus a word (one of them a popular name).
FAMILY = ["acme-core", "acme-cli", "acme-utils", "acme-api", "acme-sdk"]
# Five names imitating five different targets, and names resembling nothing.
UNRELATED = ["reqeusts", "nunpy", "djagno", "zqvtlamb", "hortenzia-qq"]


def results(names: list[str]) -> list[NameResult]:
    return default_checker().check_many(names)


def logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def test_the_sweep_names_are_members_of_one_target() -> None:
    """The table's premise: each sweep name alone is an edit-based imitation of one target."""
    checked = results(SWEEP)
    assert {member_target(r, CFG) for r in checked} == {"pyperclip"}
    assert all(r.best is not None and r.best.kind in SWEEP_KINDS for r in checked)


@pytest.mark.parametrize(("names", "raised"), [
    (SWEEP, True),
    (FAMILY, False),
    (UNRELATED, False),
    (SWEEP + FAMILY + UNRELATED, None),  # None: only the sweep's names are raised
])
def test_sweep_vs_family_vs_unrelated(names: list[str], raised: bool | None) -> None:
    before = results(names)
    after = apply_sweeps(before)
    for old, new in zip(before, after, strict=True):
        member = old.name in SWEEP
        if raised is False or (raised is None and not member):
            assert new == old, old.name
            continue
        assert new.sweep is not None and new.sweep["target"] == "pyperclip"
        assert new.sweep["count"] == len(SWEEP) - 1
        assert new.sweep["individual_score"] == old.score
        assert new.score > old.score
        assert new.flagged == (new.score >= CFG.flag_threshold)
        assert new.matches == old.matches  # the matches keep their own scores
        reason = new.reasons[-1]
        assert "'pyperclip'" in reason
        listed = [name for name in SWEEP if name != old.name][: CFG.sweep_listed]
        assert all(f"'{name}'" in reason for name in listed)
        assert f"'{old.name}'" not in reason


def test_a_sweep_flags_names_that_are_not_flagged_alone() -> None:
    before = results(SWEEP)
    after = apply_sweeps(before)
    assert sum(r.flagged for r in after) > sum(r.flagged for r in before)


def test_family_kinds_never_make_a_sweep() -> None:
    """Brand-plus-word matches are what legitimate families share: never members."""
    for kind in ("affix", "combosquat", "dropped-words", "word-reorder", "plural",
                 "version-suffix", "digit-change"):
        assert not is_member_match(kind, 1, 0.99, CFG), kind
    assert is_member_match("affix", 2, 0.99, CFG)  # an affix on a typo (`reqeusts-py`)
    assert not is_member_match("swapped-characters", 1, CFG.sweep_min_score / 2, CFG)


def test_boost_grows_with_siblings_and_saturates() -> None:
    gains = [logit(boosted(0.2, k, CFG)) - logit(0.2) for k in range(0, 40)]
    assert gains[0] == 0
    assert all(b > a for a, b in pairwise(gains[:11]))
    assert max(gains) <= CFG.sweep_boost + 1e-3
    assert gains[-1] > 0.9 * CFG.sweep_boost
    off = build_policy_with(sweep_boost=0.0)
    assert boosted(0.2, 5, off) == 0.2 and not is_member_match("keyboard-typo", 1, 0.9, off)


def build_policy_with(**names: object):  # type: ignore[no-untyped-def]
    import tomllib

    with open(data_path("policy.toml"), "rb") as handle:
        tables = tomllib.load(handle)
    tables["names"].update(names)
    return build_policy(tables).names


def test_the_reason_caps_the_list_of_siblings() -> None:
    many = [*SWEEP, "pypercli", "pyperclipp", "pyperlip"]
    after = apply_sweeps(results(many))
    members = [r for r in after if r.sweep is not None]
    assert len(members) >= 7
    for r in members:
        assert len(r.sweep["siblings"]) == CFG.sweep_listed
        assert f"and {r.sweep['count'] - CFG.sweep_listed} more" in r.reasons[-1]


def test_duplicates_are_one_name() -> None:
    after = apply_sweeps(results(["pyperclipe", "pyperclipe", "PyPerClipe"]))
    assert all(r.sweep is None for r in after)
    after = apply_sweeps(results(["pyperclipe", "pyperclipe", "pyperclp"]))
    assert [r.sweep["count"] for r in after] == [1, 1, 1]  # type: ignore[index]


MIXED = [*SWEEP, *FAMILY, *UNRELATED, "pyperclipe", "reqeust", "requestss"]
MIXED_RESULTS = results(MIXED)


@settings(max_examples=60, deadline=None)
@given(st.permutations(range(len(MIXED))))
def test_a_batch_does_not_depend_on_its_order(order: list[int]) -> None:
    expected = apply_sweeps(MIXED_RESULTS)
    shuffled = apply_sweeps([MIXED_RESULTS[i] for i in order])
    assert [shuffled[order.index(i)] for i in range(len(MIXED))] == expected


TIMES = [0.0, 1.0, 1.0, 5.0, 30.0, 2.0, 3.0, 4.0, 9.0, 9.0, 0.5, 7.0, 8.0, 60.0, 61.0, 6.0,
         2.0, 3.0]


@settings(max_examples=60, deadline=None)
@given(st.permutations(range(len(MIXED))))
def test_a_timed_batch_does_not_depend_on_its_order(order: list[int]) -> None:
    times = [t * HOUR for t in TIMES]
    expected = apply_sweeps(MIXED_RESULTS, times)
    shuffled = apply_sweeps([MIXED_RESULTS[i] for i in order], [times[i] for i in order])
    assert [shuffled[order.index(i)] for i in range(len(MIXED))] == expected


def test_with_times_later_members_score_higher_and_the_first_gains_nothing() -> None:
    before = results(SWEEP)
    times = [i * HOUR for i in range(len(SWEEP))]
    after = apply_sweeps(before, times)
    assert after[0] == before[0]  # nothing came before it
    gains = [logit(new.score) - logit(old.score) for old, new in zip(before, after, strict=True)]
    assert all(b > a for a, b in pairwise(gains))
    for i, new in enumerate(after[1:], start=1):
        assert new.sweep is not None and new.sweep["count"] == i
        assert new.sweep["siblings"] == [r.normalized for r in before[:i]][: CFG.sweep_listed]
        assert new.sweep["window_hours"] == CFG.sweep_window_hours


def test_siblings_outside_the_window_do_not_count() -> None:
    window = CFG.sweep_window_hours * HOUR
    before = results(SWEEP[:3])
    apart = apply_sweeps(before, [0.0, window + 1, 2 * window + 2])
    assert apart == before
    # The third sees the second (within the window) but not the first (beyond it).
    after = apply_sweeps(before, [0.0, window * 0.75, window * 1.5])
    assert after[0] == before[0]
    assert after[1].sweep["siblings"] == [before[0].normalized]  # type: ignore[index]
    assert after[2].sweep["siblings"] == [before[1].normalized]  # type: ignore[index]


def test_a_stream_answers_as_the_timed_batch() -> None:
    """SweepMemory (the stream) and BatchSweeps (a batch with times) are one rule."""
    before = results([*SWEEP, "pypercli", *FAMILY, "reqeusts", "requets"])
    times = [t * HOUR for t in (0, 2, 3, 30, 31, 32, 1, 1.5, 2.5, 3.5, 4, 5, 6)]
    batch = apply_sweeps(before, times)
    memory = SweepMemory(CFG)
    for result, ts, expected in sorted(zip(before, times, batch, strict=True),
                                       key=lambda row: row[1]):
        target = member_target(result, CFG)
        sweep = None if target is None else memory.observe(
            result.normalized, target, result.score, ts)  # type: ignore[arg-type]
        if sweep is None:
            assert expected.sweep is None
        else:
            assert expected.sweep == sweep.to_dict() and expected.score == sweep.score
    # A checkpoint of the memory restores it exactly.
    copy = SweepMemory(CFG)
    copy.load(json.loads(json.dumps(memory.dump())))
    assert copy.targets == memory.targets and copy.dump() == memory.dump()


def test_batch_sweeps_holds_only_members() -> None:
    """Members of a sweep, or names a burst may raise (detector/names/bursts.py)."""
    batch = BatchSweeps()
    held = [batch.add(i, r) for i, r in enumerate(results(MIXED))]
    assert held == [member_target(r, CFG) is not None or bursts.is_member(r, CFG)
                    for r in results(MIXED)]
    assert not all(held) and any(held)
    changed = batch.resolve(len(MIXED))
    assert set(changed) <= {i for i, h in enumerate(held) if h}


def test_an_error_or_no_match_is_never_a_member() -> None:
    [bad, none] = results(["", "zqvtlamb"])
    assert member_target(bad, CFG) is None and member_target(none, CFG) is None
    fake = replace(results(["pyperclipe"])[0], error="x")
    assert member_target(fake, CFG) is None


# -- end to end: the real console script ------------------------------------------------------


def check_file(tmp_path: Path, names: list[str], *options: str) -> dict[str, dict]:
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    done = subprocess.run([WARDEN, "check-name", "--file", str(path), "--json", *options],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    big = len(names) > CFG.sweep_batch_names and not options
    assert ("sweep_batch_names" in done.stderr) == big
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["name"] for row in rows] == names
    return {row["name"]: row for row in rows}


def test_check_name_file_json_scores_a_sweep(tmp_path: Path) -> None:
    # Filler spanning several output chunks, the sweep spread across them.
    filler = [f"zq{i}vt" for i in range(9000)]
    names = list(filler)
    for i, name in enumerate(SWEEP + FAMILY + UNRELATED):
        names.insert(i * 600, name)
    policy = tmp_path / "policy.toml"
    policy.write_text(f"[names]\nsweep_batch_names = {len(names)}\n")
    rows = check_file(tmp_path, names, "--policy", str(policy))
    alone = {r.name: r for r in results(SWEEP + FAMILY + UNRELATED)}
    for name in SWEEP:
        row = rows[name]
        assert row["sweep"]["target"] == "pyperclip" and row["sweep"]["count"] == 4
        assert row["score"] > alone[name].score and row["matches"][0]["score"] == alone[name].score
        assert "sweep:" in row["reasons"][-1]
        assert set(row["sweep"]["siblings"]) == set(SWEEP) - {name}
    for name in FAMILY + UNRELATED + filler[:50]:
        assert "sweep" not in rows[name]
        if name in alone:
            assert rows[name]["score"] == alone[name].score
    # The same names in another order: the same answers.
    again = check_file(tmp_path, list(reversed(names)), "--policy", str(policy))
    assert again == rows
    # With the shipped policy, so many names without times are not one window: no sweeps.
    plain = check_file(tmp_path, names)
    assert not any("sweep" in row for row in plain.values())
    assert all(plain[name]["score"] == alone[name].score for name in SWEEP)


@pytest.mark.parametrize("size", [CFG.sweep_batch_names, CFG.sweep_batch_names + 1])
def test_an_untimed_batch_is_one_window_up_to_a_size(size: int) -> None:
    names = SWEEP + [f"zq{i}vt" for i in range(size - len(SWEEP))]
    after = apply_sweeps(results(names))
    assert all((r.sweep is not None) == (size <= CFG.sweep_batch_names) for r in after[:5])
    # With times, the size does not matter.
    timed = apply_sweeps(results(names), [float(i) for i in range(size)])
    assert all(r.sweep is not None for r in timed[1:5])


def test_check_name_tsv_with_times_counts_siblings_within_the_window(tmp_path: Path) -> None:
    window = CFG.sweep_window_hours
    rows = [("pyperclipe", 0.0), ("acme-cli", 0.5), ("pyperclp", 1.0), ("pypreclip", 2.0),
            ("pyperclpi", 2.0 + window - 0.5)]  # the last: only 'pypreclip' within its window
    start = 1_700_000_000.0

    def write(order: list[tuple[str, float]]) -> Path:
        path = tmp_path / "timed.tsv"
        path.write_text("rank\tname\tfirst_seen\n" + "".join(
            f"\t{name}\t{format_ts(start + hours * HOUR)}\n" for name, hours in order))
        return path

    def run(path: Path) -> dict[str, dict]:
        done = subprocess.run([WARDEN, "check-name", "--file", str(path), "--json"],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return {row["name"]: row for row in map(json.loads, done.stdout.splitlines())}

    out = run(write(rows))
    assert "sweep" not in out["pyperclipe"] and "sweep" not in out["acme-cli"]
    assert out["pyperclp"]["sweep"]["siblings"] == ["pyperclipe"]
    assert out["pypreclip"]["sweep"]["siblings"] == ["pyperclipe", "pyperclp"]
    assert out["pyperclpi"]["sweep"]["siblings"] == ["pypreclip"]
    assert out["pyperclpi"]["sweep"]["window_hours"] == window
    assert run(write(list(reversed(rows)))) == out

    bad = tmp_path / "bad.tsv"
    bad.write_text("name\tts\npyperclipe\tyesterday\n")
    done = subprocess.run([WARDEN, "check-name", "--file", str(bad), "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "line 2" in done.stderr and "yesterday" in done.stderr


@pytest.mark.parametrize("spool_chars", [1 << 30, 50])  # in memory; spilled to a file
def test_the_cli_spool_fills_its_holes_in_order(spool_chars: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from warden.commands import name_check as command

    monkeypatch.setattr(command, "SPOOL_CHARS", spool_chars)
    checked = results(["pyperclipe", "zqvtlamb", "pyperclp", "hortenzia-qq", "djagno", "x1"])
    out = command._PatchedLines(lambda _count: None)
    pending: list[str] = []
    for position, result in enumerate(checked):
        if position in (0, 2, 3):
            out.hole(pending, position)
            pending.clear()
        else:
            pending.append(result.to_json())
    out.write(pending)
    text = io.StringIO()
    out.copy_to(text, {0: checked[0], 2: checked[2], 3: checked[3]})
    assert out.lines == len(checked)
    assert text.getvalue() == "".join(r.to_json() + "\n" for r in checked)
    assert (out.file is not None) == (spool_chars < 1000)

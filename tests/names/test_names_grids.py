"""Grids: a window whose names cross a few pieces with each other, as a word-salad
generator's do (detector/names/grids.py), in a batch, through the stream and the CLI."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from window_names import (
    CFG,
    NOISE,
    STATS,
    check,
    check_name_file,
    noise_names,
    raised_by,
    through_stream,
)

from detector.names import BurstMemory, NameResult
from detector.names.bursts import PieceCounts, is_member
from detector.names.grids import GridWindow, find_grids, grid_key
from detector.names.sweeps import apply_sweeps
from detector.policy import PolicyError, build_policy, load_policy

# A generator's vocabulary (the shape of the week of 2023-02-20, not its words).
WORDS = ["get", "lib", "game", "post", "ram", "ultra", "tool", "http"]


def crossed(words: list[str]) -> list[str]:
    return [a + b for a in words for b in words if a != b]





def grid_names(after: list[NameResult]) -> set[str]:
    return raised_by(after, "grid")


def test_the_member_scores_low_alone() -> None:
    """`getlib` is within an edit of `geolib`: a member (>= burst_min_score), far below
    the flag threshold alone."""
    (result,) = check(["getlib"])
    assert is_member(result, CFG) and result.score < CFG.flag_threshold
    assert result.matches[0].target == "geolib"


@pytest.mark.parametrize(("label", "others", "raised"), [
    # The generator: every pair of its words, glued.
    ("crossed vocabulary", crossed(WORDS), True),
    # Three squares around get|lib: post, ram and ultra start both `lib` and `game`.
    ("three squares", ["getgame", "postlib", "postgame", "ramlib", "ramgame", "ultralib",
                       "ultragame"], True),
    ("two squares", ["getgame", "postlib", "postgame", "ramlib", "ramgame", "ultralib"],
     False),
    # Names sharing its start and its end, but whose other pieces make no name together.
    ("shared ends, no square", ["getgame", "gethttp", "getpost", "ramlib", "toollib",
                                "ultralib"], False),
    # The same crossing written as a family writes it: separators take no part.
    ("family with separators", ["get-game", "post-lib", "post-game", "ram-lib", "ram-game",
                                "ultra-lib", "ultra-game"], False),
    ("random names", noise_names(60), False),
    # Three starts crossed with three ends: too few to share a piece beyond chance (no
    # burst, tests/names/test_names_bursts.py), four squares.
    ("a small crossing", [a + b for a in ("get", "post", "ram") for b in ("lib", "game", "mc")],
     True),
])
def test_a_member_is_raised_by_three_squares_of_its_window(label: str, others: list[str],
                                                           raised: bool) -> None:
    names = ["getlib", *[name for name in others if name != "getlib"]]
    after = apply_sweeps(check(names), [0.0] * len(names), pieces=STATS)
    assert ("getlib" in grid_names(after)) is raised, label
    if raised:
        result = after[0]
        # Three squares raise its logit by three quarters of burst_boost (0.08 -> 0.47);
        # the whole vocabulary (36 squares) past the flag threshold.
        assert result.score > 0.4 and result.flagged is (result.score >= CFG.flag_threshold)
        assert result.flagged or label != "crossed vocabulary"
        assert result.reasons[-1].startswith("grid: ")
        grid = result.sweep["grid"]
        assert grid["start"] == "get" and grid["end"] == "lib" and grid["squares"] >= 3
        assert grid["names"] and "getlib" not in grid["names"]
        assert grid["individual_score"] < CFG.flag_threshold


def test_grids_do_not_depend_on_the_order_of_the_batch() -> None:
    names = crossed(WORDS) + noise_names(40)
    times = [float(i % 5) * 3600.0 for i in range(len(names))]
    first = apply_sweeps(check(names), times, pieces=STATS)
    order = list(range(len(names)))
    random.Random(4).shuffle(order)
    shuffled = apply_sweeps(check([names[i] for i in order]), [times[i] for i in order],
                            pieces=STATS)
    assert grid_names(first)
    assert {r.name: (r.score, r.reasons) for r in shuffled} == {
        r.name: (r.score, r.reasons) for r in first}


def test_names_beyond_the_window_do_not_cross() -> None:
    day = CFG.sweep_window_hours * 3600.0
    others = [name for name in crossed(WORDS) if name != "getlib"]
    early = apply_sweeps(check(["getlib", *others]), [2 * day + 1.0] + [0.0] * len(others),
                         pieces=STATS)
    assert "getlib" not in grid_names(early)
    within = apply_sweeps(check(["getlib", *others]), [day] + [0.0] * len(others),
                          pieces=STATS)
    assert "getlib" in grid_names(within)


def test_off_when_no_square_is_asked_for_or_bursts_are_off() -> None:
    names = crossed(WORDS)
    for key, value in (("grid_min_squares", 0), ("burst_boost", 0.0)):
        tables = load_policy().to_dict()
        tables["names"][key] = value
        policy = build_policy(tables)
        assert not grid_names(apply_sweeps(check(names), [0.0] * len(names), policy=policy,
                                           pieces=STATS)), key


def test_policy_rejects_a_negative_count_and_empty_pieces() -> None:
    for key, value in (("grid_min_squares", -1), ("grid_piece_min", 0),
                       ("grid_crossed_max", 0), ("grid_window_max_names", 0)):
        tables = load_policy().to_dict()
        tables["names"][key] = value
        with pytest.raises(PolicyError, match=key):
            build_policy(tables)


def test_keys_drop_a_leading_ecosystem_word_and_skip_separators() -> None:
    assert grid_key("py-getlib", CFG) == "getlib"
    assert grid_key("get-lib", CFG) is None
    assert grid_key("abc", CFG) is None  # too short for two pieces
    assert grid_key("a" * (CFG.grid_name_max + 1), CFG) is None


def test_the_index_empties_as_names_leave_and_is_capped() -> None:
    window = GridWindow(replace(CFG, grid_window_max_names=5))
    names = crossed(WORDS)[:9]
    for name in names:
        window.add(name)
        window.add(name)  # twice is once
    assert list(window.names) == names[-5:]
    for name in names:
        window.remove(name)
    assert not window.names and not window.keys and not window.starts and not window.ends


def test_squares_are_looked_for_among_the_first_others_only() -> None:
    """Red team, the cost bound and its price: each piece's first grid_crossed_max other
    pieces are tried (in the order they entered), so a flood cannot make one name cost
    more than that squared look-ups a split; an attacker who registers that many names
    ending in `lib` before the generator's hides its squares behind them."""
    decoys = [f"{''.join(random.Random(i).choices(NOISE, k=5))}lib" for i in range(20)]
    generator = ["getgame", "postlib", "postgame", "ramlib", "ramgame", "ultralib",
                 "ultragame"]
    rows = [(float(i), name, i) for i, name in enumerate([*decoys, *generator, "getlib"])]
    (member,) = check(["getlib"])
    position = len(rows) - 1
    narrow = find_grids(rows, {position: member}, CFG, timed=True)
    wide = find_grids(rows, {position: member}, replace(CFG, grid_crossed_max=32), timed=True)
    assert position not in narrow
    assert wide[position].squares == 3



@pytest.mark.parametrize("seed", [1, 2])
def test_the_stream_raises_what_a_timed_batch_raises(seed: int) -> None:
    rng = random.Random(seed)
    names = crossed(WORDS) + noise_names(80, seed)
    times = [rng.uniform(0.0, 3 * CFG.sweep_window_hours * 3600.0) for _ in names]
    batch = apply_sweeps(check(names), times, pieces=STATS)
    expected = {r.name: (r.score, r.reasons[-1]) for r in batch
                if r.sweep is not None and {"burst", "run", "grid"} & r.sweep.keys()}
    assert through_stream(names, times) == expected
    assert any(reason.startswith("grid: ") for _, reason in expected.values())


def test_a_checkpoint_keeps_the_grid_index() -> None:
    names = crossed(WORDS)
    times = [i * 60.0 for i in range(len(names))]
    whole = through_stream(names, times)
    first = BurstMemory(CFG, STATS)
    cut = 30
    through_stream(names[:cut], times[:cut], first)
    restored = BurstMemory(CFG, STATS)
    restored.load(json.loads(json.dumps(first.dump())))
    assert restored.grids.starts == first.grids.starts and restored.grids.names
    rest = through_stream(names[cut:], times[cut:], restored)
    assert rest == {name: got for name, got in whole.items() if name in names[cut:]}
    assert any(reason.startswith("grid: ") for _, reason in rest.values())


def test_a_release_is_raised_by_a_grid_but_does_not_join_it() -> None:
    memory = BurstMemory(CFG, STATS)
    for i, name in enumerate(crossed(WORDS)):
        if name != "getlib":
            memory.observe(name, float(i))
    (member,) = check(["getlib"])
    got = memory.observe("getlib", 100.0, member.score, register=False)
    assert got is not None and got.reason.startswith("grid: ")
    assert "getlib" not in memory.grids.names


def test_a_flood_of_crossing_names_keeps_the_index_bounded() -> None:
    """Red team: thousands of names built to cross (two random syllables each) through
    the stream; the index never holds more than grid_window_max_names names."""
    cap = 500
    cfg = replace(CFG, grid_window_max_names=cap)
    memory = BurstMemory(cfg, STATS)
    rng = random.Random(7)
    syllables = ["".join(rng.choices(NOISE, k=3)) for _ in range(60)]
    raised = 0
    for i in range(3_000):
        name = rng.choice(syllables) + rng.choice(syllables)
        got = memory.observe(name, float(i), 0.3)
        raised += got is not None and got.reason.startswith("grid: ")
        assert len(memory.grids) <= cap
    assert raised  # the flood is itself a grid


def test_check_name_file_with_times_raises_a_grid(tmp_path: Path) -> None:
    """A generator's names over a day, `getlib` last: in the JSON its grid names the
    others it crosses, registered before it."""
    names = [name for name in crossed(WORDS) if name != "getlib"] + ["getlib"]
    stamps = [f"2023-02-23T{i // 3:02d}:{i % 3 * 20:02d}:00Z" for i in range(len(names))]
    lines = check_name_file(tmp_path, names, stamps)
    assert [line["name"] for line in lines] == names
    got = {line["name"] for line in lines if "grid" in (line.get("sweep") or {})}
    assert "getlib" in got
    assert all(line["reasons"][-1].startswith("grid: ") for line in lines
               if line["name"] in got)
    grid = lines[-1]["sweep"]["grid"]
    assert grid["window_hours"] == CFG.sweep_window_hours and set(grid["names"]) < set(names)


def test_no_grids_without_members_or_live_statistics_as_in_the_stream() -> None:
    assert find_grids([], {}, CFG, timed=True) == {}
    empty = PieceCounts(0, {})
    names = crossed(WORDS)
    assert not grid_names(apply_sweeps(check(names), [0.0] * len(names), pieces=empty))
    assert not through_stream(names, [0.0] * len(names), BurstMemory(CFG, empty))

"""Bursts in a stream: ``BurstMemory`` answers, name by name in time order, what a timed
batch (``find_bursts``) answers for the same names (detector/names/burst_memory.py), for
distinct names at distinct times. (A batch may hold a name twice, and counts it until its
last time leaves the window; a stream's project is created once, and a name registered
again keeps its first time, as sweeps do.)"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest

from detector.names import BurstMemory, NameResult, default_checker
from detector.names.bursts import (
    Burst,
    find_bursts,
    is_member,
    load_pieces,
    piece_lengths,
    pieces,
)
from detector.policy import load_policy

# Bursts alone: runs (a slower window) and grids are tested in test_names_runs.py and
# test_names_grids.py.
CFG = replace(load_policy().names, run_window_days=0.0, grid_min_squares=0)
HOUR = 3600.0
WINDOW = CFG.sweep_window_hours * HOUR
STATS = load_pieces()

# The generator's grid of tests/names/test_names_bursts.py, beside legitimate names.
STARTS = ["pyw", "tp", "grand", "rand", "cc", "visa"]
ENDS = ["url", "info", "kill", "lib", "vm", "int", "ver"]
GRID = [start + end for start in STARTS for end in ENDS]
WORDS = ["requests", "numpy", "core", "utils", "cli", "api", "sdk", "flask", "django", "client"]
FAMILY = [f"zqv-{word}" for word in WORDS]
OTHERS = ["reqeusts", "nunpy", "djagno", "hortenzia-qq", "acme-core", "acme-cli", "foo-bar"]
# The generator's combosquats: its starts glued to the popular `control`, most without a
# match (members through bursts.Brands.glued).
COMBOS = [start + "control" for start in STARTS]
# The same and some of the grid behind an ecosystem word, which pieces skip; a family too.
PY_NAMES = [f"py-{name}" for name in COMBOS + GRID[::5]] + [f"py-zqv{word}" for word in WORDS]
ALL = GRID + FAMILY + OTHERS + COMBOS + PY_NAMES
# Names of the grid near a popular name, scoring enough alone to be raised (members).
RAISED = ["pywurl", "pywint", "tpinfo", "tpint", "randkill", "visainfo"]
# The grid in an order where those members come after the rest: a burst they can see.
ORDERED = [name for name in GRID if name not in RAISED] + RAISED


def results(names: list[str]) -> list[NameResult]:
    return default_checker().check_many(names)


CHECKED = {r.name: r for r in results(ALL)}


def batch(timed: list[tuple[float, str]]) -> dict[int, Burst]:
    """``find_bursts`` over (time, name) rows, by row."""
    rows = [(ts, CHECKED[name].normalized or name, i) for i, (ts, name) in enumerate(timed)]
    members = {i: CHECKED[name] for i, (_, name) in enumerate(timed)
               if is_member(CHECKED[name], CFG)}
    return find_bursts(rows, members, CFG, STATS, timed=True)


def stream(timed: list[tuple[float, str]], memory: BurstMemory | None = None
           ) -> dict[int, Burst]:
    """``BurstMemory`` fed the rows in time order, by row."""
    memory = BurstMemory(CFG, STATS) if memory is None else memory
    found = {}
    for i in sorted(range(len(timed)), key=lambda i: timed[i][0]):
        result = CHECKED[timed[i][1]]
        assert result.normalized is not None
        burst = memory.observe(result.normalized, timed[i][0],
                               result.score if is_member(result, CFG) else None)
        if burst is not None:
            found[i] = burst
    return found


def spread(names: list[str], hours: float, seed: int, ordered: bool = False
           ) -> list[tuple[float, str]]:
    """Each name at a distinct random time within ``hours`` (in the order given, if
    ``ordered``)."""
    rng = random.Random(seed)
    times = rng.sample(range(int(hours * 3600)), len(names))
    return list(zip(map(float, sorted(times) if ordered else times), names, strict=True))


def mixed(hours: float, seed: int) -> list[tuple[float, str]]:
    """The grid in order over its last 20 hours, its members last, among legitimate names
    at random times over all of them."""
    legit = spread(FAMILY + OTHERS, hours, seed + 100)
    used = {ts for ts, _ in legit}
    late = (hours - 20.0) * HOUR
    grid = [(late + ts + (0.5 if late + ts in used else 0.0), name)
            for ts, name in spread(ORDERED, 20.0, seed, ordered=True)]
    return legit + grid


@pytest.mark.parametrize(
    ("label", "rows"),
    [
        ("the grid and legitimate names within a window", lambda seed: spread(ALL, 6.0, seed)),
        ("the grid and legitimate names over two windows",
         lambda seed: spread(ALL, 2 * CFG.sweep_window_hours, seed)),
        ("the grid, members last, within a window",
         lambda seed: spread(ORDERED, 20.0, seed, ordered=True)),
        ("the grid, members last, among legitimate names over a window and a half",
         lambda seed: mixed(1.5 * CFG.sweep_window_hours, seed)),
        ("the grid, members last, among legitimate names over two windows",
         lambda seed: mixed(2 * CFG.sweep_window_hours, seed)),
        ("legitimate names only", lambda seed: spread(FAMILY + OTHERS, 6.0, seed)),
        ("the grid, then its glued combosquats, within a window",
         lambda seed: spread(GRID + COMBOS, 20.0, seed, ordered=True)),
    ],
)
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_stream_raises_what_a_timed_batch_raises(
    label: str, rows: Callable[[int], list[tuple[float, str]]], seed: int
) -> None:
    timed = rows(seed)
    assert len({ts for ts, _ in timed}) == len(timed)  # distinct times
    expected = batch(timed)
    assert stream(timed) == expected, label
    if "members last" in label:
        assert expected, "the table means something: the grid raises names"
    if label.startswith("legitimate"):
        assert not expected
    if "combosquats" in label:
        # The last combosquat (no match alone) sees the other five: a burst of its own.
        glued = {timed[i][1] for i, burst in expected.items() if burst.brand == "control"}
        assert "visacontrol" in glued and glued <= set(COMBOS)


def test_later_names_of_a_burst_gain_more_and_name_earlier_ones() -> None:
    timed = [(60.0 * i, name) for i, name in enumerate(ORDERED)]
    found = stream(timed)
    assert len(found) >= 3
    for i, burst in found.items():
        earlier = {name for _, name in timed[:i]}
        assert set(burst.listed) <= earlier and burst.listed
        assert burst.score > burst.individual == CHECKED[timed[i][1]].score
        assert burst.window_names == i + 1 and burst.window_hours == CFG.sweep_window_hours
        assert burst.reason.startswith(f"burst: {burst.count} other names in the ")
    counts = [found[i].count for i in sorted(found)]
    assert counts == sorted(counts)


def test_names_beyond_the_window_do_not_count() -> None:
    apart = [(i * (WINDOW + 1), name) for i, name in enumerate(GRID)]
    memory = BurstMemory(CFG, STATS)
    assert stream(apart, memory) == {}
    assert list(memory.rows) == [apart[-1]]
    start, end = pieces(GRID[-1], *piece_lengths(CFG))
    assert memory.inside == Counter(start + end)


def test_a_release_is_raised_by_a_burst_but_does_not_join_it() -> None:
    timed = [(60.0 * i, name) for i, name in enumerate(ORDERED)]
    last = max(stream(timed))
    memory = BurstMemory(CFG, STATS)
    stream(timed[:last], memory)
    held = (len(memory), dict(memory.inside))
    result = CHECKED[timed[last][1]]
    as_release = memory.observe(result.normalized or "", timed[last][0], result.score,
                                register=False)
    assert (len(memory), dict(memory.inside)) == held  # not joined
    as_new = BurstMemory(CFG, STATS)
    stream(timed[: last + 1], as_new)
    assert as_release is not None
    # Weighed as one more name of the window, as if it had registered.
    assert as_release == stream(timed[: last + 1])[last]


def test_a_non_member_is_counted_but_never_raised() -> None:
    memory = BurstMemory(CFG, STATS)
    for i, name in enumerate(GRID):
        assert memory.observe(name, 60.0 * i, None) is None
    assert len(memory) == len(GRID)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_checkpoint_answers_as_the_memory_it_came_from(seed: int) -> None:
    timed = sorted(spread(ALL, 30.0, seed))[:20] + [
        (30 * HOUR + 60.0 * i, name) for i, name in enumerate(ORDERED)]
    whole = stream(timed)
    first = BurstMemory(CFG, STATS)
    stream(timed[:30], first)
    restored = BurstMemory(CFG, STATS)
    restored.load(json.loads(json.dumps(first.dump())))
    assert restored.dump() == first.dump() and restored.inside == first.inside
    rest = stream(timed[30:], restored)
    assert rest == {i - 30: b for i, b in whole.items() if i >= 30}
    assert rest


def test_the_window_is_capped() -> None:
    cap = 20
    capped = BurstMemory(replace(CFG, burst_window_max_names=cap), STATS)
    for i, name in enumerate(ALL):
        capped.observe(name, float(i))
        assert len(capped) == min(i + 1, cap)
    # What is left is exactly the newest ``cap`` names, counted as if only they came.
    fresh = BurstMemory(CFG, STATS)
    for i, name in enumerate(ALL[-cap:]):
        fresh.observe(name, float(len(ALL) - cap + i))
    assert capped.dump()[1] == fresh.dump()[1] and capped.inside == fresh.inside


def test_an_older_event_counts_as_arriving_at_the_newest_time() -> None:
    memory = BurstMemory(CFG, STATS)
    memory.observe(GRID[0], 1000.0)
    memory.observe(GRID[1], 10.0)  # late
    assert [ts for ts, _ in memory.rows] == [1000.0, 1000.0]
    memory.observe(GRID[2], 1000.0 + WINDOW)
    assert len(memory) == 3  # neither expired early
    memory.observe(GRID[3], 1001.0 + WINDOW)
    assert [name for _, name in memory.rows] == GRID[2:4]


def test_a_name_registered_twice_keeps_its_first_time() -> None:
    memory = BurstMemory(CFG, STATS)
    memory.observe(GRID[0], 0.0)
    memory.observe(GRID[0], 100.0)
    assert list(memory.rows) == [(0.0, GRID[0])]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_equal_times_leave_the_same_state_whatever_the_arrival_order(seed: int) -> None:
    """Within a tie each name sees those that arrived before it (the stream cannot see
    ahead), so the answers depend on arrival order; the state after the tie does not,
    and its last arrival answers what the batch answers for every name of the tie."""
    names = GRID[:]
    random.Random(seed).shuffle(names)
    names.remove(RAISED[seed])
    names.append(RAISED[seed])
    timed = [(0.0, name) for name in names]
    memory = BurstMemory(CFG, STATS)
    found = stream(timed, memory)
    reference = BurstMemory(CFG, STATS)
    stream([(0.0, name) for name in GRID], reference)
    assert sorted(memory.rows) == sorted(reference.rows) and memory.inside == reference.inside
    last = len(names) - 1
    expected = batch(timed)[last]
    assert found[last].count == expected.count and found[last].score == expected.score
    assert found[last].window_names == expected.window_names


def test_off_when_the_boost_is_zero() -> None:
    memory = BurstMemory(replace(CFG, burst_boost=0.0), STATS)
    assert not memory.on
    assert stream([(60.0 * i, n) for i, n in enumerate(GRID)], memory) == {}
    assert len(memory) == 0

"""Runs: one popular name glued to new letters again and again over weeks
(detector/names/runs.py), in a batch and through the stream."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from detector.names import BurstMemory, NameResult, default_checker
from detector.names.bursts import MIN_GLUED_NAMES, Brands, PieceCounts, is_member, load_pieces
from detector.names.runs import RunMemory
from detector.names.sweeps import apply_sweeps
from detector.policy import PolicyError, build_policy, load_policy

CFG = load_policy().names
DAY = 86400.0
WARDEN = str(Path(sys.executable).with_name("warden"))
# Live statistics of 100,000 names: `tools` glued by 2% of them, `httpx` by none (so as by
# MIN_GLUED_NAMES), as before `httpx` was popular.
STATS = PieceCounts(100_000, {}, {"tools": 2_000})
NOISE = "bdfhjkmnpqrsvwz"


def noise(rng: random.Random, size: int = 6) -> str:
    return "".join(rng.choice(NOISE) for _ in range(size))


def glued(brand: str, count: int, seed: int = 1, end: bool = False) -> list[str]:
    """``count`` distinct names holding ``brand`` glued to noise, at its start (or end)."""
    rng = random.Random(seed)
    names: list[str] = []
    while len(names) < count:
        name = noise(rng) + brand if end else brand + noise(rng)
        if name not in names:
            names.append(name)
    return names


def fillers(count: int, seed: int = 2) -> list[str]:
    """Names gluing nothing popular (noise behind a separator)."""
    rng = random.Random(seed)
    return [f"{noise(rng, 5)}-{noise(rng, 4)}" for _ in range(count)]


def check(names: list[str]) -> list[NameResult]:
    return default_checker().check_many(names)


def run_names(after: list[NameResult]) -> set[str]:
    return {r.name for r in after if r.sweep is not None and "run" in r.sweep}


def test_the_fixtures_glue_what_they_say() -> None:
    brands = Brands(default_checker().corpus.ranks, CFG.combo_min_length)
    assert all(brands.glued(name) == "httpx" for name in glued("httpx", 20))
    assert all(brands.glued(name) == "tools" for name in glued("tools", 20, end=True))
    assert not any(brands.glued(name) for name in fillers(50))
    assert all(is_member(r, CFG) for r in check(glued("httpx", 5)))


def test_a_slow_run_on_a_rarely_glued_name_is_raised_from_its_fifth_glued_name() -> None:
    """Eight `httpx...` names a day apart among ordinary names, 600 a window: the
    window expects 0.054 of them at three times their live share, so four earlier ones
    are beyond chance (P < 10^-6) and three are not."""
    days = CFG.run_window_days
    per_day = 600 / days
    count = int((days + 10) * per_day)
    names = glued("httpx", 8) + fillers(count)
    times = [(days + i) * DAY + 1.0 for i in range(8)] + [i * DAY / per_day
                                                          for i in range(count)]
    after = apply_sweeps(check(names), times, pieces=STATS)
    assert run_names(after) == set(names[4:8])
    for r in after[4:8]:
        assert r.flagged and r.score >= CFG.flag_threshold
        run = r.sweep["run"]
        assert run["brand"] == "httpx" and run["names"][0] == names[0]
        assert run["window_days"] == CFG.run_window_days
        assert "'httpx' glued" in r.reasons[-1] and names[0] in r.reasons[-1]
    counts = [r.sweep["run"]["count"] for r in after[4:8]]
    scores = [r.score for r in after[4:8]]
    assert counts == sorted(counts) and scores == sorted(scores)  # later ones gain more


def test_names_beyond_the_window_do_not_count() -> None:
    names = glued("httpx", 6)
    spaced = [i * (CFG.run_window_days + 1) * DAY for i in range(6)]
    assert not run_names(apply_sweeps(check(names), spaced, pieces=STATS))
    close = [i * DAY for i in range(6)]
    assert run_names(apply_sweeps(check(names), close, pieces=STATS))


def test_a_popular_name_live_names_often_glue_needs_many_more() -> None:
    """`...tools` is glued by 2% of live names: six in a window of 500 is chance."""
    names = glued("tools", 6, end=True) + fillers(500)
    assert not run_names(apply_sweeps(check(names), pieces=STATS))
    many = glued("tools", 150, end=True) + fillers(500)
    assert run_names(apply_sweeps(check(many), pieces=STATS)) == set(many[:150])


def test_glued_share_has_a_floor_and_the_shipped_counts_come_from_live_names() -> None:
    assert STATS.glued_share("httpx") == MIN_GLUED_NAMES / 100_000
    assert STATS.glued_share("tools") == 0.02
    assert PieceCounts().glued_share("httpx") == 1.0  # no statistics: never beyond chance
    shipped = load_pieces()
    assert shipped.glued["tools"] > 1_000 > shipped.glued["httpx"]
    built = PieceCounts.build(["acmetools", "toolsacme", "acme-tools", "tools", "httpxfoo"])
    assert built.glued == {"tools": 2, "httpx": 1}


def test_piece_counts_keep_their_glued_counts_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "pieces.npz"
    STATS.save(path, "test")
    assert load_pieces(str(path)) == STATS
    empty = PieceCounts(10, {"^ab": 10})
    empty.save(path, "test")
    load_pieces.cache_clear()
    assert load_pieces(str(path)) == empty


def test_runs_do_not_depend_on_the_order_of_the_batch() -> None:
    names = glued("httpx", 8) + fillers(300)
    rng = random.Random(3)
    times = [rng.uniform(30 * DAY, 36 * DAY) for _ in range(8)] + [
        rng.uniform(0, 40 * DAY) for _ in range(300)]
    before = check(names)
    first = apply_sweeps(before, times, pieces=STATS)
    order = list(range(len(names)))
    rng.shuffle(order)
    shuffled = apply_sweeps([before[i] for i in order], [times[i] for i in order], pieces=STATS)
    assert {r.name: r for r in shuffled} == {r.name: r for r in first}
    assert run_names(first)


def test_without_times_the_batch_is_one_window() -> None:
    names = glued("httpx", 4) + fillers(100)
    after = apply_sweeps(check(names), pieces=STATS)
    assert run_names(after) == set(names[:4])
    assert all(r.sweep["run"]["window_days"] is None and r.sweep["run"]["count"] == 3
               for r in after[:4])
    assert "in this batch" in after[0].reasons[-1]


def test_off_when_the_window_is_zero_or_glued_names_are_no_members() -> None:
    names = glued("httpx", 6)
    for key in ("run_window_days", "burst_glued_floor", "burst_boost"):
        tables = load_policy().to_dict()
        tables["names"][key] = 0.0
        policy = build_policy(tables)
        assert not run_names(apply_sweeps(check(names), policy=policy, pieces=STATS)), key
        assert not RunMemory(policy.names, STATS).on


def test_policy_rejects_a_negative_window_and_a_bad_level() -> None:
    for key, value in (("run_window_days", -1.0), ("run_significance", 2.0),
                       ("run_min_names", 0), ("run_ratio", 0.0)):
        tables = load_policy().to_dict()
        tables["names"][key] = value
        with pytest.raises(PolicyError, match=key):
            build_policy(tables)


def stream(timed: list[tuple[float, str]], checked: dict[str, NameResult],
           memory: BurstMemory | None = None) -> dict[int, tuple[float, str]]:
    """``BurstMemory`` fed the rows in time order: raised rows -> (score, reason)."""
    memory = BurstMemory(CFG, STATS) if memory is None else memory
    found = {}
    for i in sorted(range(len(timed)), key=lambda i: timed[i][0]):
        result = checked[timed[i][1]]
        assert result.normalized is not None
        got = memory.observe(result.normalized, timed[i][0],
                             result.score if is_member(result, CFG) else None)
        if got is not None:
            found[i] = (got.score, got.reason)
    return found


def batch(timed: list[tuple[float, str]], checked: dict[str, NameResult]
          ) -> dict[int, tuple[float, str]]:
    after = apply_sweeps([checked[name] for _, name in timed], [ts for ts, _ in timed],
                         pieces=STATS)
    return {i: (r.score, r.reasons[-1]) for i, r in enumerate(after)
            if r.sweep is not None and {"run", "burst", "grid"} & r.sweep.keys()}


# A generator's day (bursts: both ends shared) beside slow runs on two popular names.
# The grid's names near a popular name come last, when the rest of the grid is in.
_NEAR = ["pywurl", "pywint", "tpinfo", "tpint", "randkill", "visainfo"]
GRID = [name for name in (start + end for start in ("pyw", "tp", "grand", "rand", "cc", "visa")
                          for end in ("url", "info", "kill", "lib", "vm", "int", "ver"))
        if name not in _NEAR] + _NEAR
RUNS = glued("httpx", 12, seed=4) + glued("control", 8, seed=5, end=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_stream_raises_what_a_timed_batch_raises(seed: int) -> None:
    rng = random.Random(seed)
    names = RUNS + GRID + fillers(400, seed)
    # The runs' names in three weeks of the 70 days, some of them before the window of
    # others: they are in the past then (run_baseline_days).
    times = [rng.randrange(int(40 * DAY), int(61 * DAY)) for _ in RUNS] + rng.sample(
        range(int(70 * DAY)), len(names) - len(RUNS))
    day = rng.uniform(20, 40) * DAY  # the generator's grid within one day
    timed = [(float(ts), name) for ts, name in zip(times, names, strict=True)]
    timed = [(day + i * 600.0 + 0.5, name) if name in GRID else (ts, name)
             for i, (ts, name) in enumerate(timed)]
    checked = {r.name: r for r in check(names)}
    expected = batch(timed, checked)
    assert stream(timed, checked) == expected
    reasons = [reason for _, reason in expected.values()]
    assert any(reason.startswith("run: ") for reason in reasons)
    assert any(reason.startswith("burst: ") for reason in reasons)


def test_a_registry_whose_own_names_glue_it_every_week_sees_no_run() -> None:
    """Chance is also the share of the names before the window (run_baseline_days) that
    glue the popular name: a registry whose names have glued `httpx` a few times a week
    for months sees six more in a week as its usual rate; without that past (or with
    run_baseline_days = 0) the six are a run."""
    recent = glued("httpx", 6, seed=8)
    past = glued("httpx", 40, seed=9)
    days = CFG.run_window_days + CFG.run_baseline_days
    others = fillers(int(days * 20))
    times = ([days * DAY + i * 3600.0 for i in range(6)]
             + [i * (days - CFG.run_window_days) * DAY / 40 for i in range(40)]
             + [i * DAY / 20 for i in range(len(others))])
    after = apply_sweeps(check(recent + past + others), times, pieces=STATS)
    assert not run_names(after[:6])
    alone = apply_sweeps(check(recent + others), times[:6] + times[46:], pieces=STATS)
    assert run_names(alone[:6])
    tables = load_policy().to_dict()
    tables["names"]["run_baseline_days"] = 0.0
    policy = build_policy(tables)
    assert run_names(apply_sweeps(check(recent + past + others), times, policy=policy,
                                  pieces=STATS)[:6])
    # The stream answers the same (its past is the names that left the window).
    memory = BurstMemory(CFG, STATS)
    checked = check(recent + past + others)
    streamed = set()
    for i in sorted(range(len(times)), key=lambda i: times[i]):
        r = checked[i]
        got = memory.observe(r.normalized or r.name, times[i],
                             r.score if is_member(r, CFG) else None)
        if got is not None and i < 6:
            streamed.add(r.name)
    assert not streamed and memory.runs.past.names > 0


def test_a_checkpoint_keeps_the_runs_window() -> None:
    names = fillers(60) + RUNS + fillers(40, seed=3)
    timed = [(i * DAY / 4, name) for i, name in enumerate(names)]
    checked = {r.name: r for r in check(names)}
    whole = stream(timed, checked)
    cut = 70  # ten names into the runs, 17.5 days in: the first names are in the past
    first = BurstMemory(CFG, STATS)
    stream(timed[:cut], checked, first)
    restored = BurstMemory(CFG, STATS)
    restored.load(json.loads(json.dumps(first.dump())))
    assert restored.dump() == first.dump() and restored.runs.gluing == first.runs.gluing
    assert restored.runs.past.gluing == first.runs.past.gluing and first.runs.past.names
    rest = stream(timed[cut:], checked, restored)
    assert rest == {i - cut: got for i, got in whole.items() if i >= cut}
    assert rest
    # A checkpoint written before runs (two lists) restores an empty runs window.
    old = BurstMemory(CFG, STATS)
    old.load(first.dump()[:2])
    assert len(old.runs) == 0 and old.dump()[1] == first.dump()[1]


def test_the_runs_window_is_capped_and_expires() -> None:
    cap = 5
    memory = RunMemory(replace(CFG, run_window_max_names=cap), STATS)
    names = glued("httpx", 9)
    for i, name in enumerate(names):
        memory.observe(name, float(i))
        assert len(memory) == min(i + 1, cap)
    assert list(memory.gluing["httpx"]) == names[-cap:]
    memory.observe("zzz-late", 10.0 + CFG.run_window_days * DAY)
    assert len(memory) == 1 and "httpx" not in memory.gluing


def test_a_release_is_raised_by_a_run_but_does_not_join_it() -> None:
    memory = RunMemory(CFG, STATS)
    names = glued("httpx", 4)
    for i, name in enumerate(names[:3]):
        memory.observe(name, i * DAY)
    run = memory.observe(names[3], 3 * DAY, 0.0, register=False)
    assert run is not None and run.count == 3 and names[3] not in memory.held
    assert run.window_names == 4


def test_check_name_file_with_times_raises_a_run(tmp_path: Path) -> None:
    """`check-name --file` on a TSV with times: the run's members carry it in the JSON."""
    names = glued("httpx", 5) + fillers(30)
    listing = tmp_path / "names.tsv"
    rows = [f"{name}\t2023-0{1 + i % 2}-{1 + i % 28:02d}T00:00:00Z"
            for i, name in enumerate(names)]
    listing.write_text("name\tts\n" + "\n".join(rows) + "\n")
    done = subprocess.run([WARDEN, "check-name", "--file", str(listing), "--json"],
                          capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["name"] for line in lines] == names
    got = {line["name"] for line in lines if "run" in (line.get("sweep") or {})}
    # Shipped statistics: `httpx` is glued by 16 of 886,323 live names; five in a month
    # of 35 names is far beyond that.
    assert got and got <= set(names[:5])
    assert all(line["reasons"][-1].startswith("run: ") for line in lines if line["name"] in got)


def test_an_old_timestamp_counts_as_now_and_moves_nothing_back() -> None:
    """Red team: an event stamped long ago neither re-opens an expired window nor lands
    in the past; it arrives at the newest time seen, as in BurstMemory."""
    memory = RunMemory(CFG, STATS)
    names = glued("httpx", 4)
    memory.observe(names[0], 100 * DAY)
    memory.observe(names[1], 0.0)  # claims to be 100 days old
    assert [ts for ts, _, _ in memory.rows] == [100 * DAY, 100 * DAY]
    assert not memory.before and memory.now == 100 * DAY
    memory.observe(names[2], 100 * DAY + (CFG.run_window_days + 1) * DAY)
    assert list(memory.gluing["httpx"]) == [names[2]] and memory.past.gluing["httpx"] == 2

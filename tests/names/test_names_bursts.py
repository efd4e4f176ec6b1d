"""Bursts: names of one window glued from the same pieces (detector/names/bursts.py)."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.names import BurstMemory, NameResult, default_checker
from detector.names.bursts import (
    LEAD_WORDS,
    MIN_PIECE_NAMES,
    Brands,
    PieceCounts,
    burst_candidates,
    burst_hit,
    is_member,
    load_pieces,
    piece_lengths,
    pieces,
    shipped_brands,
    significant,
    without_lead,
)
from detector.names.sweeps import BatchSweeps, apply_sweeps
from detector.policy import Policy, build_policy, load_policy

CFG = load_policy().names
# Bursts alone: grids (detector/names/grids.py) would raise the small grid below, which no
# burst raises (tests/names/test_names_grids.py).
_TABLES = load_policy().to_dict()
_TABLES["names"]["grid_min_squares"] = 0
BURSTS_ALONE = build_policy(_TABLES)
WARDEN = str(Path(sys.executable).with_name("warden"))
HOUR = 3600.0

# A generator's batch (the shape of the week of 2023-02-20): six starts glued to seven ends.
STARTS = ["pyw", "tp", "grand", "rand", "cc", "visa"]
ENDS = ["url", "info", "kill", "lib", "vm", "int", "ver"]
GRID = [start + end for start in STARTS for end in ENDS]
# Names of the grid each near a popular name of its own (`pycurl`, `ipinfo`, `mandrill`,
# `vininfo`), scoring 0.05-0.2 alone: what a burst raises.
RAISED = {"pywurl", "pywint", "tpinfo", "tpint", "randkill", "visainfo"}
# Legitimate batches that look like it: a family sharing a rare start (or end) with
# ordinary words at the other end, and a grid too small to be beyond chance.
WORDS = ["requests", "numpy", "core", "utils", "cli", "api", "sdk", "flask", "django", "client"]
START_FAMILY = [f"zqv-{word}" for word in WORDS]
END_FAMILY = [f"{word}-zqv" for word in WORDS]
SMALL_GRID = [start + end for start in STARTS[:3] for end in ENDS[:3]]


def results(names: list[str]) -> list[NameResult]:
    return default_checker().check_many(names)


def raised(after: list[NameResult]) -> set[str]:
    return {r.name for r in after if r.sweep is not None and "burst" in r.sweep}


@pytest.mark.parametrize(
    ("label", "batch", "expected"),
    [
        ("a generator's grid: its members near a popular name are raised", GRID, RAISED),
        ("a family sharing a rare start, ordinary ends", START_FAMILY, set()),
        ("a family sharing a rare end, ordinary starts", END_FAMILY, set()),
        ("a grid too small to be beyond chance", SMALL_GRID, set()),
        ("the grid beside the families, one batch", GRID + START_FAMILY + END_FAMILY, RAISED),
    ],
)
def test_burst_members_side_by_side_with_legitimate_batches(
    label: str, batch: list[str], expected: set[str]
) -> None:
    before = results(batch)
    after = apply_sweeps(before, policy=BURSTS_ALONE)
    got = raised(after)
    assert expected <= got, label
    members = {r.name for r in before if is_member(r, CFG)}
    assert got <= members, "only names whose best match clears burst_min_score are raised"
    if not expected:
        assert not got, label
        assert [r.score for r in after] == [r.score for r in before]
    for old, new in zip(before, after, strict=True):
        if new.name in got:
            assert new.score > old.score
            assert new.reasons[:-1] == old.reasons and new.reasons[-1].startswith("burst: ")
            assert new.sweep is not None
            assert new.sweep["burst"]["individual_score"] == old.score


def test_the_family_members_are_members_that_are_not_raised() -> None:
    """The families' table rows mean something: some of their names are members."""
    assert any(is_member(r, CFG) for r in results(START_FAMILY))


def test_a_raised_name_shares_both_its_start_and_its_end() -> None:
    after = apply_sweeps(results(GRID))
    for r in after:
        if r.sweep and "burst" in r.sweep:
            info = r.sweep["burst"]
            assert r.name.startswith(info["start"]) and r.name.endswith(info["end"])
            assert info["count"] >= CFG.burst_min_names
            assert info["window_names"] == len(GRID)
            assert all(name != r.name for name in info["names"])
            assert 0 < len(info["names"]) <= CFG.sweep_listed


def test_bursts_do_not_depend_on_the_order_of_the_batch() -> None:
    expected = apply_sweeps(results(GRID))
    order = list(range(len(GRID)))
    random.Random(3).shuffle(order)
    shuffled = apply_sweeps([results(GRID)[i] for i in order])
    assert [shuffled[order.index(i)].score for i in range(len(GRID))] == [
        r.score for r in expected]


def test_timed_a_burst_raises_later_names_and_forgets_names_beyond_the_window() -> None:
    before = results(GRID)
    window = CFG.sweep_window_hours * HOUR
    # The grid arrives together: the same as a batch without times.
    together = apply_sweeps(before, [100.0] * len(GRID))
    assert raised(together) == raised(apply_sweeps(before))
    # Each name a window and more after the one before: no burst.
    apart = apply_sweeps(before, [i * (window + 1) for i in range(len(GRID))])
    assert not raised(apart)
    # The members first, then the rest: the members see nothing before them.
    first = [0.0 if r.name in RAISED else 60.0 for r in before]
    assert not raised(apply_sweeps(before, first)) & RAISED
    last = [60.0 if r.name in RAISED else 0.0 for r in before]
    assert raised(apply_sweeps(before, last)) >= RAISED


def test_the_batch_collector_with_notes_answers_as_apply_sweeps() -> None:
    """As `check-name --file --json`: the matched names and the other burst members are
    added, the rest noted."""
    before = results(GRID + START_FAMILY)
    batch = BatchSweeps()
    for position, result in enumerate(before):
        if result.matches or is_member(result, CFG):
            batch.add(position, result)
        else:
            batch.note(position, result.normalized)
    changed = batch.resolve(len(before))
    expected = apply_sweeps(before)
    assert [changed.get(i, r).score for i, r in enumerate(before)] == [
        r.score for r in expected]
    assert set(batch.members()) >= {i for i, r in enumerate(before) if r.name in RAISED}


def test_no_bursts_when_turned_off_or_too_big_without_times() -> None:
    tables = load_policy().to_dict()
    tables["names"]["burst_boost"] = 0.0
    off = build_policy(tables)
    assert not raised(apply_sweeps(results(GRID), policy=off))
    tables["names"]["burst_boost"] = CFG.burst_boost
    tables["names"]["sweep_batch_names"] = len(GRID) - 1
    small = build_policy(tables)
    assert not raised(apply_sweeps(results(GRID), policy=small))


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("tpedinfo", ["^tp", "^tpe", "^tped", "^tpedi"], ["fo$", "nfo$", "info$", "dinfo$"]),
        ("py-tpedinfo", ["^tp", "^tpe", "^tped", "^tpedi"], ["fo$", "nfo$", "info$", "dinfo$"]),
        ("python-tp-ed-info", ["^tp", "^tpe", "^tped", "^tpedi"],
         ["fo$", "nfo$", "info$", "dinfo$"]),
        ("pyw-tpedinfo", ["^py", "^pyw", "^pywt", "^pywtp"], ["fo$", "nfo$", "info$", "dinfo$"]),
        ("py-w", [], []),  # what follows the ecosystem word is too short
        ("pyw", ["^py"], ["yw$"]),
        ("ab", [], []),
    ],
)
def test_pieces_are_the_first_and_last_characters_without_separators(
    name: str, start: list[str], end: list[str]
) -> None:
    assert pieces(name, 2, 5) == (start, end)


def test_piece_counts_count_names_and_rare_pieces_count_as_the_floor() -> None:
    stats = PieceCounts.build(["tpedinfo"] * MIN_PIECE_NAMES + ["abcdef"])
    assert stats.names == MIN_PIECE_NAMES + 1
    assert stats.counts["^tp"] == MIN_PIECE_NAMES
    assert "^ab" not in stats.counts
    assert stats.share("^ab") == stats.share("^tp") == MIN_PIECE_NAMES / stats.names
    assert PieceCounts().share("^tp") == 1.0


def test_the_shipped_piece_counts_come_from_live_names() -> None:
    stats = load_pieces()
    assert stats.names > 100_000
    assert stats.share("^django") > 10 * stats.share("^pyw") > 10 * stats.share("^zqv")


def test_policy_rejects_piece_lengths_the_wrong_way_round() -> None:
    tables = load_policy().to_dict()
    tables["names"]["burst_piece_min"] = 6
    tables["names"]["burst_piece_max"] = 3
    with pytest.raises(ValueError, match="burst_piece_min"):
        build_policy(tables)


def test_check_name_json_raises_a_generators_batch(tmp_path: Path) -> None:
    """`check-name --file --json`: the unmatched names are counted, the members' lines
    patched at the end, every other line as checked."""
    listing = tmp_path / "batch.txt"
    listing.write_text("\n".join(GRID + START_FAMILY) + "\n")
    done = subprocess.run([WARDEN, "check-name", "--file", str(listing), "--json"],
                          capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["name"] for line in lines] == GRID + START_FAMILY
    got = {line["name"] for line in lines if "burst" in (line.get("sweep") or {})}
    assert got == raised(apply_sweeps(results(GRID + START_FAMILY)))
    assert got >= RAISED
    assert all(line["reasons"][-1].startswith("burst: ") for line in lines
               if line["name"] in got)


# A generator's combosquats: its starts glued to a popular name (`control`, rank 7,608),
# which no name check scores alone; beside them, names of the same shape that are no burst.
COMBOS = [start + "control" for start in STARTS]
GLUED_FAMILY = [f"zqv{word}control" for word in ("alpha", "beta", "gamma", "delta", "omega",
                                                  "sigma")]
PY_COMBOS = [f"py-{name}" for name in COMBOS]
PY_FAMILY = [f"py-{name}" for name in GLUED_FAMILY]


@pytest.mark.parametrize(
    ("name", "brand"),
    [
        ("grandcontrol", "control"),  # noise glued before a popular name
        ("pywcontrol", "control"),
        ("controllib", "control"),  # ... or after it
        ("discordreq", "discord"),
        ("cryptocomapre", "crypto"),
        ("discord-manager", None),  # an extension's shape: the separator
        ("django-control", None),
        ("py-grandcontrol", "control"),  # after a leading ecosystem word
        ("lib-grandcontrol", "control"),
        ("py-grand-control", None),  # the rest holds a word of its own
        ("python-control", None),  # a popular name after the ecosystem word
        ("discord-pyx", "discord-py"),  # the popular name may hold separators
        ("control", None),  # the popular name itself
        ("requests", None),
        ("ctrl", None),
        ("abcontrolxy", None),  # inside, not at an end
    ],
)
def test_a_glued_brand_is_a_popular_name_at_an_end_without_a_separator(
    name: str, brand: str | None
) -> None:
    assert shipped_brands(CFG.combo_min_length).glued(name) == brand


@pytest.mark.parametrize(
    ("label", "batch", "expected"),
    [
        ("the generator's combosquats beside its grid are raised and flagged",
         GRID + COMBOS, set(COMBOS)),
        ("and behind an ecosystem word, which pieces skip", GRID + PY_COMBOS, set(PY_COMBOS)),
        ("a family holding both pieces only together is not", GLUED_FAMILY, set()),
        ("nor behind an ecosystem word", PY_FAMILY, set()),
        ("nor beside the grid, whose pieces it does not share", GRID + GLUED_FAMILY, set()),
    ],
)
def test_glued_combosquats_in_a_burst(label: str, batch: list[str], expected: set[str]) -> None:
    before = results(batch)
    unmatched = {r.name for r in before if not r.matches}
    no_match = {"grandcontrol", "randcontrol", "visacontrol", "py-grandcontrol"}
    assert no_match & set(batch) <= unmatched
    assert set(GLUED_FAMILY + PY_FAMILY) & set(batch) <= unmatched
    after = apply_sweeps(before)
    got = raised(after) & set(COMBOS + GLUED_FAMILY + PY_COMBOS + PY_FAMILY)
    assert got == expected, label
    for result in after:
        if result.name in expected:
            assert result.flagged and result.score >= CFG.flag_threshold
            assert result.sweep is not None and result.sweep["burst"]["brand"] == "control"
            assert "holds the popular name 'control' glued" in result.reasons[-1]
    # The floor is what raises those without a match: without it they are no members.
    tables = load_policy().to_dict()
    tables["names"]["burst_glued_floor"] = 0.0
    assert not raised(apply_sweeps(before, policy=build_policy(tables))) & unmatched


def test_a_family_sharing_both_pieces_is_two_burst_pieces_but_no_crossed_hit() -> None:
    """The crossed test, alone: each of the family's pieces is a burst piece of the window,
    but only among names that carry the other."""
    lengths = piece_lengths(CFG)
    split = {name: pieces(name, *lengths) for name in GLUED_FAMILY}
    inside: Counter[str] = Counter()
    for start, end in split.values():
        inside.update(start + end)
    name = GLUED_FAMILY[0]

    def both(start: str, end: str) -> int:
        return sum(start in s and end in e for s, e in split.values())

    stats = load_pieces()
    candidates = burst_candidates(split[name], inside, len(GLUED_FAMILY), CFG, stats)
    assert candidates is not None
    assert burst_hit(split[name], inside, both, len(GLUED_FAMILY), CFG, stats) is None
    # The same counts with the pieces also carried apart, as a generator's are: a hit.
    apart = Counter({piece: 2 * count for piece, count in inside.items()})
    assert burst_hit(split[name], apart, both, 2 * len(GLUED_FAMILY), CFG, stats) is not None


def test_check_name_json_raises_glued_combosquats(tmp_path: Path) -> None:
    """`check-name --file --json` holds the names without a match that hold a popular
    name glued (their lines are patched at the end)."""
    listing = tmp_path / "batch.txt"
    listing.write_text("\n".join(GRID + COMBOS) + "\n")
    done = subprocess.run([WARDEN, "check-name", "--file", str(listing), "--json"],
                          capture_output=True, text=True, check=True)
    lines = {line["name"]: line for line in map(json.loads, done.stdout.splitlines())}
    assert list(lines) == GRID + COMBOS
    for name in ("grandcontrol", "randcontrol", "visacontrol"):
        assert lines[name]["flagged"] and lines[name]["matches"] == []
        assert lines[name]["sweep"]["burst"]["brand"] == "control"


def _glued_by_brute_force(name: str, popular: set[str], shortest: int) -> str | None:
    """Every split of ``name`` after a leading ecosystem word, longest popular part first,
    the start's on a tie."""
    if name in popular:
        return None
    for word in LEAD_WORDS:
        if name.startswith(word + "-") and len(name) > len(word) + 1:
            name = name[len(word) + 1 :]
            break
    if name in popular:
        return None
    for size in range(len(name) - 1, shortest - 1, -1):
        if "-" not in name[size:] and name[:size] in popular:
            return name[:size]
        if "-" not in name[:-size] and name[-size:] in popular:
            return name[-size:]
    return None


POPULAR_SAMPLE = ["control", "contr", "ring", "string", "discord", "discord-py", "abcd",
                  "ab-cd", "cdab", "tools", "py"]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcdinorstgpy-lu", min_size=1, max_size=14))
def test_brands_glued_answers_as_trying_every_split(name: str) -> None:
    brands = Brands(POPULAR_SAMPLE, 4)
    assert brands.glued(name) == _glued_by_brute_force(name, set(POPULAR_SAMPLE), 4)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("xcontrol", "control"),
        ("controlx", "control"),
        ("stringx", "string"),  # the longest: not `ring`
        ("xxstring", "string"),
        ("discord-pyx", "discord-py"),
        ("xdiscord-py", "discord-py"),  # the popular name may hold a separator
        ("abcdab", "abcd"),  # the start's on a tie
        ("cdabcd", "cdab"),
        ("x-control", None),  # the rest may not
        ("py-xcontrol", "control"),  # but an ecosystem word may lead
        ("py-control", None),
        ("py-discord-pyx", "discord-py"),
        ("controlx-y", None),
        ("abc", None),
        ("discord-py", None),  # popular itself
    ],
)
def test_brands_glued_cases_of_the_sample(name: str, expected: str | None) -> None:
    brands = Brands(POPULAR_SAMPLE, 4)
    assert brands.glued(name) == expected == _glued_by_brute_force(
        name, set(POPULAR_SAMPLE), 4)


def test_a_crafted_flood_sharing_both_pieces_is_no_burst_in_batch_or_stream() -> None:
    """Red team: hundreds of names made to be members (a popular name glued) that all
    share both pieces, at one time and one a second. It is a family by the crossed test
    (its pieces never appear apart), in a timed batch and through the stream alike. All
    of them gluing one popular name, it is a run (detector/names/runs.py), which raises
    them. (Its cost is measured by `bench_names.py --sweeps`, "hostile bursts".)"""
    rng = random.Random(7)
    names = ["zzq" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
             + "control" for _ in range(300)]
    before = results(names)
    assert all(is_member(r, CFG) for r in before)
    no_runs = _without_runs()
    for spacing in (0.0, 1.0):
        times = [i * spacing for i in range(len(names))]
        assert not raised(apply_sweeps(before, times, policy=no_runs))
        # Runs (detector/names/runs.py) raise them, once a few glue `control` before.
        after = apply_sweeps(before, times)
        assert all(r.sweep and "run" in r.sweep and "burst" not in r.sweep for r in after[10:])
    memory = BurstMemory(no_runs.names)
    assert all(memory.observe(name, float(i), 0.0) is None for i, name in enumerate(names))


def _without_runs() -> Policy:
    tables = load_policy().to_dict()
    tables["names"]["run_window_days"] = 0.0
    return build_policy(tables)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("py-libstring", "libstring"),
        ("python-grand-control", "grand-control"),
        ("lib-x", "x"),
        ("pyw-lib", "pyw-lib"),  # not an ecosystem word
        ("pylint", "pylint"),
        ("py-", "py-"),
        ("py", "py"),
    ],
)
def test_without_lead_drops_one_leading_ecosystem_word(name: str, expected: str) -> None:
    assert without_lead(name) == expected


def _tail_by_summing(count: int, mean: float) -> float:
    """P(X >= count), X Poisson of mean ``mean``: its terms summed from ``count`` on."""
    return sum(math.exp(j * math.log(mean) - mean - math.lgamma(j + 1))
               for j in range(count, count + 2000))


@pytest.mark.parametrize("mean", [0.05, 0.5, 3.0, 10.2, 30.6, 120.0])
def test_significant_is_the_poisson_tail_never_more_eager(mean: float) -> None:
    for count in range(int(mean) + 1, int(6 * mean) + 40):
        exact = _tail_by_summing(count, mean)
        if exact <= 1e-300:
            break
        for level in (exact * 0.999, exact * 1.05):
            # The bound is never below the tail: significant only when the tail is.
            assert significant(count, mean, level) <= (exact < level)
        if count >= 3 * mean:  # and within 5% of it from three times the mean on
            assert significant(count, mean, exact * 1.05)


def test_significant_needs_more_than_the_mean_and_a_level() -> None:
    assert not significant(10, 10.0, 0.5)
    assert not significant(3, 10.0, 0.5)
    assert not significant(1000, 1.0, 0.0)
    assert significant(1000, 1.0, 1e-6)


NOISE = "bdfhjkmnpqrsuvwxz"
# Every piece at 1% of live names: a window of 920 names expects 9.2 of each.
FLAT = PieceCounts(1000, {})


def _big_window(each: int, seed: int = 5) -> tuple[list[str], list[str]]:
    """600 names of noise, and a generator gluing two starts to two popular ends with
    noise between them, ``each`` names per pair: (window, generator's names)."""
    rng = random.Random(seed)

    def noise(size: int) -> str:
        return "".join(rng.choice(NOISE) for _ in range(size))

    fillers = [noise(9) for _ in range(600)]
    made = [f"{start}{noise(4)}{end}" for start in ("mab", "wcd")
            for end in ("control", "string") for _ in range(each)]
    return fillers + made, made


def _significance(level: float) -> Policy:
    tables = load_policy().to_dict()
    tables["names"]["burst_significance"] = level
    tables["names"]["run_window_days"] = 0.0  # bursts alone (the made names glue popular ones)
    return build_policy(tables)


@pytest.mark.parametrize(
    ("label", "each", "level", "expected"),
    [
        ("80 a pair in 920 names: 9x chance, one in 10^15 at 3x chance", 80, 1e-6, True),
        ("the same with the significance test off: below 20x chance", 80, 0.0, False),
        ("25 a pair in 700 names: 3.6x chance, a fashion's rate", 25, 1e-6, False),
    ],
)
def test_a_generator_in_a_big_window_is_a_burst_below_the_ratio(
    label: str, each: int, level: float, expected: bool
) -> None:
    window, made = _big_window(each)
    policy = _significance(level)
    cfg = policy.names
    share = FLAT.share("^ma")
    others = each  # names starting `ma` that do not end as the name does
    assert others < cfg.burst_min_ratio * len(window) * share  # the ratio alone misses it
    before = results(window)
    assert all(is_member(r, cfg) for r in before[-len(made):])
    got = raised(apply_sweeps(before, policy=policy, pieces=FLAT))
    assert got == (set(made) if expected else set()), label
    # The stream answers as a timed batch: the generator arrives after the noise.
    times = [float(i) for i in range(len(window))]
    timed = raised(apply_sweeps(before, times, policy=policy, pieces=FLAT))
    memory = BurstMemory(cfg, FLAT)
    streamed = {r.name for i, r in enumerate(before)
                if memory.observe(r.normalized or r.name, times[i],
                                  r.score if is_member(r, cfg) else None) is not None}
    assert streamed == timed
    assert bool(timed) == expected

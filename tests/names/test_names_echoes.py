"""Echoes: a look-alike one edit from a name flagged in its window takes that name's score,
as a campaign's variants of its own squat (detector/names/echoes.py), in a batch, through
the stream and the CLI."""

from __future__ import annotations

import json
import random
import string
from dataclasses import replace
from pathlib import Path

import pytest
from window_names import (
    CFG,
    STATS,
    check,
    check_name_file,
    noise_names,
    policy_with,
    raised_by,
)

from detector.names import EchoMemory, NameResult, is_echo_candidate
from detector.names.echoes import TwinIndex, deletion_keys, find_echoes, spelling
from detector.names.sweeps import apply_sweeps
from detector.policy import PolicyError

HOUR = 3600.0


def batch(names: list[str], times: list[float] | None = None, policy: object = None
          ) -> dict[str, NameResult]:
    after = apply_sweeps(check(names), times, policy, pieces=STATS)  # type: ignore[arg-type]
    return {r.name: r for r in after}


def echoed(after: dict[str, NameResult]) -> set[str]:
    return raised_by(list(after.values()), "echo")



# (flagged name, its variant, raised?): squats beside look-alikes that stay as they are.
CASES = [
    ("tgrequests", "tgrequest", True),  # a letter left out; `grequests` by two edits
    ("tgrequests", "tg-requests", True),  # a separator only
    ("tgrequests", "tgrequestsz", True),  # a letter added
    ("djangoo", "djangoo2", True),  # a digit added: an affix of `django` alone
    ("http3client", "http3-client", False),  # the twin scores 0.39, below echo_min_score
    ("tgrequests", "tgrequests-cli", False),  # four letters apart: a family's name
    ("flaskk", "flaskkk", False),  # one edit, but no match of its own: nothing to raise
    ("selenimu", "seleniumx", False),  # two edits apart
]


@pytest.mark.parametrize(("twin", "name", "raised"), CASES)
def test_a_variant_of_a_flagged_name_takes_its_score(twin: str, name: str,
                                                     raised: bool) -> None:
    alone = {r.name: r for r in check([twin, name])}
    if raised:  # low alone, beside a flagged twin
        assert alone[name].score < CFG.flag_threshold <= alone[twin].score
    after = batch([twin, name], [0.0, HOUR])
    # What else raised it first (`djangoo2` is swept with `djangoo`).
    before = batch([twin, name], [0.0, HOUR], policy_with(echo_min_score=0.0))[name]
    assert (name in echoed(after)) is raised
    assert twin not in echoed(after)  # the flagged one is not an echo of its variant
    if raised:
        got = after[name]
        assert got.score == alone[twin].score and got.flagged
        echo = got.sweep["echo"]  # type: ignore[index]
        assert echo == {"twin": twin, "twin_score": alone[twin].score,
                        "individual_score": before.score,
                        "window_hours": CFG.sweep_window_hours}
        assert got.reasons[-1].startswith(f"echo: one edit from '{twin}'")
        assert got.reasons[:-1] == before.reasons
    else:
        assert after[name] == before


def test_the_twin_must_come_first_within_the_window() -> None:
    # Later than the name: a stream has not seen it yet, nor does a timed batch.
    assert not echoed(batch(["tgrequests", "tgrequest"], [HOUR, 0.0]))
    window = CFG.sweep_window_hours * HOUR
    assert echoed(batch(["tgrequests", "tgrequest"], [0.0, window])) == {"tgrequest"}
    assert not echoed(batch(["tgrequests", "tgrequest"], [0.0, window + 1.0]))
    # At the same time, and without times (one window), either way round.
    assert echoed(batch(["tgrequest", "tgrequests"], [0.0, 0.0])) == {"tgrequest"}
    assert echoed(batch(["tgrequest", "tgrequests"])) == {"tgrequest"}


def test_echoes_do_not_chain_and_take_the_best_twin() -> None:
    # `seleniumxy` is one edit from `seleniumx` (raised by its echo), two from `seleniumm`.
    # (Sweeps off: all three imitate `selenium`.)
    alone = policy_with(sweep_boost=0.0)
    after = batch(["seleniumm", "seleniumx", "seleniumxy"], [0.0, 1.0, 2.0], alone)
    assert echoed(after) == {"seleniumx"}
    # Two twins: the higher-scoring is named.
    after = batch(["seleniumm", "selenimu", "seleniumu"], [0.0, 0.0, 1.0], alone)
    best = max(("seleniumm", "selenimu"), key=lambda name: after[name].score)
    assert after["seleniumu"].sweep["echo"]["twin"] == best  # type: ignore[index]
    assert after["seleniumu"].score == after[best].score


def test_echoes_do_not_depend_on_the_order_of_the_batch() -> None:
    rng = random.Random(4)
    names = ["tgrequests", "tgrequest", "tg-requests", "djangoo", "djangoo2", "seleniumm",
             "seleniumx", *noise_names(40)]
    times = [rng.choice([0.0, HOUR, 30 * HOUR]) for _ in names]
    first = batch(names, times)
    order = list(range(len(names)))
    rng.shuffle(order)
    second = batch([names[i] for i in order], [times[i] for i in order])
    assert {n: (r.score, r.reasons) for n, r in first.items()} == \
        {n: (r.score, r.reasons) for n, r in second.items()}
    assert echoed(first)


def test_off_when_asked_and_limited_by_length() -> None:
    names, times = ["tgrequests", "tgrequest", "djangoo", "djangoo2"], [0.0, 1.0, 0.0, 1.0]
    assert echoed(batch(names, times)) == {"tgrequest", "djangoo2"}
    assert not echoed(batch(names, times, policy_with(echo_min_score=0.0)))
    # djangoo (7 letters) is too short to be a twin at 8, as djangoo2 to be raised at 9.
    assert echoed(batch(names, times, policy_with(echo_name_min=8))) == {"tgrequest"}


def test_an_untimed_list_longer_than_a_window_has_no_echoes() -> None:
    names = ["tgrequests", "tgrequest", *noise_names(CFG.sweep_batch_names)]
    assert not echoed(batch(names))
    assert echoed(batch(names, [0.0] * len(names))) == {"tgrequest"}


def test_policy_rejects_a_score_beyond_one_and_no_length() -> None:
    for key, value in (("echo_min_score", 1.5), ("echo_min_score", -0.1),
                       ("echo_name_min", 0)):
        with pytest.raises(PolicyError, match=key):
            policy_with(**{key: value})


@pytest.mark.parametrize(("first", "second", "near"), [
    ("tgrequests", "tgrequest", True), ("tgrequests", "tg-requests", True),
    ("tgrequests", "gtrequests", True),  # two neighbours swapped
    ("tgrequests", "tgrequestx", True), ("tgrequests", "tgrequ", False),
    ("tgrequests", "tgrequests", False),  # a name is not its own twin
])
def test_twins_are_found_one_edit_away(first: str, second: str, near: bool) -> None:
    index = TwinIndex()
    index.add(first, 0.0, 0.9)
    assert (first in set(index.near(second))) is near
    assert spelling("tg-requests") == "tgrequests"
    assert "tgrequest" in deletion_keys("tgrequests") and "tgrequests" in deletion_keys(
        "tgrequests")


def test_the_index_empties_as_twins_leave() -> None:
    index = TwinIndex()
    for name in ("tgrequests", "tgrequestz", "djangoo"):
        index.add(name, 0.0, 0.9)
    index.add("djangoo", 5.0, 0.95)  # again: its first time, its best score
    assert index.twins["djangoo"] == (0.0, 0.95)
    for name in ("tgrequests", "tgrequestz", "djangoo", "djangoo"):
        index.remove(name)
    assert not len(index) and not index._keys


def through_stream(names: list[str], times: list[float], memory: EchoMemory | None = None,
                   ) -> dict[str, tuple[float, str]]:
    """Each name through a stream's echo memory in time order, as the scorer passes it
    (detector/stream/scorer.py; the names here meet no sweep or burst)."""
    memory = EchoMemory(CFG) if memory is None else memory
    checked = {r.name: r for r in check(names)}
    found = {}
    for i in sorted(range(len(names)), key=lambda i: (times[i], names[i])):
        result = checked[names[i]]
        assert result.normalized is not None
        echo = memory.observe(result.normalized, times[i], result.score,
                              is_echo_candidate(result, CFG))
        if echo is not None:
            found[names[i]] = (echo.score, echo.reason)
    return found


def variants(base: str, count: int, seed: int) -> list[str]:
    """``count`` distinct names one or two edits from ``base``."""
    rng = random.Random(seed)
    names: dict[str, None] = {}
    while len(names) < count:
        letters = list(base)
        for _ in range(rng.choice([1, 2])):
            at = rng.randrange(len(letters))
            if rng.random() < 0.5:
                letters.insert(at, rng.choice(string.ascii_lowercase))
            else:
                letters[at] = rng.choice(string.ascii_lowercase)
        names["".join(letters)] = None
    return list(names)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_stream_raises_what_a_timed_batch_raises(seed: int) -> None:
    rng = random.Random(seed)
    names = [*variants("requests", 40, seed), *variants("selenium", 120, seed),
             *variants("tgrequests", 40, seed), *noise_names(40, seed)]
    # Distinct times: at a tie a stream sees only those before (as for bursts).
    times = rng.sample(range(int(1.5 * CFG.sweep_window_hours * HOUR)), len(names))
    after = batch(names, [float(ts) for ts in times], policy_with(burst_boost=0.0,
                                                                  sweep_boost=0.0))
    expected = {name: (r.score, r.reasons[-1]) for name, r in after.items()
                if name in echoed(after)}
    assert len(expected) >= 5
    assert through_stream(names, [float(ts) for ts in times]) == expected


def test_a_checkpoint_keeps_the_twins() -> None:
    names = variants("selenium", 60, 3)
    times = [i * 600.0 for i in range(len(names))]
    whole = through_stream(names, times)
    cut = 20
    first = EchoMemory(CFG)
    through_stream(names[:cut], times[:cut], first)
    restored = EchoMemory(CFG)
    restored.load(json.loads(json.dumps(first.dump())))
    assert restored.index.twins == first.index.twins and len(restored) == len(first) > 0
    rest = through_stream(names[cut:], times[cut:], restored)
    assert rest == {name: got for name, got in whole.items() if name in names[cut:]}
    assert rest


def test_a_release_is_raised_but_is_no_twin() -> None:
    memory = EchoMemory(CFG)
    assert memory.observe("tgrequests", 0.0, 0.64, True, register=False) is None
    assert not len(memory)  # a release's name was not chosen in the window
    memory.observe("tgrequests", 0.0, 0.64, True)
    got = memory.observe("tgrequest", 1.0, 0.07, True, register=False)
    assert got is not None and got.score == 0.64 and len(memory) == 1


def test_a_flood_of_variants_is_raised_at_a_bounded_cost() -> None:
    """Red team: 20,000 variants of `selenium` (most of them look-alikes) through
    the stream, one a second. A lookup visits the names one deletion key holds, at most
    the alphabet times the name's length; the memory stays within
    burst_window_max_names, and the variants scoring below an earlier twin are raised."""
    cfg = replace(CFG, burst_window_max_names=2_000)
    memory = EchoMemory(cfg)
    results = check(variants("selenium", 20_000, 5))
    raised = 0
    for i, result in enumerate(results):
        assert result.normalized is not None
        got = memory.observe(result.normalized, float(i), result.score,
                             is_echo_candidate(result, cfg))
        raised += got is not None
        assert len(memory) == len(memory.index) <= 2_000
    assert raised > 2_000


def test_find_echoes_raises_only_candidates() -> None:
    results = {r.name: r for r in check(["tgrequests", "tgrequest"])}
    rows = [(0.0, "tgrequests", 0), (1.0, "tgrequest", 1)]
    by_position = {0: results["tgrequests"], 1: results["tgrequest"]}
    assert set(find_echoes(rows, by_position, {1}, CFG, timed=True)) == {1}
    assert not find_echoes(rows, by_position, set(), CFG, timed=True)


def test_check_name_file_with_times_reports_echoes(tmp_path: Path) -> None:
    names = ["tgrequests", "tgrequest", "http3client", "http3-client", *noise_names(5)]
    lines = {line["name"]: line for line in check_name_file(
        tmp_path, names, [f"2023-07-26T{i:02d}:00:00Z" for i in range(len(names))])}
    assert list(lines) == names
    assert {name for name, line in lines.items()
            if "echo" in (line.get("sweep") or {})} == {"tgrequest"}
    line = lines["tgrequest"]
    assert line["flagged"] and line["score"] == lines["tgrequests"]["score"]
    assert line["reasons"][-1].startswith("echo: one edit from 'tgrequests'")
    assert line["sweep"]["echo"]["twin"] == "tgrequests"

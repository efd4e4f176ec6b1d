"""Pairs: a window full of names joining two popular names, their words crossing ends,
as a generator crossing a vocabulary registers them (detector/names/pairs.py), in a batch,
through the stream and the CLI."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from window_names import (
    CFG,
    STATS,
    check,
    check_name_file,
    noise_names,
    raised_by,
    through_stream,
)

from detector.names import BurstMemory, NameResult
from detector.names.bursts import PieceCounts, is_member, load_pieces, shipped_brands
from detector.names.pairs import PairWindow, find_pairs, halves, is_pair_member
from detector.names.sweeps import apply_sweeps
from detector.policy import PolicyError, build_policy, load_policy

BRANDS = shipped_brands(CFG.combo_min_length)
# Popular names (the shape of 2023-05-20, not its words): each at both ends below.
WORDS = ["boto3", "click", "jinja2", "attrs", "pillow", "httpx", "redis", "celery"]


def crossing(words: list[str], count: int, seed: int = 3) -> list[str]:
    """``count`` distinct names joining two of ``words``, drawn at random as a generator
    draws them (so each word sits at either end)."""
    rng = random.Random(seed)
    names: dict[str, None] = {}
    while len(names) < count:
        first, second = rng.sample(words, 2)
        names[f"{first}-{second}"] = None
    return list(names)





def paired(after: list[NameResult]) -> set[str]:
    return raised_by(after, "pair")


def batch(names: list[str], times: list[float] | None = None, **kwargs: object
          ) -> list[NameResult]:
    times = [0.0] * len(names) if times is None else times
    return apply_sweeps(check(names), times, pieces=STATS, **kwargs)  # type: ignore[arg-type]


def test_the_pairs_score_nothing_alone_and_are_members() -> None:
    """Two popular names joined: no look-alike of either, so the name check scores 0."""
    for result in check(["boto3-click", "celery-httpx", "zork-redis"]):
        assert result.score == 0.0 and not result.matches
        assert is_pair_member(result, CFG) and not is_member(result, CFG)


@pytest.mark.parametrize(("name", "expected"), [
    ("boto3-click", ("boto3", "click", True)),
    ("scikit-learn-matplotlib", ("scikit-learn", "matplotlib", True)),  # the first split
    ("zork-redis", ("zork", "redis", False)),  # one popular word and one other
    ("redis-zork", ("redis", "zork", False)),
    ("py-redis", None),  # a word too short
    ("zork-blorp", None),  # no popular word
    ("zork-blorp-redis", None),  # two words before the popular name
    ("zork-scikit-learn", ("zork", "scikit-learn", False)),  # a popular name with a hyphen
    ("scikit-learn-zork", ("scikit-learn", "zork", False)),
    ("botoclick", None),  # glued: bursts' and runs' (detector/names/runs.py)
])
def test_halves(name: str, expected: tuple[str, str, bool] | None) -> None:
    assert halves(name, BRANDS) == expected


@pytest.mark.parametrize(("label", "others", "raised"), [
    # The generator: pairs of one vocabulary, each word at both ends.
    ("crossed vocabulary", crossing(WORDS, 14), True),
    # Exactly pair_min_names other pairs, crossed (`click-boto3` ends with `boto3`).
    ("five crossed pairs", ["click-boto3", "jinja2-attrs", "pillow-httpx", "redis-celery",
                            "attrs-pillow"], True),
    ("four crossed pairs", ["click-boto3", "jinja2-attrs", "pillow-httpx", "redis-celery"],
     False),
    # A family: one host at one end and popular names after it (`django-redis`...). Its
    # words keep to their ends, so `boto3-click` is crossed by none of them.
    ("a family's host", [f"django-{word}" for word in WORDS[2:]] + ["flask-tqdm",
                                                                   "flask-lxml"], False),
    ("random names", noise_names(60, length=8), False),
    # A busy day of a registry: 3,000 names holding these pairs by chance (the live share
    # is 0.84%, 25 pairs in 3,000), so 14 are no more than chance.
    ("a busy day", crossing(WORDS, 14) + noise_names(3_000, length=8), False),
])
def test_a_pair_is_raised_by_a_window_full_of_crossed_pairs(label: str, others: list[str],
                                                            raised: bool) -> None:
    names = ["boto3-click", *[name for name in others if name != "boto3-click"]]
    after = batch(names)
    assert ("boto3-click" in paired(after)) is raised, label
    if raised:
        result = after[0]
        # From burst_glued_floor (0.1), k >= 5 other pairs: past the flag threshold.
        assert result.score > 0.5 and result.flagged
        assert result.reasons[-1].startswith("pairs: ")
        pair = result.sweep["pair"]
        assert pair["words"] == ["boto3", "click"] and pair["shared_word"] is None
        assert pair["count"] >= CFG.pair_min_names and pair["individual_score"] == 0.0
        assert pair["names"] and "boto3-click" not in pair["names"]


@pytest.mark.parametrize(("label", "others", "raised"), [
    # `zork` joins popular names in two other names of a window full of pairs.
    ("a shared word", ["zork-attrs", "celery-zork"], True),
    ("a word joined once", ["zork-attrs"], False),
    # The same word beside popular names, in a window without a burst of pairs.
    ("no pairs around", ["zork-attrs", "celery-zork", "zork-httpx", "zork-pillow"], None),
])
def test_a_word_the_pairs_share_raises_its_names(label: str, others: list[str],
                                                 raised: bool | None) -> None:
    pairs = [] if raised is None else crossing(WORDS, 14)
    names = ["zork-redis", *others, *pairs]
    after = batch(names)
    assert ("zork-redis" in paired(after)) is bool(raised), label
    if raised:
        pair = after[0].sweep["pair"]
        assert pair["shared_word"] == "zork" and pair["shared_names"] == len(others)
        assert after[0].reasons[-1].startswith("pairs: ") and "'zork'" in after[0].reasons[-1]


def test_pairs_do_not_depend_on_the_order_of_the_batch() -> None:
    names = [*crossing(WORDS, 20), "zork-redis", "zork-attrs", "celery-zork",
             *noise_names(40, length=8)]
    times = [float(i % 5) * 3600.0 for i in range(len(names))]
    first = batch(names, times)
    order = list(range(len(names)))
    random.Random(4).shuffle(order)
    shuffled = batch([names[i] for i in order], [times[i] for i in order])
    # `celery-zork` comes two hours after the two others joining `zork`: they were
    # registered before it, not it before them.
    assert "celery-zork" in paired(first) and "zork-redis" not in paired(first)
    assert {r.name: (r.score, r.reasons) for r in shuffled} == {
        r.name: (r.score, r.reasons) for r in first}


def test_names_beyond_the_window_do_not_count() -> None:
    day = CFG.sweep_window_hours * 3600.0
    others = crossing(WORDS, 14)[1:]
    late = batch(["boto3-click", *others], [2 * day + 1.0] + [0.0] * len(others))
    assert "boto3-click" not in paired(late)
    within = batch(["boto3-click", *others], [day] + [0.0] * len(others))
    assert "boto3-click" in paired(within)


def test_off_when_asked_or_without_live_statistics() -> None:
    names = crossing(WORDS, 14)
    for key, value in (("pair_min_names", 0), ("burst_boost", 0.0)):
        tables = load_policy().to_dict()
        tables["names"][key] = value
        assert not paired(batch(names, policy=build_policy(tables))), key
    # Piece counts without pairs counted (a file written before pairs): no pairs.
    assert not paired(apply_sweeps(check(names), [0.0] * len(names),
                                   pieces=replace(STATS, pairs=0)))
    assert find_pairs([], {}, CFG, STATS, timed=True) == {}


def test_policy_rejects_a_negative_count_and_a_share_beyond_one() -> None:
    for key, value in (("pair_min_names", -1), ("pair_shared_names", 0),
                       ("pair_significance", 1.5)):
        tables = load_policy().to_dict()
        tables["names"][key] = value
        with pytest.raises(PolicyError, match=key):
            build_policy(tables)


def test_piece_counts_count_pairs_and_keep_them(tmp_path: Path) -> None:
    names = ["boto3-click", "django-redis", "zork-redis", "redis", "flask-tqdm-x"]
    stats = PieceCounts.build(names, BRANDS)
    assert stats.pairs == 2 and stats.names == 5
    path = tmp_path / "pieces.npz"
    stats.save(path, "test")
    assert load_pieces(str(path)).pairs == 2
    assert STATS.pairs > 1_000  # the shipped counts hold them


def test_the_window_empties_as_names_leave() -> None:
    window = PairWindow(CFG, STATS)
    names = [*crossing(WORDS, 10), "zork-redis", "zork-attrs", *noise_names(6, length=8)]
    for name in names:
        window.add(name)
    assert len(window) == len(names) and len(window.pairs) == 10
    for name in names:
        window.remove(name)
    assert not len(window) and not window.pairs and not window.starts
    assert not window.ends and not window.partnered



@pytest.mark.parametrize("seed", [1, 2])
def test_the_stream_raises_what_a_timed_batch_raises(seed: int) -> None:
    rng = random.Random(seed)
    names = [*crossing(WORDS, 24, seed), "zork-redis", "zork-attrs", "celery-zork"]
    names += noise_names(80, seed, length=8)
    times = [rng.uniform(0.0, 2 * CFG.sweep_window_hours * 3600.0) for _ in names]
    after = batch(names, times)
    expected = {r.name: (r.score, r.reasons[-1]) for r in after
                if r.sweep is not None and {"burst", "run", "grid", "pair"} & r.sweep.keys()}
    assert through_stream(names, times) == expected
    assert sum(reason.startswith("pairs: ") for _, reason in expected.values()) >= 5


def test_a_checkpoint_keeps_the_pairs() -> None:
    names = crossing(WORDS, 24)
    times = [i * 60.0 for i in range(len(names))]
    whole = through_stream(names, times)
    first = BurstMemory(CFG, STATS)
    cut = 12
    through_stream(names[:cut], times[:cut], first)
    restored = BurstMemory(CFG, STATS)
    restored.load(json.loads(json.dumps(first.dump())))
    assert restored.pairs.pairs == first.pairs.pairs and len(restored.pairs) == cut
    rest = through_stream(names[cut:], times[cut:], restored)
    assert rest == {name: got for name, got in whole.items() if name in names[cut:]}
    assert any(reason.startswith("pairs: ") for _, reason in rest.values())


def test_a_release_is_raised_but_does_not_join_the_window() -> None:
    memory = BurstMemory(CFG, STATS)
    for i, name in enumerate(crossing(WORDS, 14)):
        if name != "boto3-click":
            memory.observe(name, float(i))
    got = memory.observe("boto3-click", 100.0, None, register=False, pair_score=0.0)
    assert got is not None and got.reason.startswith("pairs: ")
    assert "boto3-click" not in memory.pairs.pairs and len(memory.pairs) == len(memory)


def test_a_flood_of_pairs_is_raised_at_a_bounded_cost() -> None:
    """Red team: 20,000 pairs of 120 popular names through the stream, one a second. Each
    is counted once entering and once leaving; the window stays within
    burst_window_max_names, and the flood is raised."""
    cfg = replace(CFG, burst_window_max_names=2_000)
    memory = BurstMemory(cfg, STATS)
    rng = random.Random(5)
    words = [name for name in sorted(BRANDS.popular) if name.isalpha() and len(name) > 4][:120]
    raised = 0
    for i in range(20_000):
        first, second = rng.sample(words, 2)
        got = memory.observe(f"{first}-{second}", float(i), None, pair_score=0.0)
        raised += got is not None and got.reason.startswith("pairs: ")
        assert len(memory.pairs) == len(memory) <= 2_000
    assert raised > 15_000


def test_check_name_file_with_times_raises_pairs(tmp_path: Path) -> None:
    """A generator's pairs over a day: in the JSON the later ones name the earlier."""
    names = [*crossing(WORDS, 14), "zork-redis", "zork-attrs", "celery-zork"]
    lines = check_name_file(tmp_path, names,
                            [f"2023-05-20T{i:02d}:00:00Z" for i in range(len(names))])
    assert [line["name"] for line in lines] == names
    got = {line["name"] for line in lines if "pair" in (line.get("sweep") or {})}
    # `celery-zork` is the second name after two others join `zork` to a popular name.
    assert "celery-zork" in got and "zork-attrs" not in got and names[-4] in got
    assert names[0] not in got  # the first pairs have too few before them
    for line in lines:
        if line["name"] in got:
            assert line["reasons"][-1].startswith("pairs: ") and line["flagged"]
            pair = line["sweep"]["pair"]
            assert pair["window_hours"] == CFG.sweep_window_hours
            assert set(pair["names"]) < set(names)

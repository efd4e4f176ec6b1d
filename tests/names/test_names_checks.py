"""Each check on a small hand-made corpus: what it finds, how it names it, how it scores."""

from __future__ import annotations

import pytest

from detector.names import NameChecker
from detector.names.allowlist import Allowlist
from detector.popular import PopularCorpus

POPULAR = [
    "requests",
    "numpy",
    "django",
    "python-dateutil",
    "beautifulsoup4",
    "scikit-learn",
    "setuptools",
    "urllib3",
    "colorama",
    "event-stream",
    "tensorrt-cu12-libs",
    "tensorrt-cu12",
    "tensorrt-cu12-bindings",
    "pyyaml",
    "pymongo",
    "sphinx",
    "opencv-python",
    "matplotlib",
    "jinja2",
    "websocket-client",
    "cryptography",
    "attrs",
    "foo-core",
]
# Ranks spread like a real download ranking.
RANKS = [
    1,
    2,
    5,
    8,
    20,
    30,
    40,
    3,
    60,
    700,
    900,
    950,
    990,
    7,
    150,
    400,
    120,
    35,
    25,
    90,
    50,
    33,
    14000,
]


@pytest.fixture(scope="module")
def checker() -> NameChecker:
    return NameChecker(PopularCorpus.from_names(POPULAR, ranks=RANKS), allowlist=Allowlist())


@pytest.mark.parametrize(
    ("name", "target", "kind"),
    [
        ("reqeusts", "requests", "swapped-characters"),
        ("reequests", "requests", "repeated-character"),
        ("reqests", "requests", "omitted-character"),
        ("requezts", "requests", "keyboard-typo"),
        ("djang0", "django", "homoglyph"),
        ("dj4ngo", "django", None),  # 4 is not a look-alike of a: some other close kind
        ("rnatplotlib", "matplotlib", "homoglyph"),
        ("reque3ts", "requests", "bit-flip"),
        ("stream-event", "event-stream", "word-reorder"),
        ("setup-tools", "setuptools", "separator"),
        ("scikitlearn", "scikit-learn", "separator"),
        ("requests-py", "requests", "affix"),
        ("pyrequests", "requests", "affix"),
        ("python-mongo", "pymongo", "affix"),
        ("yaml", "pyyaml", "affix"),
        ("reqeusts-py", "requests", "affix"),
        ("openvc", "opencv-python", "affix"),
        ("request", "requests", "plural"),
        ("colorama2", "colorama", "version-suffix"),
        ("urllib", "urllib3", "version-suffix"),
        ("python-dateutil3", "python-dateutil", "version-suffix"),
        ("colourama", "colorama", "extra-character"),
        ("matplotlob", "matplotlib", "keyboard-typo"),
        ("cryptografy", "cryptography", "edit-distance-2"),
        ("websocket", "websocket-client", "affix"),
        ("event", "event-stream", "dropped-words"),
    ],
)
def test_check_finds_and_names(
    checker: NameChecker, name: str, target: str, kind: str | None
) -> None:
    result = checker.check(name)
    found = {m.target: m for m in result.matches}
    assert target in found, result.to_dict()
    if kind is not None:
        assert found[target].kind == kind
    reason = found[target].reason
    assert f"'{target}'" in reason and "rank" in reason


@pytest.mark.parametrize(
    "name", ["requests", "Requests", "REQUESTS", "python_dateutil", "Python.DateUtil"]
)
def test_a_name_is_never_a_squat_of_itself(checker: NameChecker, name: str) -> None:
    result = checker.check(name)
    assert all(m.target != result.normalized for m in result.matches)
    assert not result.flagged


def test_popular_neighbours_of_similar_rank_are_not_squats(checker: NameChecker) -> None:
    # tensorrt-cu12-bindings (990) vs tensorrt-cu12 (950): both popular, similar rank.
    assert checker.check("tensorrt-cu12-bindings").matches == []


@pytest.mark.parametrize("name", ["tensorrt-cu13-libs", "tensorrt-cu11", "foo-cli"])
def test_family_siblings_are_not_squats(checker: NameChecker, name: str) -> None:
    assert not checker.check(name).flagged, checker.check(name).to_dict()


def test_every_match_is_returned_best_first(checker: NameChecker) -> None:
    result = checker.check("reqeusts-py")
    assert result.matches, result
    scores = [m.score for m in result.matches]
    assert scores == sorted(scores, reverse=True)
    assert result.score == scores[0]
    assert result.reasons == [m.reason for m in result.matches]


def test_popularity_raises_the_score(checker: NameChecker) -> None:
    # The same swap on a top-ranked target scores higher than on a rank-14000 one.
    assert checker.check("reqeusts").score > checker.check("foo-ocre").score


def test_longer_names_make_a_typo_more_telling(checker: NameChecker) -> None:
    assert checker.check("websocket-cleint").score > checker.check("attsr").score


def test_scores_are_probabilities_in_range(checker: NameChecker) -> None:
    for name in ["reqeusts", "x1", "zzzzzz", "numpyy", "my-project", "a" * 150]:
        result = checker.check(name)
        assert 0.0 <= result.score <= 1.0
        assert result.flagged == (result.score >= checker.threshold)


def test_allowlist_clears_a_pair_with_its_reason() -> None:
    allow = Allowlist({("request", "requests"): "maintained by the requests authors"})
    checker = NameChecker(PopularCorpus.from_names(POPULAR, ranks=RANKS), allowlist=allow)
    assert all(m.target != "requests" for m in checker.check("request").matches)
    assert allow.reason("request", "requests") == "maintained by the requests authors"
    # The allowlist clears only that pair.
    assert any(m.target == "requests" for m in checker.check("reqeusts").matches)


def test_shipped_allowlist_rows_carry_reasons() -> None:
    from detector.names.allowlist import load_allowlist

    allow = load_allowlist()
    assert allow.pairs and all(reason for reason in allow.pairs.values())


def test_allowlist_row_without_reason_is_refused(tmp_path) -> None:
    from detector.names.allowlist import load_allowlist

    path = tmp_path / "allow.tsv"
    path.write_text("name\ttarget\treason\nfoo\tbar\n")
    with pytest.raises(ValueError, match="line 2"):
        load_allowlist(path)


def test_shipped_corpus_examples() -> None:
    from detector.names import check_name

    flagged = check_name("reqeusts")
    assert flagged.flagged and flagged.best.target == "requests" and flagged.best.target_rank <= 20
    assert check_name("requests").matches == []
    assert not check_name("my-own-new-project-2026").flagged


def test_batch_equals_single(checker: NameChecker) -> None:
    names = ["reqeusts", "", "numpyy", "stream-event", "ok-name", "djang0"] * 3
    batch = checker.check_many(names, batch_size=4)
    assert [r.to_dict() for r in batch] == [checker.check(n).to_dict() for n in names]

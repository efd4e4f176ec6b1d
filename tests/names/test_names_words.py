"""What differs, in words (edits.difference, detector/names/lexicon.py), the word features a
check computes when its weights use them, and the bulk `check-name --file --json` path.

Squats and their legitimate look-alikes side by side; no ../shared needed."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from detector.names import NameChecker
from detector.names import lexicon as lx
from detector.names.edits import difference
from detector.names.scoring import WORD_FEATURES, NameScorer
from detector.popular import PopularCorpus

# (name, target, added, token, at, target opens the name, vowel swap)
DIFFERENCES = [
    # squats: a letter inside or glued to the target's word
    ("pyperclipe", "pyperclip", "e", "pyperclipe", "word-edge", True, False),
    ("solna", "solana", "", "solna", "inside", True, False),
    ("pysereal", "pyserial", "", "pysereal", "inside", True, True),
    ("lubyrequests", "requests", "luby", "lubyrequests", "word-edge", False, False),
    ("discord-ebhook", "discord-webhook", "", "ebhook", "word-edge", True, False),
    # look-alikes: a whole word added or changed
    ("requests-oauthlib", "requests", "oauthlib", "oauthlib", "whole-word", True, False),
    ("pytest-lock", "pytest-mock", "", "lock", "word-edge", True, False),
    ("py-requests", "requests", "py", "py", "whole-word", False, False),
    ("django-rest-framework-xml", "django-rest-framework", "xml", "xml", "whole-word", True, False),
]


@pytest.mark.parametrize(("name", "target", "added", "token", "at", "opens", "vowel"), DIFFERENCES)
def test_difference_names_the_words_that_differ(
    name: str, target: str, added: str, token: str, at: str, opens: bool, vowel: bool
) -> None:
    diff = difference(name, target)
    assert (diff.added, diff.token, diff.at, diff.target_at_start, diff.vowel_swap) == (
        added, token, at, opens, vowel
    )


LIVE = [
    "requests-oauthlib", "flask-oauthlib", "django-oauthlib", "pytest-lock", "file-lock",
    "redis-lock", "my-lab", "ml-lab", "data-lab", "cli", "foo-cli", "bar-cli", "utils-x",
    "lib", "my-lib", "grand", "grand-tour", "django-foo", "django-bar", "django-baz",
]
SQUAT_AFFIXES = [("new", "2022-06-01"), ("new", "2022-09-01"), ("installer", "2022-10-01"),
                 ("cli", "2021-10-01"), ("new", "2024-01-01")]


@pytest.fixture(scope="module")
def lexicon() -> lx.Lexicon:
    lexicon = lx.build(LIVE, ["requests", "django", "control"], SQUAT_AFFIXES, as_of="2022-12-31")
    return lx.Lexicon(
        lexicon.names,
        {**lexicon.tokens, **{"lib": 40, "grand": 30}},  # a glued pair of common words
        lexicon.prefixes,
        lexicon.suffixes,
        lexicon.affixes,
        lexicon.affix_total,
    )


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        ("oauthlib", "rare"),  # in three live names
        ("lock", "rare"),
        ("cordv", "0"),  # noise
        ("gamke", "0"),
        ("libgrand", "compound"),  # two common words glued
        ("lab-cordv", "0"),  # the rarest word counts
        ("", "none"),
    ],
)
def test_wordness_tells_words_from_noise(lexicon: lx.Lexicon, part: str, expected: str) -> None:
    assert lexicon.wordness(part) == expected


def test_affix_odds_favour_what_squats_add_over_what_live_names_use(lexicon: lx.Lexicon) -> None:
    # `new` was added by two squats before the date and is in no live name; `cli` by one
    # squat but in four live names; `oauthlib` by no squat.
    assert lexicon.affix_odds("new") > lexicon.affix_odds("cli") > lexicon.affix_odds("oauthlib")
    assert lexicon.affixes["new"] == pytest.approx(0.5 ** (213 / 365) + 0.5 ** (121 / 365), 1e-3)
    assert lx.EMPTY_LEXICON.affix_odds("new") == 0.0


def test_brand_crowd_counts_live_names_carrying_the_brand(lexicon: lx.Lexicon) -> None:
    assert lexicon.brand_crowd("django", at_start=True) == pytest.approx(math.log1p(4))
    assert lexicon.brand_crowd("requests", at_start=True) == pytest.approx(math.log1p(1))
    assert lexicon.brand_crowd("control", at_start=False) == 0.0


def test_tokens_file_round_trips_without_pickle(tmp_path: Path) -> None:
    total, counts = lx.token_counts(LIVE)
    prefixes, suffixes = lx.brand_counts(LIVE, ["django", "lock"])
    path = tmp_path / "tokens.npz"
    lx.save_tokens(path, total, counts, prefixes, suffixes, note="test")
    affixes = tmp_path / "affixes.json"
    lx.save_affixes(affixes, {"new": 1.5}, "2022-12-31", 365.0)
    loaded = lx.load_lexicon(str(path), str(affixes))
    assert loaded.names == len(LIVE)
    assert loaded.tokens == {w: c for w, c in counts.items() if c >= lx.MIN_TOKEN_NAMES}
    assert loaded.prefixes == {"django": 4} and loaded.suffixes == {"lock": 3}
    assert loaded.affixes == {"new": 1.5}
    with np.load(path, allow_pickle=False) as data:  # plain arrays only
        assert {"header", "words", "counts", "brands", "brand_counts"} <= set(data.files)


CORPUS = PopularCorpus.from_names(
    ["requests", "pyperclip", "pytest-mock", "solana"], ranks=[1, 350, 300, 5000], version="t"
)


def test_word_features_only_when_the_weights_use_them(lexicon: lx.Lexicon) -> None:
    plain = NameChecker(CORPUS, scorer=NameScorer(0.0, {"kind=extra-character": 1.0}))
    assert not plain.word_features
    (_, features), = plain.candidates(["pyperclipe"])[0]
    assert not features.worded and not any(k.startswith(WORD_FEATURES) for k in features.vector())
    # A noise word weighs against a legitimate word added: the weights decide, per feature.
    scorer = NameScorer(0.0, {"token=0": 2.0, "token=rare": -2.0})
    worded = NameChecker(CORPUS, scorer=scorer, lexicon=lexicon)
    squat, look_alike = worded.check_many(["pyperclipe", "pytest-lock"])
    assert squat.best is not None and look_alike.best is not None
    assert squat.score > 0.5 > look_alike.score


WARDEN = str(Path(sys.executable).with_name("warden"))


@pytest.mark.parametrize("order", [("--file", "LIST", "--json"), ("--json", "-f", "LIST")])
def test_bulk_path_writes_what_typer_path_writes(tmp_path: Path, order: tuple[str, ...]) -> None:
    names = tmp_path / "names.txt"
    names.write_text("reqeusts\nrequests\n\nBad Name!\npyperclipe\n")
    args = [str(names) if arg == "LIST" else arg for arg in order]
    bulk = subprocess.run([WARDEN, "check-name", *args], capture_output=True, text=True,
                          timeout=120, check=True)
    # The same command through Typer (a --policy of the shipped file takes the Typer path).
    from detector.policy import SHIPPED_POLICY

    typer_run = subprocess.run(
        [WARDEN, "check-name", "--file", str(names), "--json", "--policy", str(SHIPPED_POLICY)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert bulk.stdout == typer_run.stdout and len(bulk.stdout.splitlines()) == 5
    missing = subprocess.run([WARDEN, "check-name", "--file", str(tmp_path / "nope"), "--json"],
                             capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode == 2 and "no such file" in missing.stderr


@pytest.mark.parametrize(("raw", "normalized"), [("Requests_Foo", "requests-foo"), ("zz", "zz")])
def test_unmatched_result_is_the_plain_result(raw: str, normalized: str) -> None:
    from detector.names import NameResult

    fast = NameResult.unmatched(raw, normalized)
    plain = NameResult(raw, normalized, 0.0, False)
    assert fast == plain and fast.to_json() == plain.to_json()
    assert fast.matches is not NameResult.unmatched(raw, normalized).matches  # not shared


@pytest.mark.parametrize("words", [False, True])
def test_forward_run_weighs_word_features_only_when_asked(words: bool) -> None:
    from detector.names import evaluation as ev
    from detector.names import training

    squats = ["reqeusts", "requets", "numpyy", "djnago", "djangoo", "pandsa", "requests-new"]
    malicious = [ev.Malicious(name, "2022-05-01") for name in squats]
    live = ["requests-oauthlib", "django-foo", "numpy-lab", "pandas-utils", "httpy"]
    live += [f"project-{i}" for i in range(400)]
    run = training.forward(malicious, live, alert_rate=0.01, combos=False, history=False,
                           words=words)
    assert run.checker.word_features is words
    assert any(k.startswith(WORD_FEATURES) for k in run.fitted.scorer.weights) is words

"""Edit position and kind inside a family: a slip in the shared affix word is a typo of the
member that carries it, another word is a sibling. Squats and their legitimate look-alikes
side by side."""

from __future__ import annotations

import pytest

from detector.names import NameChecker
from detector.names.allowlist import Allowlist
from detector.popular import PopularCorpus

# A crowded family (`discord-*`, four members) as on PyPI.
POPULAR = ["discord", "discord-py", "discord-webhook", "discord-protos", "mypy-boto3-ssm",
           "mypy-boto3", "mypy-boto3-s3", "mypy-boto3-ec2"]
RANKS = [8659, 1617, 5099, 12521, 900, 200, 100, 300]


@pytest.fixture(scope="module")
def checker() -> NameChecker:
    return NameChecker(PopularCorpus.from_names(POPULAR, ranks=RANKS), allowlist=Allowlist())


@pytest.mark.parametrize(
    ("name", "target", "imitates"),
    [
        # squats: a doubled or swapped letter inside the affix word the member carries
        ("discord-ppy", "discord-py", True),
        ("discord-pyy", "discord-py", True),
        ("discord-yp", "discord-py", True),
        # look-alikes: another short word of the family, or a swap in a non-affix word
        ("discord-pz", "discord-py", False),
        ("discord-api", "discord-py", False),
        ("mypy-boto3-sms", "mypy-boto3-ssm", False),  # AWS SMS and SSM are both services
    ],
)
def test_a_slip_in_the_affix_is_a_typo_a_new_word_a_sibling(
    checker: NameChecker, name: str, target: str, imitates: bool
) -> None:
    targets = {match.target for match in checker.check(name).matches}
    assert (target in targets) is imitates, checker.check(name).to_dict()



@pytest.mark.parametrize(
    ("name", "on_typo"),
    [
        ("reqeusts-py", True),  # squat: an affix on top of a swap
        ("requests-py", False),  # the same affix on the whole name
        ("openvc", True),  # squat: a swap in `opencv`, `python` dropped
        ("opencv", False),  # the core itself, `python` dropped
    ],
)
def test_an_affix_on_a_typo_is_weighed_apart(name: str, on_typo: bool) -> None:
    corpus = PopularCorpus.from_names(["requests", "opencv-python"], ranks=[1, 20])
    checker = NameChecker(corpus, allowlist=Allowlist())
    [(candidate, features)] = checker.candidates([name])[0]
    assert candidate.kind == "affix"
    assert ("affix_on_typo" in features.vector()) is on_typo

"""The name check: every popular project a new name imitates, scored and explained.

Checks are small functions over a prepared ``Query`` and the ``NameIndex``; each
returns ``Candidate`` rows. Mechanism (this module), data (``data/name_rules.toml``,
``data/popular.tsv``, ``data/allowlist.tsv``), weights (``data/name_weights.json``)
and policy (the ``[names]`` table of ``data/policy.toml``) are kept apart.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import islice

from rapidfuzz.distance import OSA

from detector.names.allowlist import Allowlist, load_allowlist
from detector.names.edits import classify, difference
from detector.names.history import AttackHistory, load_history
from detector.names.index import NameIndex, affix_cores
from detector.names.lexicon import EMPTY_LEXICON, Lexicon, load_lexicon
from detector.names.normalize import InvalidName, canonical, skeleton, squashed, words
from detector.names.results import NameMatch, NameResult
from detector.names.rules import load_rules
from detector.names.scoring import WORD_FEATURES, MatchFeatures, NameScorer, load_scorer
from detector.policy import Policy, resolve
from detector.popular import PopularCorpus, shipped_corpus
from detector.vocab import NameKind

_DIGITS = "0123456789"
# Kinds that say only "close"; a named typo kind reaching the same target is preferred.
_GENERIC_KINDS = (NameKind.EXTRA_CHARACTER, NameKind.SUBSTITUTION, NameKind.EDIT_DISTANCE_2)
# Kinds where the name is a whole popular name with something added.
_ADDED_KINDS = frozenset({NameKind.COMBOSQUAT, NameKind.AFFIX, NameKind.DROPPED_WORDS,
                          NameKind.VERSION_SUFFIX, NameKind.PLURAL})
# Queries at least this long are matched up to Damerau-Levenshtein 2; shorter ones up to 1.
DL2_MIN_NAME_LENGTH = 8
# Below this length only named typo kinds count, not a bare one-character difference.
GENERIC_DL1_MIN_LENGTH = 5
# Attacked popular names shorter than this are not looked for inside longer names.
COMBO_MIN_TARGET_LENGTH = 4


@dataclass
class Query:
    name: str  # PEP 503 canonical
    squashed: str
    skeleton: str
    words: tuple[str, ...]
    own_rank: int | None
    cores: list[str]  # what is left after dropping one affix
    edit_ids: Collection[int] = ()  # from the deletion index, within reach
    core_edit_ids: dict[str, Collection[int]] = field(default_factory=dict)
    # (target, what was added) for each attacked popular name at either end of the name.
    combos: list[tuple[str, str]] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return 2 if len(self.name) >= DL2_MIN_NAME_LENGTH else 1


@dataclass(frozen=True)
class Candidate:
    target: str
    kind: str
    distance: int
    position: str
    detail: str


Check = Callable[[Query, NameIndex], Iterable[Candidate]]


def _within_reach(
    name: str, ids: Iterable[int], depth: int, index: NameIndex
) -> Iterator[Candidate]:
    """The popular names among ``ids`` within ``depth`` edits of ``name``, by edit kind."""
    short = len(name.replace("-", "")) < GENERIC_DL1_MIN_LENGTH
    popular = len(index.names)
    for target_id in ids:
        target = index.entries[target_id]
        distance = OSA.distance(name, target, score_cutoff=depth)
        if distance > depth or target == name:
            continue
        edit = classify(name, target, distance, index.rules)
        if target_id >= popular:
            # A typo of the core of popular names: `openvc` for `opencv-python`.
            if distance == 1 and edit.kind not in _GENERIC_KINDS and not short:
                for owner in index.cores[target]:
                    dropped = owner.replace(target, "", 1).strip("-")
                    detail = f"a typo of '{target}' ({edit.detail}), '{dropped}' dropped"
                    yield Candidate(owner, "affix", 2, "end", detail)
            continue
        if short and edit.kind in ("extra-character", "substitution"):
            continue  # on short names a bare one-letter difference is mostly chance
        yield Candidate(target, edit.kind, distance, edit.position, edit.detail)


def _edit_candidates(query: Query, index: NameIndex) -> Iterator[Candidate]:
    """Popular names within Damerau-Levenshtein 1 (2 for long names), by edit kind."""
    return _within_reach(query.name, query.edit_ids, query.depth, index)


def _separator_candidates(query: Query, index: NameIndex) -> Iterator[Candidate]:
    for target in index.squashed.get(query.squashed, ()):
        if target != query.name:
            yield Candidate(target, "separator", 1, "middle", "separators added or removed")


def _homoglyph_candidates(query: Query, index: NameIndex) -> Iterator[Candidate]:
    for target in index.skeletons.get(query.skeleton, ()):
        if squashed(target) != query.squashed:
            yield Candidate(target, "homoglyph", 1, "middle", "look-alike characters")


def _reorder_candidates(query: Query, index: NameIndex) -> Iterator[Candidate]:
    if len(query.words) < 2:
        return
    for target in index.word_sets.get("-".join(sorted(query.words)), ()):
        if target != query.name:
            yield Candidate(target, "word-reorder", 1, "middle", "the same words in another order")


def _affix_candidates(query: Query, index: NameIndex) -> Iterator[Candidate]:
    """`requests-py`, `pyrequests`, `requests2` (affix added) and `yaml` for `pyyaml` (dropped)."""
    for core in query.cores:
        extra = query.name.replace(core, "", 1).strip("-")
        for target in index.cores.get(core, ()):
            # Both carry an affix around one core: `python-mongo` for `pymongo`.
            if target != query.name:
                yield Candidate(target, "affix", 1, "end", f"'{core}' with another affix")
        if core in index.corpus:
            yield Candidate(core, "affix", 1, "end", f"'{extra}' added")
        elif core in query.core_edit_ids:
            # An affix on top of a typo: `reqeusts-py`.
            for candidate in _within_reach(core, query.core_edit_ids[core], 1, index):
                if candidate.distance == 1 and candidate.kind not in ("digit-change",):
                    yield Candidate(
                        candidate.target,
                        "affix",
                        2,
                        "end",
                        f"'{extra}' added to a typo of it ({candidate.detail})",
                    )
    for target in index.cores.get(query.name, ()):
        dropped = target.replace(query.name, "", 1).strip("-")
        yield Candidate(target, "affix", 1, "end", f"'{dropped}' dropped")


def _dropped_word_candidates(query: Query, index: NameIndex) -> Iterator[Candidate]:
    """`django-server` for `django-server-guardian-api`: trailing words cut off."""
    for target in index.word_prefixes.get(query.name, ()):
        cut = target[len(query.name) :].strip("-")
        yield Candidate(target, "dropped-words", 1, "end", f"'{cut}' cut off")


def _combo_candidates(query: Query, index: NameIndex) -> Iterator[Candidate]:
    """`discord-gift`, `pyhttpx-tools`: a popular name that attackers keep targeting, whole,
    at either end of the name, with anything added (the affix check covers the known
    affixes on any popular name)."""
    for target, added in query.combos:
        yield Candidate(target, "combosquat", 1, "end", f"'{added}' added")


def combo_parts(name: str, targets: AbstractSet[str]) -> list[tuple[str, str]]:
    """(target, what was added) for every name of ``targets`` that starts or ends ``name``."""
    found = []
    for size in range(COMBO_MIN_TARGET_LENGTH, len(name) - 1):
        head, tail = name[:size], name[-size:]
        if head in targets:
            found.append((head, name[size:].strip("-")))
        if tail in targets:
            found.append((tail, name[:-size].strip("-")))
    return [(target, added) for target, added in found if added]


CHECKS: tuple[Check, ...] = (
    _edit_candidates,
    _separator_candidates,
    _homoglyph_candidates,
    _reorder_candidates,
    _affix_candidates,
    _dropped_word_candidates,
    _combo_candidates,
)


def _prepare_batch(
    names: list[str], index: NameIndex, combo_targets: AbstractSet[str] = frozenset()
) -> list[Query | None]:
    """Queries with their deletion-index neighbours looked up for the whole batch at once.

    A name on which no check could fire (most names on a registry) gets None instead of a
    query: it reaches no popular name through any table, none of its deletion-index hits is
    within its edit depth, and none of its affix cores is a popular name, the core of one,
    or one edit from one. The names and their cores that may be typos are looked up in one
    pass over the index."""
    rules = index.rules
    corpus, core_owners = index.corpus, index.cores
    by_squashed, by_skeleton, by_words = index.squashed, index.skeletons, index.word_sets
    by_prefix = index.word_prefixes
    depths = [2 if len(name) >= DL2_MIN_NAME_LENGTH else 1 for name in names]
    all_cores = [affix_cores(name, rules) for name in names]
    typo_cores = [core for cores in all_cores for core in cores if _typo_core(core, corpus)]
    found = index.neighbours([*names, *typo_cores], [*depths, *[1] * len(typo_cores)])
    core_hits = iter(found[len(names) :])
    queries: list[Query | None] = []
    for name, depth, hits, cores in zip(names, depths, found[: len(names)], all_cores,
                                        strict=True):
        ids = _within_distance(name, hits, depth, index) if hits else hits
        core_ids: dict[str, Collection[int]] = {}
        for core in cores:
            if _typo_core(core, corpus):
                near = next(core_hits)
                close = _within_distance(core, near, 1, index) if near else near
                if close:
                    core_ids[core] = close
        flat = squashed(name)
        folded = skeleton(name, rules)
        parts = words(name)
        combos = combo_parts(name, combo_targets) if combo_targets else []
        reachable = (
            ids
            or core_ids
            or combos
            or flat in by_squashed
            or folded in by_skeleton
            or name in core_owners
            or name in by_prefix
            or (len(parts) > 1 and "-".join(sorted(parts)) in by_words)
            or (cores and any(core in core_owners or core in corpus for core in cores))
        )
        if not reachable:
            queries.append(None)
            continue
        queries.append(
            Query(
                name=name,
                squashed=flat,
                skeleton=folded,
                words=tuple(parts),
                own_rank=corpus.rank(name),
                cores=cores,
                edit_ids=ids,
                core_edit_ids=core_ids,
                combos=combos,
            )
        )
    return queries


def _typo_core(core: str, corpus: PopularCorpus) -> bool:
    """Whether an affix core is looked up as a possible typo of a popular name or core."""
    return core not in corpus and len(core) > GENERIC_DL1_MIN_LENGTH


def _within_distance(
    name: str, ids: Collection[int], depth: int, index: NameIndex
) -> Collection[int]:
    """``ids``, in their order, of the entries other than ``name`` within ``depth`` edits of
    it (most hits of the deletion index are not: it finds a superset)."""
    entries = index.entries
    close = [
        target_id for target_id in ids
        if 0 < OSA.distance(name, entries[target_id], score_cutoff=depth) <= depth
    ]
    return close if close else ()


# Edits inside a word that are typing slips rather than another word (`ppy`/`yp` for `py`).
_SLIP_KINDS = frozenset({NameKind.REPEATED_CHARACTER, NameKind.SWAPPED_CHARACTERS})


def _typo_of_word(word: str, other: str, index: NameIndex) -> bool:
    if abs(len(word) - len(other)) > 1 or OSA.distance(word, other, score_cutoff=1) != 1:
        return False
    return classify(word, other, 1, index.rules).kind in _SLIP_KINDS


def _is_family_sibling(name: str, target: str, index: NameIndex) -> bool:
    """`foo-core`/`foo-cli`, `tensorrt-cu12-libs`/`-cu13-libs`: one family, not squats."""
    mine, theirs = words(name), words(target)
    if len(mine) != len(theirs) or len(mine) < 2:
        return False
    differing = [i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b]
    if len(differing) != 1:
        return False
    position = differing[0]
    if position == 0:
        return False  # the shared part is the imitated core, not a family root
    a, b = mine[position], theirs[position]
    if a in index.rules.affixes and b in index.rules.affixes:
        return True
    if b in index.rules.affixes and a.isalpha() and _typo_of_word(a, b, index):
        return False  # `discord-ppy`, `discord-yp`: a slip in the shared affix, not a member
    family = index.family_size.get(theirs[0], 0)
    numbered = a[-1:].isdigit() and b[-1:].isdigit()
    if family >= 2 and numbered and a.rstrip(_DIGITS) == b.rstrip(_DIGITS):
        return True  # `-cu12`/`-cu13`, `-v1`/`-v2`: numbered members of one family
    return family >= 3 and max(len(a), len(b)) <= 3


class NameChecker:
    """Scores names against one popular corpus; build once, call many times."""

    def __init__(
        self,
        corpus: PopularCorpus | None = None,
        *,
        ecosystem: str = "pypi",
        allowlist: Allowlist | None = None,
        scorer: NameScorer | None = None,
        policy: Policy | None = None,
        history: AttackHistory | None = None,
        combos: bool | None = None,
        lexicon: Lexicon | None = None,
        combo_scope: str | None = None,
    ) -> None:
        self.corpus = corpus if corpus is not None else shipped_corpus()
        self.index = NameIndex.build(self.corpus, load_rules(ecosystem))
        self.allowlist = allowlist if allowlist is not None else load_allowlist()
        self.scorer = scorer if scorer is not None else load_scorer()
        self.history = history if history is not None else load_history()
        # Word features are computed only for weights that use them (or a lexicon given
        # for fitting): the shipped weights do not (docs/names.md, "What the forward figures
        # chose"), and a check then skips the work.
        self.word_features = lexicon is not None or any(
            key.startswith(WORD_FEATURES) for key in self.scorer.weights
        )
        self.lexicon = lexicon if lexicon is not None else (
            load_lexicon() if self.word_features else EMPTY_LEXICON
        )
        names = resolve(policy).names
        # Combosquats are looked for only with weights fitted for them, on popular names
        # attackers targeted before ("attacked") or on every popular name long enough ("all").
        if combos is None:
            combos = "kind=combosquat" in self.scorer.weights
        scope = combo_scope or names.combo_scope
        if not combos:
            self.combo_targets: frozenset[str] = frozenset()
        elif scope == "all":
            self.combo_targets = frozenset(
                name for name in self.corpus.ranks if len(name) >= names.combo_min_length
            )
        else:
            self.combo_targets = frozenset(
                name for name in self.history.attacked() if name in self.corpus
            )
        self.threshold = names.flag_threshold
        self.min_length = names.min_length
        self.popular_rank_ratio = names.popular_rank_ratio

    def _admissible(self, query: Query, candidate: Candidate) -> bool:
        target = candidate.target
        if target == query.name or self.allowlist.allows(query.name, target):
            return False
        if query.own_rank is not None:
            # A popular project resembling one of similar rank is a neighbour, not a squat.
            target_rank = self.corpus.ranks[target]
            if target_rank * self.popular_rank_ratio > query.own_rank:
                return False
        return not _is_family_sibling(query.name, target, self.index)

    def check(self, raw: str) -> NameResult:
        """Every popular project ``raw`` imitates, best first, with a score and reasons."""
        return self.check_many([raw])[0]

    def check_many(self, raws: Iterable[str], batch_size: int = 4096) -> list[NameResult]:
        """``check`` over many names; the index lookups run a batch at a time."""
        return list(self.iter_check(raws, batch_size))

    def iter_check(self, raws: Iterable[str], batch_size: int = 4096) -> Iterator[NameResult]:
        """Like ``check_many`` but yields results as each batch is done (for streams)."""
        names = iter(raws)
        while batch := list(islice(names, max(batch_size, 1))):
            yield from self._check_batch(batch)

    def _check_batch(self, raws: list[str]) -> list[NameResult]:
        results: list[NameResult | None] = [None] * len(raws)
        pending: list[tuple[int, str, str]] = []
        for position, raw in enumerate(raws):
            try:
                name = canonical(raw)
            except InvalidName as exc:
                results[position] = NameResult(raw, None, 0.0, False, error=str(exc))
                continue
            if len(squashed(name)) < self.min_length:
                results[position] = NameResult.unmatched(raw, name)
            else:
                pending.append((position, raw, name))
        queries = _prepare_batch([name for _, _, name in pending], self.index, self.combo_targets)
        for (position, raw, name), query in zip(pending, queries, strict=True):
            if query is None:
                results[position] = NameResult.unmatched(raw, name)
                continue
            matches = self._score(self._candidates(query))
            score = matches[0].score if matches else 0.0
            results[position] = NameResult(
                name=raw,
                normalized=name,
                score=score,
                flagged=score >= self.threshold,
                matches=matches,
                reasons=[match.reason for match in matches],
            )
        return results  # type: ignore[return-value]

    def candidates(self, names: list[str]) -> list[list[tuple[Candidate, MatchFeatures]]]:
        """For canonical names: the admissible candidates, one per target, with their features."""
        return [
            self._candidates(query) if query is not None else []
            for query in _prepare_batch(names, self.index, self.combo_targets)
        ]

    def _candidates(self, query: Query) -> list[tuple[Candidate, MatchFeatures]]:
        best: dict[str, Candidate] = {}
        for check in CHECKS:
            for candidate in check(query, self.index):
                if not self._admissible(query, candidate):
                    continue
                current = best.get(candidate.target)
                if current is None or self._prefer(candidate, current):
                    best[candidate.target] = candidate
        neighbours = len(best)
        lexicon = self.lexicon
        rows = []
        for candidate in best.values():
            features = MatchFeatures(
                kind=candidate.kind,
                distance=candidate.distance,
                position=candidate.position,
                name_length=len(query.squashed),
                target_length=len(squashed(candidate.target)),
                target_rank=self.corpus.ranks[candidate.target],
                corpus_size=self.corpus.size,
                neighbours=neighbours,
                family_size=self.index.family_size.get(words(candidate.target)[0], 0),
                attacks=self.history.feature(candidate.target),
            )
            if self.word_features:
                features = _with_words(features, query.name, candidate, lexicon)
            rows.append((candidate, features))
        return rows

    @staticmethod
    def _prefer(new: Candidate, old: Candidate) -> bool:
        """Between two ways of reaching one target, keep the closer, then the more specific one."""
        if new.distance != old.distance:
            return new.distance < old.distance
        return old.kind in _GENERIC_KINDS and new.kind not in _GENERIC_KINDS

    def _score(self, candidates: list[tuple[Candidate, MatchFeatures]]) -> list[NameMatch]:
        matches = [
            NameMatch(
                target=candidate.target,
                target_rank=features.target_rank,
                kind=candidate.kind,
                distance=candidate.distance,
                score=self.scorer.score(features),
                reason=_explain(candidate, features.target_rank, self.corpus.size),
            )
            for candidate, features in candidates
        ]
        matches.sort(key=lambda match: (-match.score, match.target_rank, match.target))
        return matches


def _with_words(
    features: MatchFeatures, name: str, candidate: Candidate, lexicon: Lexicon
) -> MatchFeatures:
    """``features`` with what differs, in words: its wordness, where it sits, and for a
    whole target with something added, the affix odds and how crowded the brand is."""
    diff = difference(name, candidate.target)
    added = candidate.kind in _ADDED_KINDS
    return replace(
        features,
        added=lexicon.wordness(diff.added) if diff.added else "none",
        token=lexicon.wordness(diff.token),
        at=diff.at,
        vowel_swap=diff.vowel_swap,
        affix_odds=lexicon.affix_odds(diff.added) if added else 0.0,
        brand_crowd=lexicon.brand_crowd(candidate.target, diff.target_at_start) if added else 0.0,
        worded=True,
    )


_KIND_PHRASES: dict[str, str] = {
    NameKind.SWAPPED_CHARACTERS: "one adjacent swap away from",
    NameKind.REPEATED_CHARACTER: "a doubled letter away from",
    NameKind.OMITTED_CHARACTER: "one left-out character away from",
    NameKind.EXTRA_CHARACTER: "one inserted character away from",
    NameKind.KEYBOARD_TYPO: "one neighbouring-key typo away from",
    NameKind.HOMOGLYPH: "a look-alike spelling of",
    NameKind.BIT_FLIP: "one flipped bit away from",
    NameKind.SUBSTITUTION: "one changed character away from",
    NameKind.DIGIT_CHANGE: "one changed digit away from",
    NameKind.EDIT_DISTANCE_2: "two edits away from",
    NameKind.SEPARATOR: "the same letters, other separators, as",
    NameKind.WORD_REORDER: "the words of",
    NameKind.AFFIX: "an affixed form of",
    NameKind.PLURAL: "the plural/singular of",
    NameKind.VERSION_SUFFIX: "a version-numbered form of",
    NameKind.DROPPED_WORDS: "a shortened form of",
    NameKind.COMBOSQUAT: "a combination of the often-squatted",
}


def _explain(candidate: Candidate, rank: int, size: int) -> str:
    phrase = _KIND_PHRASES.get(candidate.kind, "similar to")
    return f"{phrase} '{candidate.target}' (rank {rank} of {size}): {candidate.detail}"


@lru_cache(maxsize=1)
def default_checker() -> NameChecker:
    """The checker over the shipped corpus, built once per process."""
    return NameChecker()


def check_name(name: str) -> NameResult:
    """Score one name against the shipped popular projects."""
    return default_checker().check(name)


def check_names(names: Iterable[str]) -> list[NameResult]:
    """Score many names against the shipped popular projects."""
    return default_checker().check_many(names)


__all__ = ["NameChecker", "check_name", "check_names", "default_checker"]

"""Pairs: a window full of names that join two popular names.

On 2023-05-20 one generator registered 36 names in a day, each two words of one small
vocabulary joined by a hyphen: `numpy-selenium`, `pytorch-pygame`, `pygame-pytorch`,
`keras-beautifulsoup`, `matplotlib-requests`, `selenium-matplotlib`, `req-flask`,
`req-matplotlib`, `print-requests`. Alone each is a popular name plus a word, the shape
of a fifth of live names (plugins and extensions: `django-redis`, `pytest-django`), and
the name check scores them 0. Two things give them away:

- **the count**: the window holds far more names joining two popular names than live
  names do (0.79% of the live names last released before 2023 are such pairs, about
  three a day at the later live names' rate of 398 a day; that day held 19);
- **the crossing**: the generator draws both words from one vocabulary, so its words sit
  at either end (`matplotlib-requests`, `selenium-matplotlib`), while a family keeps its
  host at one end (`langchain-openai`, `langchain-anthropic`).

**The rule.** A pair (``Brands.paired``: two popular names of ``PAIR_WORD_MIN``+
characters joined by a separator) is raised when another pair of its window ends with its
first word or starts with its second, and the window's other pairs number at least
``pair_min_names`` and would come with a probability below ``pair_significance`` were the
window's names pairs at their live share (Poisson, ``bursts.significant``;
``PieceCounts.pairs``, shipped data). In such a window a name of two words, one a popular
name and the other not (`req-flask`, `sys-scikit-learn`), is raised too when that other
word joins a popular name in at least ``pair_shared_names`` other names of the window
(`req` in `req-matplotlib`, `matplotlib-req`; `print`, `install`, `sys`): the
generator's words that are no popular name. The logit gains as for a burst
(``burst_boost``, ``burst_half_names``, ``k`` the window's other pairs) from
``burst_glued_floor``. Pairs raise only what bursts, runs and grids left.

**Windows** are the bursts' (``sweep_window_hours`` before a name and its ties; a batch
without times is one window); a stream's ``BurstMemory`` keeps a ``PairWindow`` beside
its window, rebuilt from its rows (nothing more is checkpointed). O(1) a name entering
or leaving (its separators aside), O(1) a member's test.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from detector.names.bursts import (
    HOUR,
    PAIR_WORD_MIN,
    Brands,
    PieceCounts,
    Row,
    gained,
    shipped_brands,
    significant,
)
from detector.names.results import NameResult
from detector.policy import NamesPolicy
from detector.sweeps import found_in_windows, listed_text, window_text


@dataclass(frozen=True, slots=True)
class Pair:
    """One name's place among the pairs of its window."""

    words: tuple[str, str]  # its two words (one a popular name, both for a pair)
    shared: str | None  # for a name joining one popular name: its other word
    count: int  # the window's other pairs
    partners: int  # other names of the window joining ``shared`` to a popular name
    listed: tuple[str, ...]  # the first of the window's other pairs
    individual: float  # the score before
    score: float
    window_hours: float | None  # None: the whole batch was the window
    window_names: int

    @property
    def reason(self) -> str:
        held = (f"; its word '{self.shared}' joins a popular name in {self.partners} of the"
                " window's names" if self.shared else
                f"; '{self.words[0]}' or '{self.words[1]}' also sits at the other end of"
                " one of them")
        return (f"pairs: {self.count} other names {window_text(self.window_hours)} (of"
                f" {self.window_names}) join two popular names with a separator, far more"
                f" than live names do ({listed_text(self.listed, self.count)}), as a"
                f" generator crossing a vocabulary does{held}; score {self.individual:.2f}"
                " before")

    def to_dict(self) -> dict[str, Any]:
        return {"words": list(self.words), "shared_word": self.shared, "count": self.count,
                "shared_names": self.partners, "names": list(self.listed),
                "individual_score": self.individual, "window_hours": self.window_hours,
                "window_names": self.window_names}


def pairs_on(cfg: NamesPolicy) -> bool:
    """Whether the policy allows pairs at all."""
    return cfg.pair_min_names > 0 and cfg.burst_boost > 0.0


def halves(name: str, brands: Brands) -> tuple[str, str, bool] | None:
    """The two words of canonical ``name`` a pair weighs, and whether both are popular
    names: a pair's (``Brands.paired``), or a popular name (which may hold separators:
    `scikit-learn`) and one word without, joined by a separator, each of
    ``PAIR_WORD_MIN``+ characters; else None."""
    if "-" not in name:
        return None  # most names
    words = brands.paired(name)
    if words is not None:
        return words[0], words[1], True
    head, _, tail = name.partition("-")
    if len(head) >= PAIR_WORD_MIN and len(tail) >= PAIR_WORD_MIN and tail in brands.popular:
        return head, tail, False  # `sys-scikit-learn`: the popular name may hold a separator
    head, _, tail = name.rpartition("-")
    if len(head) >= PAIR_WORD_MIN and len(tail) >= PAIR_WORD_MIN and head in brands.popular:
        return head, tail, False
    return None


def is_pair_member(result: NameResult, cfg: NamesPolicy, brands: Brands | None = None) -> bool:
    """A name pairs may raise: a pair, or two words one of which is a popular name."""
    if not pairs_on(cfg) or result.normalized is None or result.error is not None:
        return False
    return halves(result.normalized, brands or shipped_brands(cfg.combo_min_length)) is not None


class PairWindow:
    """The pairs of a window and the words joined to popular names (``add``, ``remove``:
    each distinct name of the window once), and a member's ``pair_of``. A batch slides one
    over its rows; a stream's ``BurstMemory`` keeps one beside its window."""

    def __init__(self, cfg: NamesPolicy, stats: PieceCounts, brands: Brands | None = None
                 ) -> None:
        self.cfg = cfg
        self.brands = brands or shipped_brands(cfg.combo_min_length)
        self.share = stats.pairs / stats.names if stats.pairs > 0 and stats.names > 0 else 0.0
        self.size = 0  # the window's distinct names
        self.pairs: dict[str, None] = {}  # the window's pairs, oldest first
        self.starts: Counter[str] = Counter()  # first words of the window's pairs
        self.ends: Counter[str] = Counter()  # their second words
        self.partnered: Counter[str] = Counter()  # word -> names joining it to a popular name

    def __len__(self) -> int:
        return self.size

    def add(self, name: str) -> None:
        self.size += 1
        self._count(name, 1)

    def remove(self, name: str) -> None:
        self.size -= 1
        self._count(name, -1)

    def _count(self, name: str, step: int) -> None:
        words = halves(name, self.brands)
        if words is None:
            return
        head, tail, both = words
        popular = self.brands.popular
        if tail in popular:
            _step(self.partnered, head, step)
        if head in popular:
            _step(self.partnered, tail, step)
        if both:
            _step(self.starts, head, step)
            _step(self.ends, tail, step)
            if step > 0:
                self.pairs[name] = None
            else:
                self.pairs.pop(name, None)

    def pair_of(self, name: str, score: float, timed: bool, present: bool = True
                ) -> Pair | None:
        """The pair of member ``name`` (scoring ``score`` so far; ``present``: it is in
        the window), or None."""
        if not pairs_on(self.cfg) or self.share <= 0.0:
            return None
        words = halves(name, self.brands)
        if words is None:
            return None
        head, tail, both = words
        own = int(present)
        count = len(self.pairs) - (own if both else 0)
        size = self.size + (not present)
        if count < self.cfg.pair_min_names or not significant(
                count, size * self.share, self.cfg.pair_significance):
            return None
        shared, partners = None, 0
        if both:
            twin = own if head == tail else 0
            if self.ends[head] - twin <= 0 and self.starts[tail] - twin <= 0:
                return None  # not crossed: its words keep to their ends
        else:
            shared = tail if head in self.brands.popular else head
            partners = self.partnered[shared] - own
            if partners < self.cfg.pair_shared_names:
                return None
        listed = tuple(islice((other for other in self.pairs if other != name),
                              self.cfg.sweep_listed))
        return Pair((head, tail), shared, count, partners, listed, score,
                    gained(score, count, self.cfg, self.cfg.burst_glued_floor),
                    self.cfg.sweep_window_hours if timed else None, size)


def _step(counts: Counter[str], key: str, step: int) -> None:
    left = counts[key] + step
    if left > 0:
        counts[key] = left
    else:
        del counts[key]


def find_pairs(rows: Sequence[Row], members: Mapping[int, NameResult], cfg: NamesPolicy,
               stats: PieceCounts, timed: bool, brands: Brands | None = None
               ) -> dict[int, Pair]:
    """The pairs of ``members`` (by position) among every name of the batch (``rows``: one
    per name, members among them; time 0 for all in a batch without times).
    One sweep of the window, O(n) in the batch's names."""
    if not members or not pairs_on(cfg) or stats.pairs <= 0:
        return {}
    window = PairWindow(cfg, stats, brands)
    span = cfg.sweep_window_hours * HOUR if timed else math.inf
    # Sorting is linear when the rows are sorted already, as BatchSweeps passes them.
    return found_in_windows(sorted(rows), members, span, window.add, window.remove,
                            lambda name, member: window.pair_of(name, member.score, timed))


def with_pair(result: NameResult, pair: Pair, cfg: NamesPolicy) -> NameResult:
    """``result`` with its score raised, its flag renewed and the pair's reason added."""
    return result.raised(pair.score, pair.reason,
                         {**(result.sweep or {}), "pair": pair.to_dict()}, cfg.flag_threshold)


__all__ = ["Pair", "PairWindow", "find_pairs", "halves", "is_pair_member", "pairs_on",
           "with_pair"]

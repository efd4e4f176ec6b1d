"""Account signals: throwaway email domains, machine-made usernames, impersonation.

Everything here looks at one account on its own; waves of accounts are the
business of ``cohorts``. Each function returns a score in [0, 1] and a reason.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
from functools import lru_cache
from itertools import repeat
from operator import add
from typing import Any

from detector.popular import shipped_corpus
from detector.resources import data_path

_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_LETTER_RUNS = re.compile(r"[a-z]+")
_NOT_LETTERS = re.compile(r"[^a-z]+")
_HEX = re.compile(r"[0-9a-f]{8,}")
_DIGIT_TAIL = re.compile(r"\d{5,}$")
_LETTER_DIGIT = re.compile(r"[a-z]\d|\d[a-z]")
_VOWELS = "aeiouy"


@lru_cache(maxsize=1)
def _provider_table() -> tuple[dict[str, str], frozenset[str], frozenset[str]]:
    with open(data_path("email_providers.toml"), "rb") as handle:
        table = tomllib.load(handle)
    domain_to_provider = {
        domain: provider
        for provider, domains in table["providers"].items()
        for domain in domains
    }
    words = table["impersonation"]
    return (domain_to_provider, frozenset(words["registry_words"]),
            frozenset(words["role_words"]))


@lru_cache(maxsize=1)
def _mailbox_rules() -> tuple[dict[str, str], frozenset[str], frozenset[str]]:
    with open(data_path("email_providers.toml"), "rb") as handle:
        rules = tomllib.load(handle)["mailbox"]
    return (dict(rules["aliases"]), frozenset(rules["dots_ignored"]),
            frozenset(rules["plus_tags"]))


def mailbox_key(email: str | None) -> str | None:
    """The mailbox an address delivers to, by ``data/email_providers.toml`` [mailbox]:
    alias domains folded (googlemail.com -> gmail.com), ``+tag`` dropped where the
    provider delivers it to the base name, dots dropped where the provider ignores them.
    None when there is no address."""
    domain = email_domain(email)
    if domain is None:
        return None
    aliases, dots_ignored, plus_tags = _mailbox_rules()
    domain = aliases.get(domain, domain)
    local = email_local(email)
    if domain in plus_tags:
        local = local.split("+", 1)[0]
    if domain in dots_ignored:
        local = local.replace(".", "")
    return f"{local}@{domain}"


@lru_cache(maxsize=1)
def _suffix_list() -> Any:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


@lru_cache(maxsize=65536)
def registrable_domain(domain: str) -> str:
    """The registrable domain (public suffix plus one label) of ``domain``, by the Public
    Suffix List (``publicsuffixlist``, no dependencies): ``a1.mx.evil.co.uk`` ->
    ``evil.co.uk``, so a wave rotating subdomains is one cohort. A domain that is itself
    a public suffix, or unknown to the list's rules, is returned as given."""
    return _suffix_list().privatesuffix(domain) or domain


@lru_cache(maxsize=1)
def _disposable() -> frozenset[str]:
    from disposable_email_domains import blocklist

    return frozenset(blocklist)


def email_domain(email: str | None) -> str | None:
    """The lower-cased domain of an address, or None when there is none."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    return domain or None


def email_local(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    return email.rsplit("@", 1)[0].lower()


def provider_of(domain: str) -> str:
    """The mail provider running ``domain`` (the domain itself when unknown)."""
    return _provider_table()[0].get(domain, domain)


@lru_cache(maxsize=65536)
def is_disposable(domain: str) -> bool:
    """True for a throwaway-mail domain or any subdomain of one."""
    blocked = _disposable()
    parts = domain.split(".")
    return any(".".join(parts[i:]) in blocked for i in range(len(parts) - 1))


@lru_cache(maxsize=1)
def _bigram_model() -> tuple[dict[str, float], float]:
    """Letter-bigram log-probabilities learned from the shipped popular project names.

    Names people choose (words, names, abbreviations) follow the bigram
    statistics of natural-language-like tokens; random generator output does not.
    """
    counts: Counter[str] = Counter()
    firsts: Counter[str] = Counter()
    for name in shipped_corpus().top():
        for run in _LETTER_RUNS.findall(name):
            token = f"^{run}$"
            for i in range(len(token) - 1):
                counts[token[i:i + 2]] += 1
                firsts[token[i]] += 1
    alphabet = 28
    logp = {bigram: math.log((n + 1) / (firsts[bigram[0]] + alphabet))
            for bigram, n in counts.items()}
    floor = math.log(1 / (max(firsts.values()) + alphabet))
    return logp, floor


def _letters_logp(run: str) -> float:
    logp, floor = _bigram_model()
    token = f"^{run}$"
    # Every bigram's log-probability: map(add, token, token[1:]) yields token[i:i + 2].
    values = sorted(map(logp.get, map(add, token, token[1:]), repeat(floor)))
    # Drop the single rarest bigram: initials glued to a surname ("jlopez") have one.
    kept = values[1:]
    return sum(kept) / len(kept)


@lru_cache(maxsize=16384)
def _letters_randomness(letters: str) -> tuple[float, float]:
    """Mean bigram log-probability of a username's letters and how random that looks.

    Cached: many usernames share their letters ("jsmith", "jsmith84", "j.smith").
    """
    avg = _letters_logp(letters)
    # Human-chosen tokens average about -2.5 to -3.3 nats per bigram; random letters -4 or less.
    randomness = min(1.0, max(0.0, (-avg - 3.3) / 0.8))
    vowel_share = sum(map(letters.count, _VOWELS)) / len(letters)
    if vowel_share < 0.2:
        randomness = min(1.0, randomness + 0.2)
    return avg, randomness


def machine_username_score(username: str) -> tuple[float, str]:
    """How much a username looks generated: random letters, hex, long digit tails."""
    name = username.lower()
    reasons: list[str] = []
    score = 0.0
    letters = _NOT_LETTERS.sub("", name)  # the [a-z] runs, joined
    if len(letters) >= 6:
        avg, randomness = _letters_randomness(letters)
        if randomness > 0:
            score = max(score, 0.6 * randomness)
            reasons.append(f"username letters look random ({avg:.2f} nats/bigram)")
    if _HEX.fullmatch(name) and sum(map(str.isdigit, name)) >= 2:
        score = max(score, 0.6)
        reasons.append("username is a hex string")
    if _DIGIT_TAIL.search(name):
        score = max(score, 0.35)
        reasons.append("username ends in a long number")
    mixed = len(_LETTER_DIGIT.findall(name))
    if mixed >= 3:
        score = max(score, min(0.6, 0.15 * mixed))
        reasons.append("username alternates letters and digits")
    return score, "; ".join(reasons)


@lru_cache(maxsize=1)
def _impersonation_hint() -> re.Pattern[str]:
    """Matches any registry or role word: a text holding none cannot pose as anyone."""
    _, registry_words, role_words = _provider_table()
    return re.compile("|".join(re.escape(w) for w in sorted(registry_words | role_words)))


def impersonation_score(username: str, email: str | None,
                        popular: frozenset[str] = frozenset()) -> tuple[float, str]:
    """Usernames or addresses claiming to be the registry, a security team or a popular project."""
    _, registry_words, role_words = _provider_table()
    hint = _impersonation_hint()
    best = (0.0, "")
    for label, text in (("username", username.lower()), ("email", email_local(email))):
        if not text:
            continue
        squashed = _WORD_SPLIT.sub("", text)  # the tokens below, joined
        if not hint.search(squashed):
            continue  # no registry word in it, so no role word among its tokens either
        tokens = [t for t in _WORD_SPLIT.split(text) if t]
        registry = [w for w in registry_words if w in squashed]
        roles = [t for t in tokens if t in role_words]
        if not registry and not roles:
            continue  # every case below needs one or the other
        popular_hits = [t for t in tokens if len(t) >= 4 and t in popular]
        if registry and (roles or len(tokens) == 1):
            candidate = (0.7, f"{label} {text!r} poses as the registry ({registry[0]})")
        elif registry:
            candidate = (0.45, f"{label} {text!r} contains the registry's name ({registry[0]})")
        elif popular_hits and roles:
            candidate = (0.6, f"{label} {text!r} poses as the {popular_hits[0]!r} project's "
                              f"{roles[0]}")
        elif "security" in roles and len(tokens) <= 3:
            candidate = (0.35, f"{label} {text!r} poses as a security team")
        else:
            continue
        best = max(best, candidate)
    return best

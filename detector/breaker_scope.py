"""Cohort scopes of the breaker: which cohorts an event belongs to, and which one holds a wave.

Besides the three event types, the one breaker (``detector.breaker``) can pause one
*cohort* of an event type: the registrations of that type sharing one trait. A cohort
is written ``kind:value`` (kinds: ``detector.vocab.CohortKind``) and its breaker scope
``<event type>|<kind>:<value>``, for example ``account.created|email_domain:uni.edu``.

* ``email_domain``: the lower-cased domain of the account's address;
* ``registrable_domain``: its registrable domain by the public suffix list (a wave
  rotating ``a1.x.com``, ``a2.x.com`` lands in ``x.com``), when it differs;
* ``provider``: the mail provider running the domain (``data/email_providers.toml``:
  ``mailru`` holds inbox.ru, list.ru, bk.ru, ...), for listed providers only;
* ``template``: a project-name template, a glob over the name with separators
  unified to ``-``: ``acme-*``, ``*-first-package`` (an event belongs to the templates
  made from its first or last one or two tokens);
* ``target``: the popular project a typosquat imitates (``requests``);
* ``ip_prefix``: the /24 (IPv4) or /48 (IPv6) network; a pause may name any network
  and holds every address inside it;
* ``account``: one username (an account flooding the index with projects).

The cohorts of an event are computed by ``detector.stream.scope`` (the stream drives
the breaker; this module imports nothing of it). ``choose`` picks the cohort that
holds a wave when a scope trips: among the cohorts
shared by at least ``cohort_min_share`` of the flagged registrations that tripped, the
one with the fewest other registrations in the window (bystanders), provided those are
at most ``cohort_max_bystander_share`` of the cohort's own traffic: a burst from
gmail.com during someone else's wave never pauses gmail.com. Pure: no I/O, no clock.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

from detector.vocab import CohortKind, EventType, values

KINDS = values(CohortKind)
EVENT_TYPES = values(EventType)
SEP = "|"
MAX_VALUE_CHARS = 300
_SEPARATORS = re.compile(r"[-_.\s]+")
_TEMPLATE = re.compile(r"^[a-z0-9*-]+$")
NOUNS: dict[str, str] = {
    CohortKind.EMAIL_DOMAIN: "e-mail domain", CohortKind.REGISTRABLE_DOMAIN: "e-mail domain *.",
    CohortKind.PROVIDER: "mail provider", CohortKind.TEMPLATE: "project-name template",
    CohortKind.TARGET: "typosquats of", CohortKind.IP_PREFIX: "IP range",
    CohortKind.ACCOUNT: "account",
}


class CohortError(ValueError):
    """A cohort or a cohort scope that cannot be read."""


def describe(cohort: str) -> str:
    """``email_domain:x.edu`` -> ``e-mail domain x.edu``."""
    kind, value = cohort.split(":", 1)
    noun = NOUNS.get(kind, kind)
    return f"{noun}{value}" if noun.endswith(".") else f"{noun} {value}"


@lru_cache(maxsize=65536)
def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(value, strict=False)


def normal_name(name: str) -> str:
    """A project name as templates see it: lower case, separators unified to ``-``."""
    return _SEPARATORS.sub("-", name.strip().lower()).strip("-")


def parse_cohort(text: str) -> str:
    """A cohort as typed by a moderator (``ip_prefix:10.1.2.0/24``), checked and
    normalized; raises ``CohortError``."""
    if not isinstance(text, str) or ":" not in text:
        raise CohortError(f"a cohort is written kind:value (kinds: {', '.join(KINDS)})")
    kind, value = (part.strip() for part in text.split(":", 1))
    if kind not in KINDS:
        raise CohortError(f"unknown cohort kind {kind!r} (expected one of {', '.join(KINDS)})")
    value = value.lower()
    if not value or len(value) > MAX_VALUE_CHARS or any(c in value for c in f"{SEP}\x00\n"):
        raise CohortError(f"a {kind} cohort needs a value of 1 to {MAX_VALUE_CHARS} "
                          f"characters, without '|' or line breaks")
    if kind == CohortKind.IP_PREFIX:
        try:
            value = str(_network(value))
        except ValueError:
            raise CohortError(f"{value!r} is not an IP network (e.g. 203.0.113.0/24)"
                              ) from None
    elif kind == CohortKind.TEMPLATE:
        value = _SEPARATORS.sub("-", value).strip("-")
        if not _TEMPLATE.match(value) or value.strip("*-") == "":
            raise CohortError(f"{text!r} is not a name template (e.g. acme-* or "
                              f"*-first-package)")
    return f"{kind}:{value}"


def scope_key(event_type: str, cohort: str) -> str:
    return f"{event_type}{SEP}{cohort}"


def split_scope(scope: str) -> tuple[str, str | None]:
    """``account.created|email_domain:x.edu`` -> (``account.created``, the cohort);
    an event type alone -> (it, None). Raises ``CohortError`` for anything else."""
    event_type, sep, cohort = scope.partition(SEP)
    if event_type not in EVENT_TYPES:
        raise CohortError(f"unknown breaker scope {scope!r} "
                          f"(expected one of {', '.join(EVENT_TYPES)}, optionally "
                          f"followed by |kind:value)")
    if not sep:
        return event_type, None
    normal = parse_cohort(cohort)
    if normal != cohort:
        raise CohortError(f"cohort scope {scope!r} is not in normal form ({normal!r})")
    return event_type, cohort


def matches(cohort: str, cohorts: Iterable[str]) -> bool:
    """Whether a registration with ``cohorts`` (``detector.stream.scope.event_cohorts``)
    belongs to ``cohort``: IP prefixes by containment, templates as globs over the
    ``name:`` entry (the normalized project name), others exactly."""
    kind, value = cohort.split(":", 1)
    if kind == CohortKind.IP_PREFIX:
        paused = _network(value)
        for item in cohorts:
            if item.startswith("ip_prefix:"):
                net = _network(item[10:])
                if net.version == paused.version and net.subnet_of(paused):  # type: ignore[arg-type]
                    return True
        return False
    if kind == CohortKind.TEMPLATE:
        for item in cohorts:
            if item == cohort or (item.startswith("name:") and fnmatchcase(item[5:], value)):
                return True
        return False
    return cohort in cohorts


@lru_cache(maxsize=4096)
def _valid(cohort: str) -> bool:
    """A cohort a scope can be named by (an event's odd e-mail domain or name may not)."""
    try:
        return parse_cohort(cohort) == cohort
    except CohortError:
        return False


@dataclass(frozen=True, slots=True)
class Choice:
    """The cohort chosen to hold a wave: how many of the wave it covers, out of how many,
    and how many other registrations of it the window saw (bystanders)."""

    cohort: str
    covered: int
    wave: int
    bystanders: int

    def reason(self) -> str:
        return (f"{self.covered} of {self.wave} share {describe(self.cohort)} "
                f"({self.bystanders} other registrations of it in the window): "
                f"paused that cohort only")


def choose(wave: Sequence[Sequence[str]], traffic: Callable[[str], int],
           kinds: Sequence[str], min_share: float, max_bystander_share: float
           ) -> Choice | None:
    """The cohort holding a wave, or None (pause the whole event type).

    ``wave``: the cohorts of each flagged registration that tripped; ``traffic(c)``:
    registrations of cohort ``c`` in the same window, flagged or not; ``kinds``: the
    kinds allowed, narrowest first (ties go to the earlier kind)."""
    if not wave or not kinds:
        return None
    rank = {kind: i for i, kind in enumerate(kinds)}
    counts: dict[str, int] = {}
    for cohorts in wave:
        for cohort in set(cohorts):
            if cohort.split(":", 1)[0] in rank:
                counts[cohort] = counts.get(cohort, 0) + 1
    need = min_share * len(wave)
    best: tuple[int, int, int, str] | None = None
    found: Choice | None = None
    for cohort, covered in counts.items():
        if covered < need or not _valid(cohort):
            continue
        total = max(traffic(cohort), covered)
        bystanders = total - covered
        if bystanders > max_bystander_share * total:
            continue
        # Fewest bystanders; then the narrower kind; then the longer (more specific)
        # value of a kind: ``*-telemetry-hook`` before ``*-hook``.
        key = (bystanders, rank[cohort.split(":", 1)[0]], -len(cohort), cohort)
        if best is None or key < best:
            best, found = key, Choice(cohort, covered, len(wave), bystanders)
    return found

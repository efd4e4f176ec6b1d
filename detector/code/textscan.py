"""Text rules: catalogue patterns over string literals or raw text, and the
regex stand-ins for AST rules used when a file does not parse."""

from __future__ import annotations

import bisect
import ipaddress
import re
from functools import lru_cache
from operator import itemgetter

import ahocorasick

from detector.code import decode
from detector.code.findings import Finding, clip_evidence
from detector.code.regex import compile_pattern, encodable
from detector.code.rules import Rule, fallback_rules, pattern_rules, rule


@lru_cache(maxsize=1)
def _hint_automaton() -> ahocorasick.Automaton:
    """Every hint of the catalogue's patterns and fallbacks, lower-cased, in one
    Aho-Corasick automaton: one pass over a text finds them all. A pattern runs only
    when one of its hints occurs in the lower-cased text: every match contains a hint,
    and finding hints is far cheaper than a regex scan of a large file."""
    automaton = ahocorasick.Automaton()
    hints = {h for r in pattern_rules() for h in r.hints}
    hints |= {h for r in fallback_rules() for h in r.fallback_hints}
    for hint in hints:
        automaton.add_word(hint, hint)
    automaton.make_automaton()
    return automaton


def hints_in(lowered: str) -> set[str]:
    """The hints that occur in a lower-cased text."""
    return set(map(itemgetter(1), _hint_automaton().iter(lowered)))


LONG_B64 = compile_pattern(r"[A-Za-z0-9+/]{200,}={0,2}")
# Addresses a package may name for good reasons: local, private and well-known resolvers.
# (Documentation ranges stay "public" so defanged fixtures behave like real addresses.)
LOCAL_NETS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3",
))
RESOLVERS = {"1.1.1.1", "8.8.8.8", "8.8.4.4", "9.9.9.9"}


def _public_ip(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return str(ip) not in RESOLVERS and not any(ip in net for net in LOCAL_NETS)


def _accept(r: Rule, match: re.Match[str]) -> bool:
    if r.id == "raw-ip-url":
        return _public_ip(match.group(2))
    return True


def scan_strings(name: str, tier: str, strings: list[tuple[int, str]], limit: int,
                 max_hits: int) -> list[Finding]:
    """Catalogue patterns over string literals (line numbers kept)."""
    if not strings:
        return []
    starts: list[int] = []
    lines: list[int] = []
    pieces: list[str] = []
    offset = 0
    for line, text in strings:
        # lone surrogates are replaced once, in the joined text below (one for one, so
        # lengths and offsets are the same as replacing them piece by piece)
        text = text[:limit]
        if len(text) > 1000 and " " not in text[:1000]:
            continue  # one opaque run (base64, hex): the blob decoder handles it
        starts.append(offset)
        lines.append(line)
        pieces.append(text)
        offset += len(text) + 1
        if offset > limit:
            break
    blob = encodable("\n".join(pieces))
    lowered = blob.lower()
    out: list[Finding] = []
    present = hints_in(lowered)
    for r in pattern_rules():
        if (r.hints and present.isdisjoint(r.hints)) or (r.tiers and tier not in r.tiers):
            continue
        hits = 0
        for match in r.pattern.finditer(blob) if r.pattern is not None else ():
            if not _accept(r, match):
                continue
            idx = bisect.bisect_right(starts, match.start()) - 1
            out.append(Finding(r.id, name, lines[idx] or None, r.severity,
                               clip_evidence(match.group(0)), tier))
            hits += 1
            if hits >= max_hits:
                break
    return out


def scan_raw(name: str, tier: str, text: str, limit: int, max_hits: int) -> list[Finding]:
    """Patterns and AST stand-ins over the raw text of a file that did not parse."""
    text = encodable(text[:limit])
    out = scan_strings(name, tier, [(1, text)], limit, max_hits)
    # scan_strings saw one piece: recompute real line numbers
    for f in out:
        f.line = None
    newline_index = [m.start() for m in re.finditer("\n", text)] if len(text) < limit else None

    def line_of(pos: int) -> int | None:
        if newline_index is None:
            return None
        return bisect.bisect_left(newline_index, pos) + 1

    for f in out:
        pos = text.find(f.evidence[:40].rstrip("."))
        f.line = line_of(pos) if pos >= 0 else None
    present = hints_in(text.lower())
    for r in fallback_rules():
        # lower-case hints: a superset of the case-sensitive patterns' candidates
        if r.fallback is None or present.isdisjoint(r.fallback_hints) or \
                (r.tiers and tier not in r.tiers):
            continue
        for hits, match in enumerate(r.fallback.finditer(text)):
            if hits >= max_hits:
                break
            out.append(Finding(r.id, name, line_of(match.start()), r.severity,
                               clip_evidence(match.group(0)), tier))
    for hits, match in enumerate(LONG_B64.finditer(text)):
        if hits >= max_hits:
            break
        blob = match.group(0)
        if decode.entropy(blob) >= 4.5:
            out.append(Finding("high-entropy-literal", name, line_of(match.start()),
                               rule("high-entropy-literal").severity,
                               f"{len(blob)} chars: {blob[:60]}", tier))
    return out

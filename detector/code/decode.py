"""Bounded, non-executing decoding of literal payloads (base64/32/85, hex, zlib, ...).

Only pure data transforms are applied, each capped in output size; `marshal`
data is never loaded (unmarshalling hostile bytes is unsafe).
"""

from __future__ import annotations

import base64
import binascii
import bz2
import codecs
import lzma
import math
import re
import zlib
from collections import Counter

from detector.code.regex import compile_pattern

MAX_OUTPUT = 1_000_000
B64_RUN = compile_pattern(r"^[A-Za-z0-9+/=_\-\s]+$")
HEX_RUN = compile_pattern(r"^(?:[0-9a-fA-F]{2}\s*)+$")


def entropy(text: str, sample: int = 4096) -> float:
    """Shannon entropy in bits per character of (a prefix of) `text`."""
    text = text[:sample]
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


_PUNCT = ".,:;!?()[]{}`'\"-*/<>=_#"
FUNCTION_WORDS = frozenset({
    "the", "a", "an", "of", "to", "and", "is", "in", "for", "with", "be", "if", "or",
    "this", "that", "are", "by", "on", "it", "as", "not", "from", "return", "returns",
    "will", "can", "at", "which", "when"})
_PACKED_ALPHABET = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-")


def looks_packed(compact: str, text: str, sample: int = 4096) -> bool:
    """Whether a high-entropy literal reads as packed data rather than code or markup:
    nearly all of it (whitespace dropped) in the base64/base32/hex alphabets, or a
    good share of unprintable characters (compressed or encrypted bytes). Regexes,
    JSON, shell and HTML templates and code reach the same entropy, but a tenth or
    more of them is brackets, quotes and operators."""
    head = compact[:sample]
    if not head:
        return False
    in_alphabet = sum(1 for ch in head if ch in _PACKED_ALPHABET)
    if in_alphabet >= 0.9 * len(head):
        return True
    raw = text[:sample]
    unprintable = sum(1 for ch in raw if not ch.isprintable() and ch not in "\n\r\t")
    return unprintable >= 0.05 * len(raw)


def looks_like_prose(text: str, sample: int = 8192) -> bool:
    """Natural-language text (a docstring, a licence header, a help message): at least 12
    whitespace-separated words, most of them letters only (punctuation stripped) and of
    word length. A docstring stripped of its spaces reaches the entropy of packed data;
    base64, hex or ciphertext cut into words does not pass (few of its words are all
    letters, or the words are far longer)."""
    words = text[:sample].split()
    if len(words) < 12:
        return False
    lettered = [w.strip(_PUNCT) for w in words]
    alpha = sum(1 for w in lettered if w.isalpha() and len(w) <= 20)
    lengths = sorted(len(w) for w in words)
    if not 2 <= lengths[len(lengths) // 2] <= 12:
        return False
    # a docstring with parameters and doctests has fewer plain words, but English
    # function words still make up a good share of it; chunks of encoded data never
    # spell them (measured: 85 benign and 106 malicious packages had a docstring
    # flagged as high-entropy-literal by the plain-word test alone, most of the
    # malicious ones copies of popular libraries beside their payload)
    function_words = sum(1 for w in lettered if w.lower() in FUNCTION_WORDS)
    return alpha >= 0.6 * len(words) or function_words >= max(3, 0.05 * len(words))


def _inflate(data: bytes) -> bytes | None:
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS, zlib.MAX_WBITS | 16):
        try:
            return zlib.decompressobj(wbits).decompress(data, MAX_OUTPUT)
        except zlib.error:
            continue
    return None


def _unlzma(data: bytes) -> bytes | None:
    try:
        return lzma.LZMADecompressor().decompress(data, MAX_OUTPUT)
    except lzma.LZMAError:
        return None


def _unbz2(data: bytes) -> bytes | None:
    try:
        return bz2.BZ2Decompressor().decompress(data, MAX_OUTPUT)
    except (OSError, ValueError):
        return None


def _b64(data: bytes) -> bytes | None:
    try:
        text = re.sub(rb"\s+", b"", data)
        if b"-" in text or b"_" in text:
            return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
        return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _try(fn, data: bytes) -> bytes | None:
    try:
        return fn(data)
    except (binascii.Error, ValueError, TypeError, zlib.error, lzma.LZMAError, OSError):
        return None


# function name (last dotted part) -> decoder
DECODERS = {
    "b64decode": _b64,
    "standard_b64decode": _b64,
    "urlsafe_b64decode": _b64,
    "decodebytes": _b64,
    "decodestring": _b64,
    "a2b_base64": _b64,
    "b32decode": lambda d: _try(base64.b32decode, d),
    "b16decode": lambda d: _try(lambda x: base64.b16decode(x, casefold=True), d),
    "b85decode": lambda d: _try(base64.b85decode, d),
    "a85decode": lambda d: _try(base64.a85decode, d),
    "fromhex": lambda d: _try(lambda x: bytes.fromhex(x.decode("latin-1")), d),
    "unhexlify": lambda d: _try(binascii.unhexlify, d),
    "a2b_hex": lambda d: _try(binascii.unhexlify, d),
    "decompress": lambda d: _inflate(d) or _unlzma(d) or _unbz2(d),
}

# Names whose presence around an exec marks a decode chain even when we cannot decode.
DECODE_NAMES = frozenset({*DECODERS, "loads", "decode", "rot13", "reverse", "decrypt", "xor"})


def decode_literal(func: str, data: bytes) -> bytes | None:
    """Apply the decoder named by `func` (e.g. "b64decode") to literal data."""
    decoder = DECODERS.get(func)
    if decoder is None or len(data) > 10 * MAX_OUTPUT:
        return None
    out = decoder(data)
    return out[:MAX_OUTPUT] if out else None


def codecs_decode(data: bytes, encoding: str) -> bytes | None:
    enc = encoding.lower().replace("-", "_")
    if enc in ("rot13", "rot_13"):
        return codecs.decode(data.decode("latin-1"), "rot13").encode("latin-1")
    if enc in ("base64", "base_64", "base64_codec"):
        return _b64(data)
    if enc in ("hex", "hex_codec"):
        return _try(binascii.unhexlify, data)
    if enc in ("zlib", "zip", "zlib_codec"):
        return _inflate(data)
    text = text_codec(data, encoding)
    return text.encode("utf-8") if text is not None else None


def text_codec(data: bytes, encoding: str) -> str | None:
    """`data.decode(encoding)` for any text codec Python knows (cp1026, utf-16, rot13 ...),
    capped; None for unknown or binary codecs and undecodable data."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or len(data) > MAX_OUTPUT:
        return None
    try:
        return data.decode(info.name)
    except (UnicodeError, ValueError, LookupError):
        return None


def unwrap_blob(text: str) -> bytes | None:
    """Best guess at what a long opaque literal holds: base64 or hex, then inflated."""
    stripped = text.strip()
    raw: bytes | None = None
    if HEX_RUN.match(stripped) and len(stripped) >= 64:
        raw = _try(lambda x: bytes.fromhex(x.decode("latin-1")), stripped.encode())
    elif B64_RUN.match(stripped):
        raw = _b64(stripped.encode())
    if not raw:
        return None
    if raw[:1] in (b"x", b"\x1f") or raw[:3] == b"BZh" or raw[:1] == b"\xfd":
        return _inflate(raw) or _unlzma(raw) or _unbz2(raw) or raw
    return raw[:MAX_OUTPUT]


def looks_textual(data: bytes) -> bool:
    """Decoded bytes worth re-scanning as code or commands."""
    if not data:
        return False
    sample = data[:2048]
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in sample)
    return printable / len(sample) > 0.85

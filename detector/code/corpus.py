"""Labelled samples for training and measuring: JSON Lines (optionally gzipped).

Each line: {"sample_id", "name", "version", "files": {path: text}, ...}. The
label comes from the file (malicious or benign). Files are read as text only.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(slots=True)
class Sample:
    sample_id: str
    name: str
    files: dict[str, str]
    label: int
    first_seen: str = ""  # ISO date the registry first saw it ("" unknown)
    group: str = ""  # what ties samples together beyond their code (a repository)


class CorpusError(ValueError):
    """A corpus file is missing or malformed."""


def default_corpus(shared: Path) -> tuple[Path, Path]:
    return shared / "corpus" / "malicious_dev.jsonl.gz", shared / "corpus" / "benign_dev.jsonl.gz"


def whole_corpus(shared: Path) -> tuple[list[Path], list[Path]]:
    """Whole uploads: every code file of each package (88 KiB per file, 300 files per
    package). Malicious: `malicious_dev_full`; benign: `benign_whole_dev` (whole source
    trees) and `benign_dev` (install-time files; small packages, as most malicious
    uploads are). Add the installed distributions with `installed.installed_samples`."""
    corpus = shared / "corpus"
    return ([corpus / "malicious_dev_full.jsonl.gz"],
            [corpus / "benign_whole_dev.jsonl.gz", corpus / "benign_dev.jsonl.gz"])


def _text(value: object) -> str:
    """A JSON string as text an archive read would give: lone surrogates (JSON allows
    `\\ud800`) become U+FFFD, as decoding bytes with errors="replace" does."""
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def read_samples(path: Path, label: int) -> Iterator[Sample]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    files = row["files"]
                    if not isinstance(files, dict):
                        raise TypeError("files is not an object")
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise CorpusError(f"{path}:{number}: not a corpus sample ({exc})") from exc
                yield Sample(str(row.get("sample_id", number)), str(row.get("name", "")),
                             {_text(k): _text(v) for k, v in files.items()}, label,
                             str(row.get("first_seen") or ""), str(row.get("repo") or ""))
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from exc


# The shared corpus stores at most this many characters of a file, for both
# labels. Samples from elsewhere (scripts/fetch_benign.py keeps up to 1 MB) are cut
# the same way, so "a file longer than 88 KiB" cannot become a benign-only clue.
CORPUS_FILE_CHARS = 90_112


def read_all(paths: list[Path], label: int,
             max_file_chars: int | None = CORPUS_FILE_CHARS,
             max_files: int | None = None) -> list[Sample]:
    """Samples of several corpus files; a sample id seen twice is kept once (first file
    wins). Files are cut at `max_file_chars` (None: kept whole); at most `max_files`
    files per sample are kept (sorted by name; None: all)."""
    seen: set[str] = set()
    out: list[Sample] = []
    for path in paths:
        for sample in read_samples(path, label):
            if sample.sample_id in seen:
                continue
            seen.add(sample.sample_id)
            if max_file_chars is not None:
                sample.files = {k: v[:max_file_chars] for k, v in sample.files.items()}
            if max_files is not None and len(sample.files) > max_files:
                sample.files = {k: sample.files[k] for k in sorted(sample.files)[:max_files]}
            out.append(sample)
    return out


# Forward-in-time validation: train on what was first seen before, measure on the rest.
FORWARD_CUTOFF = "2023-07-01"
# Benign samples without a date (whole source trees, installed libraries) go to the
# forward test side by a stable hash of their group (repository or name): this share.
FORWARD_UNDATED_SHARE = 0.3


def _stable_fraction(key: str) -> float:
    import zlib

    return (zlib.crc32(key.encode("utf-8", "surrogatepass")) % 10_000) / 10_000


def is_forward(sample: Sample, cutoff: str = FORWARD_CUTOFF,
               undated_share: float = FORWARD_UNDATED_SHARE) -> bool:
    """True when a sample belongs to the forward (later) side of the split: first seen on
    or after `cutoff`; undated samples by a stable hash of their group, so one
    repository's packages stay on one side."""
    if sample.first_seen:
        return sample.first_seen >= cutoff
    return _stable_fraction(sample.group or sample.name or sample.sample_id) < undated_share

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


class CorpusError(ValueError):
    """A corpus file is missing or malformed."""


def default_corpus(shared: Path) -> tuple[Path, Path]:
    return shared / "corpus" / "malicious_dev.jsonl.gz", shared / "corpus" / "benign_dev.jsonl.gz"


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
                             {_text(k): _text(v) for k, v in files.items()}, label)
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from exc


# The shared corpus stores at most this many characters of a file, for both
# labels. Samples from elsewhere (scripts/fetch_benign.py keeps up to 1 MB) are cut
# the same way, so "a file longer than 88 KiB" cannot become a benign-only clue.
CORPUS_FILE_CHARS = 90_112


def read_all(paths: list[Path], label: int,
             max_file_chars: int | None = CORPUS_FILE_CHARS) -> list[Sample]:
    """Samples of several corpus files; a sample id seen twice is kept once (first file
    wins). Files are cut at `max_file_chars` (None: kept whole)."""
    seen: set[str] = set()
    out: list[Sample] = []
    for path in paths:
        for sample in read_samples(path, label):
            if sample.sample_id in seen:
                continue
            seen.add(sample.sample_id)
            if max_file_chars is not None:
                sample.files = {k: v[:max_file_chars] for k, v in sample.files.items()}
            out.append(sample)
    return out

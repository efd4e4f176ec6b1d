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
                             {str(k): str(v) for k, v in files.items()}, label)
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from exc

"""Fetch BENIGN install-time files from PyPI sdists into a corpus file for the code model.

The shared benign corpus (``../shared/corpus/benign_dev.jsonl.gz``) holds only 435
packages: a 0.5% false-positive rate then allows two false alarms, and the model learns
artifacts of that small sample. This script adds real PyPI packages in the same format:

* ``--popular N`` projects spread evenly over the ranks of ``data/pypi_top15000.tsv``;
* ``--less-popular M`` projects drawn at random (``--seed``) from ``data/pypi_names.tsv.gz``
  outside the top 15,000, preferring those with a release in 2023 or later (they look
  most like new registrations), topped up from older ones only when those run out.

Names already in the shared benign corpus and known malicious names
(``corpus/malicious_names.tsv``) are never picked.

For each project the newest non-yanked sdist is located through the PEP 691 JSON simple
API (``https://pypi.org/simple/<name>/``, ``Accept: application/vnd.pypi.simple.v1+json``).
Not pip's ``PackageFinder``: its ``Link`` objects drop the PEP 700 ``upload-time`` and
``size`` fields (we need the first for ``first_seen`` and the second to skip huge sdists
before downloading), it filters candidates by *this* interpreter's ``Requires-Python``
(biasing the corpus towards old-Python-compatible projects), and ``pip._internal`` is no
stable API. Candidate choice follows pip's rules: newest final release wins, pre-releases
only when there is nothing else, yanked files never. Like the shared corpus, a project
whose newest release ships only wheels falls back to its newest release with an sdist.

Each sdist is downloaded once, into memory, checked against the index's sha256 and read
by the project's one archive reader, ``detector.code.extract.read_package`` (bytes in,
nothing written to disk, extraction semantics: the last duplicate wins, links resolve
inside the package, links outside it and devices are findings), under the project's
archive limits (``detector.code.limits.Limits``). Nothing from a package is ever
executed, imported, installed or built. An sdist whose walk a limit cuts short (over
``max_members`` members, or a bomb) is dropped and counted, since its later members,
often ``pyproject.toml``, were never seen.

Kept files (paths relative to the sdist root, the ``name-version/`` folder stripped):
``setup.py``, ``setup.cfg``, ``pyproject.toml`` and every ``<top>/__init__.py`` and
``src/<pkg>/__init__.py``, decoded as UTF-8 with ``errors="replace"`` and cut at
``--max-file-bytes`` (cut names listed, comma-separated, in ``truncated``).

Output: JSON Lines, gzipped, one sample a line, appended as one gzip member per batch
(``gzip`` reads concatenated members as one stream). A rerun skips names already in the
file; a member cut short by Ctrl-C or a crash is dropped (the file is trimmed back to its
last complete member) before appending.

    python scripts/fetch_benign.py [--popular 2500] [--less-popular 2500] [--seed 0]
        [--out ~/.cache/warden/corpus/benign_pypi.jsonl.gz] [--workers 8]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import http.client
import json
import os
import random
import re
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import Request, urlopen

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from detector.code.archive import ReadError
from detector.code.extract import read_package
from detector.code.limits import Limits
from detector.policy import load_policy

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path("~/.cache/warden/corpus/benign_pypi.jsonl.gz")
SIMPLE_URL = "https://pypi.org/simple/{}/"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
USER_AGENT = "warden-fetch-benign/0.1 (benign corpus for a PyPI malware detector)"
ROOT_FILES = frozenset({"setup.py", "setup.cfg", "pyproject.toml"})
# Newest PyPI sdists are .tar.gz (PEP 625); older projects also used these.
SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")
RECENT_MONTH = "2023-01"
MAX_INDEX_BYTES = 64_000_000
BATCH_ROWS = 25
RETRIES = 4
TIMEOUT = 60.0
# The shared corpus cuts files at 88 KiB; we keep more (1 MB) and report how many exceed it.
SHARED_CUT = 88 * 1024
MONTH = re.compile(r"\d{4}-\d{2}")


# --------------------------------------------------------------------------- picking


@dataclass(frozen=True, slots=True)
class Pick:
    name: str
    group: str  # "popular" | "less_popular"
    rank: str  # "" for less popular


def _rows(path: Path) -> Iterable[dict[str, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)


def excluded_names(shared: Path) -> set[str]:
    """Canonical names never to pick: the shared benign corpus and known malicious names."""
    names: set[str] = set()
    benign = shared / "corpus" / "benign_dev.jsonl.gz"
    if benign.is_file():
        with gzip.open(benign, "rt", encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    names.add(canonicalize_name(json.loads(line)["name"]))
    malicious = shared / "corpus" / "malicious_names.tsv"
    if malicious.is_file():
        names.update(canonicalize_name(row["name"]) for row in _rows(malicious))
    return names


def spread(items: list, count: int) -> list:
    """`count` items evenly spaced over `items` (all of them when there are fewer)."""
    if count >= len(items):
        return list(items)
    return [items[(2 * i + 1) * len(items) // (2 * count)] for i in range(count)]


def pick_popular(rows: Iterable[dict[str, str]], count: int, exclude: set[str]) -> list[Pick]:
    ranked = sorted(
        ((int(r["rank"]), canonicalize_name(r["name"])) for r in rows if r["rank"].isdigit()),
    )
    pool = [(rank, name) for rank, name in ranked if name not in exclude]
    return [Pick(name, "popular", str(rank)) for rank, name in spread(pool, count)]


def pick_less_popular(
    rows: Iterable[dict[str, str]], count: int, seed: int, exclude: set[str]
) -> list[Pick]:
    """A seeded sample of unranked names, recent releases (2023+) first."""
    recent, older = [], []
    for row in rows:
        name = canonicalize_name(row["name"])
        if row.get("rank") or name in exclude:
            continue
        month = row.get("latest_release_month", "")
        is_recent = bool(MONTH.fullmatch(month)) and month >= RECENT_MONTH
        (recent if is_recent else older).append(name)
    # Shuffle-then-take: a larger count with the same seed extends the smaller pick.
    rng = random.Random(seed)
    recent, older = sorted(set(recent)), sorted(set(older))
    rng.shuffle(recent)
    rng.shuffle(older)
    chosen = (recent + older)[:count]
    return [Pick(name, "less_popular", "") for name in chosen]


def pick_projects(shared: Path, popular: int, less_popular: int, seed: int) -> list[Pick]:
    exclude = excluded_names(shared)
    top = list(_rows(shared / "data" / "pypi_top15000.tsv"))
    picks = pick_popular(top, popular, exclude)
    exclude |= {canonicalize_name(r["name"]) for r in top}
    picks += pick_less_popular(
        _rows(shared / "data" / "pypi_names.tsv.gz"), less_popular, seed, exclude
    )
    return picks


# --------------------------------------------------------------------------- index


@dataclass(frozen=True, slots=True)
class SdistFile:
    filename: str
    url: str
    version: str
    sha256: str
    size: int | None
    upload_time: str  # YYYY-MM-DD or ""


def sdist_suffix(filename: str) -> str | None:
    lower = filename.lower()
    return next((s for s in SDIST_SUFFIXES if lower.endswith(s)), None)


def version_from_filename(filename: str, project: str) -> str | None:
    """The version part of an sdist name, found like pip does: after the project's name."""
    suffix = sdist_suffix(filename)
    if suffix is None:
        return None
    parts = filename[: -len(suffix)].split("-")
    wanted = canonicalize_name(project)
    for cut in range(1, len(parts)):
        if canonicalize_name("-".join(parts[:cut])) == wanted:
            return "-".join(parts[cut:])
    return parts[-1] if len(parts) > 1 else None


def choose_sdist(index: dict, project: str) -> SdistFile | None:
    """The newest non-yanked sdist: final releases first, pre-releases only as last resort."""
    best: tuple[tuple, SdistFile] | None = None
    for entry in index.get("files", []):
        filename = str(entry.get("filename", ""))
        suffix = sdist_suffix(filename)
        if suffix is None or entry.get("yanked"):
            continue
        raw = version_from_filename(filename, project)
        try:
            version = Version(raw or "")
        except InvalidVersion:
            continue
        sdist = SdistFile(
            filename=filename,
            url=str(entry.get("url", "")),
            version=raw or "",
            sha256=str((entry.get("hashes") or {}).get("sha256", "")),
            size=entry.get("size") if isinstance(entry.get("size"), int) else None,
            upload_time=str(entry.get("upload-time") or "")[:10],
        )
        key = (not version.is_prerelease, version, suffix == ".tar.gz", sdist.upload_time)
        if best is None or key > best[0]:
            best = (key, sdist)
    return best[1] if best else None


# --------------------------------------------------------------------------- network


class NetworkError(Exception):
    """The request failed after retries."""


class NotFound(Exception):
    """HTTP 404: the project is gone."""


class TooLarge(Exception):
    """The response is larger than allowed."""


def http_get(url: str, limit: int, accept: str | None = None) -> bytes:
    """GET `url` into memory (at most `limit` bytes), retrying transient failures."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"}
    if accept:
        headers["Accept"] = accept
    delay = 2.0
    for attempt in range(RETRIES):
        try:
            with urlopen(Request(url, headers=headers), timeout=TIMEOUT) as response:
                data = response.read(limit + 1)
                if len(data) > limit:
                    raise TooLarge(f"{url}: over {limit} bytes")
                if response.headers.get("Content-Encoding") == "gzip":
                    data = _gunzip(data, limit)
                return data
        except HTTPError as exc:
            if exc.code == 404:
                raise NotFound(url) from exc
            if exc.code not in (429, 500, 502, 503, 504) or attempt == RETRIES - 1:
                raise NetworkError(f"{url}: HTTP {exc.code}") from exc
            retry_after = exc.headers.get("Retry-After", "") if exc.headers else ""
            time.sleep(float(retry_after) if retry_after.isdigit() else delay)
        except (URLError, TimeoutError, ConnectionError, http.client.HTTPException,
                OSError) as exc:
            if attempt == RETRIES - 1:
                raise NetworkError(f"{url}: {exc}") from exc
            time.sleep(delay)
        delay *= 2
    raise NetworkError(url)  # pragma: no cover - the loop always returns or raises


def _gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit:
        raise TooLarge(f"over {limit} bytes decompressed")
    return out


# --------------------------------------------------------------------------- archives


class Unreadable(Exception):
    """Not a readable tar or zip archive."""


@dataclass
class Extract:
    files: dict[str, str] = field(default_factory=dict)
    truncated: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stopped: bool = False  # a limit cut the walk short: later members were never seen


def strip_root(names: Iterable[str]) -> dict[str, str]:
    """{path relative to the sdist root: member name}; drops a single `name-version/` folder."""
    names = list(names)
    tops = {n.split("/", 1)[0] for n in names}
    if names and len(tops) == 1 and all("/" in n for n in names):
        cut = len(next(iter(tops))) + 1
        return {n[cut:]: n for n in names}
    return {n: n for n in names}


def is_install_file(path: str) -> bool:
    """setup.py / setup.cfg / pyproject.toml at the root, `<top>/__init__.py`,
    `src/<pkg>/__init__.py`: the files the shared corpus keeps."""
    parts = path.split("/")
    if len(parts) == 1:
        return path in ROOT_FILES
    if len(parts) == 2:
        return parts[1] == "__init__.py"
    return len(parts) == 3 and parts[0] == "src" and parts[2] == "__init__.py"


def read_install_files(
    data: bytes, filename: str, limits: Limits, max_file_bytes: int = 1_000_000
) -> Extract:
    """Install-time files of an in-memory sdist, read by the project's one archive reader
    (``detector.code.extract.read_package``: extraction semantics, links resolved,
    limits); raises Unreadable when it cannot be opened."""
    try:
        package = read_package(data, limits, filename=filename, select=is_install_file)
    except ReadError as exc:
        raise Unreadable(str(exc)) from exc
    problems = list(dict.fromkeys(package.errors)) + [
        f"{f.rule}: {f.evidence}" for f in package.findings if f.rule != "non-utf8"]
    extract = Extract(problems=problems, stopped=package.stopped)
    bad_utf8 = {f.file for f in package.findings if f.rule == "non-utf8"}
    for path in sorted(package.files):
        text = package.files[path]
        if path in bad_utf8:  # read_package keeps such bytes as latin-1
            text = text.encode("latin-1").decode("utf-8", errors="replace")
        if len(text.encode("utf-8", errors="replace")) > max_file_bytes:
            text = text.encode("utf-8", errors="replace")[:max_file_bytes].decode(
                "utf-8", errors="replace")
            extract.truncated.append(path)
        extract.files[path] = text
    return extract


# --------------------------------------------------------------------------- per project


@dataclass
class Outcome:
    pick: Pick
    # fetched | no_sdist | not_found | too_large | unreadable | limit_hit | no_files | network
    status: str
    row: dict | None = None
    downloaded: int = 0
    detail: str = ""
    problems: list[str] = field(default_factory=list)


def build_row(pick: Pick, sdist: SdistFile, extract: Extract) -> dict:
    """One corpus line, keys in the shared corpus's order plus `source` and `sha256`."""
    return {
        "sample_id": f"{pick.name}-{sdist.version}",
        "name": pick.name,
        "version": sdist.version,
        "first_seen": sdist.upload_time,
        "group": pick.group,
        "rank": pick.rank,
        "truncated": ",".join(extract.truncated),
        "files": extract.files,
        "source": sdist.url,
        "sha256": sdist.sha256,
    }


def fetch_one(pick: Pick, limits: Limits, max_sdist_bytes: int, max_file_bytes: int) -> Outcome:
    """Index lookup, one download, in-memory read. Never raises for a bad project."""
    try:
        raw = http_get(SIMPLE_URL.format(quote(pick.name)), MAX_INDEX_BYTES, SIMPLE_JSON)
        index = json.loads(raw)
    except NotFound:
        return Outcome(pick, "not_found")
    except (NetworkError, TooLarge, ValueError) as exc:
        return Outcome(pick, "network", detail=str(exc))
    sdist = choose_sdist(index, pick.name)
    if sdist is None or not sdist.url:
        return Outcome(pick, "no_sdist")
    if sdist.size is not None and sdist.size > max_sdist_bytes:
        return Outcome(pick, "too_large", detail=f"{sdist.size} bytes")
    try:
        data = http_get(sdist.url, max_sdist_bytes)
    except TooLarge:
        return Outcome(pick, "too_large", detail=f"over {max_sdist_bytes} bytes")
    except (NetworkError, NotFound) as exc:
        return Outcome(pick, "network", detail=str(exc))
    got = len(data)
    if sdist.sha256 and hashlib.sha256(data).hexdigest() != sdist.sha256:
        return Outcome(pick, "network", downloaded=got, detail="sha256 mismatch")
    try:
        extract = read_install_files(data, sdist.filename, limits, max_file_bytes)
    except Unreadable as exc:
        return Outcome(pick, "unreadable", downloaded=got, detail=str(exc))
    if extract.stopped:  # a partial file set would misrepresent the package
        return Outcome(pick, "limit_hit", downloaded=got, detail="; ".join(extract.problems),
                       problems=extract.problems)
    if not extract.files:
        return Outcome(pick, "no_files", downloaded=got, problems=extract.problems)
    row = build_row(pick, sdist, extract)
    return Outcome(pick, "fetched", row, got, problems=extract.problems)


# --------------------------------------------------------------------------- output


def load_existing(path: Path) -> set[str]:
    """Canonical names already in `path`; trims a trailing gzip member cut short by a crash."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    names: set[str] = set()
    good = 0
    while good < len(data):
        inflater = zlib.decompressobj(wbits=31)
        try:
            text = inflater.decompress(data[good:])
        except zlib.error:
            break
        if not inflater.eof:
            break
        try:
            rows = [json.loads(line) for line in text.decode("utf-8").splitlines() if line]
            member = {canonicalize_name(str(row["name"])) for row in rows}
        except (ValueError, KeyError, TypeError):
            break
        names |= member
        good = len(data) - len(inflater.unused_data)
    if good < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(good)
    return names


class Writer:
    """Appends rows as complete gzip members, `BATCH_ROWS` at a time (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: list[dict] = []
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, row: dict) -> None:
        with self.lock:
            self.pending.append(row)
            if len(self.pending) >= BATCH_ROWS:
                self._flush()

    def flush(self) -> None:
        with self.lock:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in self.pending)
        member = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
        with open(self.path, "ab") as handle:
            handle.write(member)
            handle.flush()
            os.fsync(handle.fileno())
        self.pending.clear()


# --------------------------------------------------------------------------- main


@dataclass
class Summary:
    picked: int = 0
    already: int = 0
    counts: Counter = field(default_factory=Counter)
    downloaded: int = 0
    seconds: float = 0.0
    no_setup_py: int = 0
    truncated_files: int = 0
    over_shared_cut: int = 0
    hostile: int = 0
    errors: list[str] = field(default_factory=list)
    odd: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        self.downloaded += outcome.downloaded
        if outcome.problems:
            self.hostile += 1
            if len(self.odd) < 10 and outcome.status != "limit_hit":
                self.odd.append(f"{outcome.pick.name}: {'; '.join(outcome.problems)[:200]}")
        if outcome.status in ("network", "unreadable", "limit_hit") and len(self.errors) < 20:
            self.errors.append(f"{outcome.pick.name}: {outcome.status}: {outcome.detail}")
        if outcome.row:
            files = outcome.row["files"]
            self.no_setup_py += "setup.py" not in files
            self.truncated_files += len(outcome.row["truncated"].split(",")) if (
                outcome.row["truncated"]) else 0
            self.over_shared_cut += sum(len(text) > SHARED_CUT for text in files.values())


def print_summary(summary: Summary, out: Path, console: Console) -> None:
    c = summary.counts
    table = Table(title="fetch_benign summary", show_header=False)
    rows = [
        ("picked", summary.picked),
        ("already in output (skipped)", summary.already),
        ("fetched (rows written)", c["fetched"]),
        ("no sdist", c["no_sdist"]),
        ("not on PyPI any more (404)", c["not_found"]),
        ("sdist too large", c["too_large"]),
        ("unreadable archive", c["unreadable"]),
        ("archive limits hit (Limits: members/ratio; row dropped)", c["limit_hit"]),
        ("no install-time files", c["no_files"]),
        ("network errors", c["network"]),
        ("seconds", f"{summary.seconds:.0f}"),
        ("bytes downloaded", f"{summary.downloaded:,}"),
        ("fetched rows without setup.py", summary.no_setup_py),
        ("files cut at --max-file-bytes", summary.truncated_files),
        (f"files over the shared corpus cut ({SHARED_CUT} chars)", summary.over_shared_cut),
        ("packages with refused/odd members", summary.hostile),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    console.print(table)
    for line in summary.errors + summary.odd:
        console.print(f"  [dim]{line}[/dim]")
    console.print(f"output: {out}")


def run(args: argparse.Namespace, console: Console, summary: Summary) -> None:
    """Fetch every pick not yet in `--out`, filling `summary` as outcomes arrive."""
    start = time.monotonic()
    out = args.out.expanduser()
    picks = pick_projects(args.shared, args.popular, args.less_popular, args.seed)
    done = load_existing(out)
    summary.picked = len(picks)
    todo = [p for p in picks if p.name not in done]
    summary.already = len(picks) - len(todo)
    limits = load_policy().code.limits
    writer = Writer(out)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("fetched {task.fields[fetched]}"), TimeElapsedColumn(),
               TimeRemainingColumn())
    pool = ThreadPoolExecutor(max_workers=args.workers)
    try:
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("sdists", total=len(todo), fetched=0)
            futures: set[Future[Outcome]] = set()
            queue = iter(todo)
            # Keep only a few jobs queued so Ctrl-C stops quickly.
            for pick in queue:
                futures.add(pool.submit(fetch_one, pick, limits, args.max_sdist_bytes,
                                        args.max_file_bytes))
                if len(futures) >= args.workers * 2:
                    break
            while futures:
                finished, futures = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    outcome = future.result()
                    summary.add(outcome)
                    if outcome.row:
                        writer.add(outcome.row)
                    bar.update(task, advance=1, fetched=summary.counts["fetched"])
                    finished_count = sum(summary.counts.values())
                    if not console.is_terminal and finished_count % 250 == 0:
                        # No live bar in a log file: leave a line now and then instead.
                        console.print(f"{finished_count}/{len(todo)} done, "
                                      f"{summary.counts['fetched']} fetched, "
                                      f"{time.monotonic() - start:.0f}s")
                    pick = next(queue, None)
                    if pick is not None:
                        futures.add(pool.submit(fetch_one, pick, limits, args.max_sdist_bytes,
                                                args.max_file_bytes))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        writer.flush()
        summary.seconds = time.monotonic() - start


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--popular", type=int, default=2500, help="projects from the top 15,000")
    parser.add_argument("--less-popular", type=int, default=2500,
                        help="unranked projects (recent releases preferred)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--workers", type=int, default=8, help="download threads")
    parser.add_argument("--max-sdist-bytes", type=int, default=20_000_000,
                        help="larger sdists are skipped and counted")
    parser.add_argument("--max-file-bytes", type=int, default=1_000_000,
                        help="cut each kept file at this many bytes")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.popular < 0 or args.less_popular < 0:
        parser.error("--workers must be >= 1 and counts >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True)
    if not (args.shared / "data" / "pypi_top15000.tsv").is_file():
        console.print(f"{args.shared}: no data/pypi_top15000.tsv (pass --shared)")
        return 2
    summary = Summary()
    status = 0
    try:
        run(args, console, summary)
    except KeyboardInterrupt:
        console.print("interrupted: rows fetched so far are kept; rerun to resume")
        status = 130
    print_summary(summary, args.out.expanduser(), console)
    return status


if __name__ == "__main__":
    sys.exit(main())

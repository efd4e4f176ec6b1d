"""Client side of a backfill: partition the input, run the partitions on Dask, sum up.

A ``LocalCluster`` of worker processes (one thread each) is started unless the
caller names an existing scheduler. Each partition is one Dask task; a worker
that dies mid-task is replaced by its nanny and the scheduler runs the task
again elsewhere, so a killed worker costs a retry, never a row.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from detector.backfill.inputs import Item, Partition, fingerprint, partition
from detector.backfill.store import count_flagged, finished_rows, prepare, read_manifest
from detector.backfill.tasks import run_partition
from detector.policy import Policy, load_policy, resolve

# Called after each finished partition with the number of rows it held.
ProgressCallback = Callable[[int], None]


class BackfillClusterError(RuntimeError):
    """The Dask cluster could not be started or reached."""


@dataclass
class BackfillSummary:
    """What a run did; ``rows`` and ``flagged`` count the whole output folder."""

    kind: str
    out_dir: str
    rows: int
    flagged: int
    errors: int
    partitions: int
    partitions_skipped: int
    rows_scored: int
    seconds: float
    startup_seconds: float  # starting or reaching the cluster (part of ``seconds``)
    workers: int
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows_scored / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["startup_seconds"] = round(self.startup_seconds, 3)
        data["rows_per_second"] = round(self.rows_per_second, 1)
        return data


def _policy_digest(policy: Policy) -> str | None:
    """A digest of the policy's values; None for the shipped policy."""
    return None if policy == load_policy() else policy.digest()


def _resumed_partition_size(out: Path, kind: str) -> int | None:
    """The partition size of an earlier run in ``out``, so a resume need not repeat it."""
    manifest = read_manifest(out) or {}
    size = manifest.get("partition_size")
    return size if manifest.get("kind") == kind and isinstance(size, int) else None


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


@contextmanager
def _client(workers: int, scheduler: str | None, policy: Policy) -> Iterator[Any]:
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        timeout = policy.backfill.connect_timeout_s
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise BackfillClusterError(f"cannot reach Dask scheduler {scheduler} ({exc})") from exc
        with client:
            yield client
        return
    # Dask's statistical profiler samples every task's stack every 10 ms: ~15% more CPU
    # on these pure-Python tasks, for a dashboard nobody watches. Nannies copy this
    # config into their workers, restarted ones included.
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
    with cluster, Client(cluster) as client:
        yield client


def _submit_all(client: Any, kind: str, out_dir: Path, todo: Sequence[Partition],
                policy: Policy) -> dict:
    token = uuid.uuid4().hex[:8]
    retries = policy.backfill.task_retries
    return {
        client.submit(
            run_partition, kind, str(out_dir), part.index, part.items, policy,
            key=f"warden-backfill-{kind}-{part.index:05d}-{token}",
            pure=False, retries=retries,
        ): part
        for part in todo
    }


@dataclass
class _Tally:
    """Counts gathered while partitions finish."""

    scored: int = 0
    flagged: int = 0
    errors: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)


def _plan(kind: str, items: Sequence[Item], out: Path, size: int, policy: Policy
          ) -> tuple[list[Partition], list[Partition], list[Partition]]:
    """All partitions, those still to do, and those already finished in ``out``."""
    parts = partition(items, size)
    prepare(out, {
        "kind": kind, "fingerprint": fingerprint(items), "rows": len(items),
        "partition_size": size, "partitions": len(parts), "policy": _policy_digest(policy),
    })
    todo: list[Partition] = []
    done: list[Partition] = []
    for part in parts:
        finished = finished_rows(out, part.index, len(part)) is not None
        (done if finished else todo).append(part)
    return parts, todo, done


def _run_on_cluster(client: Any, kind: str, out: Path, todo: Sequence[Partition],
                    policy: Policy, tally: _Tally,
                    progress: ProgressCallback | None) -> None:
    from dask.distributed import as_completed

    futures = _submit_all(client, kind, out, todo, policy)
    for future in as_completed(futures):
        part = futures.pop(future)
        try:
            stats = future.result()
        except Exception as exc:
            tally.failed.append({"partition": part.index, "first_line": part.first_line,
                                 "error": f"{type(exc).__name__}: {exc}"})
            continue
        finally:
            # Let the worker drop the result: a worker lost later then holds
            # nothing the scheduler would recompute (the file is on disk).
            future.release()
        tally.scored += stats["rows"]
        tally.flagged += stats["flagged"]
        tally.errors += stats["errors"]
        if progress:
            progress(stats["rows"])


def run_backfill(
    kind: str,
    items: Sequence[Item],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    partition_size: int | None = None,
    policy: Policy | None = None,
    progress: ProgressCallback | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> BackfillSummary:
    """Score ``items`` (``kind`` is ``names`` or ``code``) into Parquet files under ``out_dir``.

    Partitions already finished in ``out_dir`` are skipped. ``policy`` replaces the
    shipped one (``load_policy(FILE)``; it is sent to the workers). ``on_start``
    is told the number of rows left to score and the number of rows in total.
    Raises ``BackfillOutputError`` for an
    unusable output folder and ``BackfillClusterError`` for an unreachable scheduler.
    """
    if kind not in ("names", "code"):
        raise ValueError(f"unknown backfill kind {kind!r}")
    started = time.perf_counter()
    out = Path(out_dir)
    policy = resolve(policy)
    size = partition_size or _resumed_partition_size(out, kind) or (
        policy.backfill.names_partition_size if kind == "names"
        else policy.backfill.code_partition_size)
    n_workers = workers or default_workers()
    parts, todo, done = _plan(kind, items, out, size, policy)
    tally = _Tally()
    for part in done:
        part_flagged, part_errors = count_flagged(out, part.index)
        tally.flagged += part_flagged
        tally.errors += part_errors
    if on_start:
        on_start(sum(len(p) for p in todo), len(items))
    startup = 0.0
    if todo:
        connecting = time.perf_counter()
        with _client(n_workers, scheduler, policy) as client:
            startup = time.perf_counter() - connecting
            _run_on_cluster(client, kind, out, todo, policy, tally, progress)
    failed_indexes = {f["partition"] for f in tally.failed}
    return BackfillSummary(
        kind=kind, out_dir=str(out),
        rows=len(items) - sum(len(p) for p in parts if p.index in failed_indexes),
        flagged=tally.flagged, errors=tally.errors, partitions=len(parts),
        partitions_skipped=len(done), rows_scored=tally.scored,
        seconds=time.perf_counter() - started, startup_seconds=startup, workers=n_workers,
        failed=sorted(tally.failed, key=lambda f: f["partition"]),
    )

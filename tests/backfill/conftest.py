"""A small Dask cluster shared by the backfill tests of one module."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[object]:
    """Two worker processes, one thread each, like the CLI's default cluster on this machine."""
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True,
        dashboard_address=":0", silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster

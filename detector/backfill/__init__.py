"""Registry-wide re-scoring of names or release archives on Dask, into Parquet.

``run_backfill("names", read_names(FILE), OUT)`` is what ``warden backfill names``
runs; the output folder reads back with ``pandas.read_parquet(OUT)``.
"""

from detector.backfill.inputs import (
    BackfillInputError,
    Item,
    ItemList,
    read_code_inputs,
    read_names,
)
from detector.backfill.runner import BackfillClusterError, BackfillSummary, run_backfill
from detector.backfill.schema import CODE_SCHEMA, NAMES_SCHEMA
from detector.backfill.store import BackfillOutputError

__all__ = [
    "CODE_SCHEMA",
    "NAMES_SCHEMA",
    "BackfillClusterError",
    "BackfillInputError",
    "BackfillOutputError",
    "BackfillSummary",
    "Item",
    "ItemList",
    "read_code_inputs",
    "read_names",
    "run_backfill",
]

"""The Parquet schemas of backfill output, one row per input item.

Both schemas start with ``line`` (the input line, unique per run) and end with
``error`` (null when the row was scored normally), so pandas can read a whole
output folder with ``pd.read_parquet(DIR)``.
"""

from __future__ import annotations

import pyarrow as pa

NAMES_SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("normalized", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("flagged", pa.bool_()),
        pa.field("decision", pa.string()),
        pa.field("best_target", pa.string()),
        pa.field("best_target_rank", pa.int64()),
        pa.field("best_kind", pa.string()),
        pa.field("checks", pa.list_(pa.string())),
        pa.field("n_matches", pa.int32()),
        pa.field("reasons", pa.list_(pa.string())),
        pa.field("error", pa.string()),
    ]
)

CODE_SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("path", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("probability", pa.float64()),  # the code model's output (null: no model)
        pa.field("rule_score", pa.float64()),
        pa.field("flagged", pa.bool_()),
        pa.field("decision", pa.string()),
        pa.field("n_findings", pa.int32()),
        pa.field("rules", pa.list_(pa.string())),
        pa.field("top_severity", pa.string()),
        pa.field("error", pa.string()),
    ]
)

SCHEMAS = {"names": NAMES_SCHEMA, "code": CODE_SCHEMA}


def decision(flagged: bool, scored: bool) -> str:
    """``review`` for a flagged row, ``allow`` otherwise, ``error`` when nothing could be scored."""
    if not scored:
        return "error"
    return "review" if flagged else "allow"

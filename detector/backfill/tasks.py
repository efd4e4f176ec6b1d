"""What a worker runs for one partition: score its items, write its Parquet file.

These functions run in Dask worker processes. The name index and the code model
are built on first use and cached per process by their own modules, so each
worker pays that cost once, not once per partition.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from detector.backfill.inputs import Item
from detector.backfill.schema import CODE_SCHEMA, NAMES_SCHEMA, decision
from detector.backfill.store import write_partition
from detector.policy import Policy, load_policy

_SEVERITY_ORDER = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def _name_row(item: Item, result: Any | None, error: str | None) -> tuple[Any, ...]:
    """One row, in ``NAMES_SCHEMA`` column order (tuples: a partition has ~20k of them)."""
    if result is None:
        return (item.line, item.value, None, None, False, "error", None, None, None, [], 0, [],
                error)
    matches = result.matches
    best = matches[0] if matches else None
    flagged = bool(result.flagged)
    return (
        item.line,
        item.value,
        result.normalized,
        float(result.score),
        flagged,
        decision(flagged, scored=result.error is None),
        best.target if best else None,
        best.target_rank if best else None,
        best.kind if best else None,
        sorted({m.kind for m in matches}) if matches else [],
        len(matches),
        list(result.reasons),
        error or result.error,
    )


@lru_cache(maxsize=4)
def _checker(policy: Policy | None) -> Any:
    """The name checker of this worker process: its index is built once, then reused."""
    from detector.names import NameChecker, default_checker

    if policy is None or policy.names == load_policy().names:
        return default_checker()
    return NameChecker(policy=policy)


def _check_all(names: list[str], policy: Policy | None) -> list[tuple[Any | None, str | None]]:
    """Score a batch; if the batch call fails, fall back to one name at a time."""
    checker = _checker(policy)
    with contextlib.suppress(Exception):  # a crash on one odd name must not lose the rest
        return [(result, None) for result in checker.check_many(names)]
    out: list[tuple[Any | None, str | None]] = []
    for name in names:
        try:
            out.append((checker.check(name), None))
        except Exception as exc:
            out.append((None, f"name check failed: {type(exc).__name__}: {exc}"))
    return out


def name_rows(items: Sequence[Item], policy: Policy | None = None) -> list[tuple[Any, ...]]:
    """One output row per item; items with an input error are not scored."""
    good = [item for item in items if item.error is None]
    checked = _check_all([i.value for i in good], policy)
    scored = dict(zip((i.line for i in good), checked, strict=True))
    rows = []
    for item in items:
        if item.error is not None:
            rows.append(_name_row(item, None, item.error))
        else:
            result, error = scored[item.line]
            rows.append(_name_row(item, result, error))
    return rows


def _code_row(item: Item, policy: Policy | None) -> dict[str, Any]:
    from detector.code import scan_path

    row: dict[str, Any] = {
        "line": item.line, "path": item.value, "score": None, "probability": None,
        "rule_score": None, "flagged": False,
        "decision": "error", "n_findings": 0, "rules": [], "top_severity": None,
        "error": item.error,
    }
    if item.error is not None:
        return row
    if not Path(item.value).exists():
        row["error"] = "no such file or directory"
        return row
    try:
        result = scan_path(item.value, policy)
    except Exception as exc:  # scan_path should not raise; a row is still owed
        row["error"] = f"scan failed: {type(exc).__name__}: {exc}"
        return row
    findings = list(result.findings)

    def field(finding: Any, key: str) -> Any:
        return finding.get(key) if isinstance(finding, dict) else getattr(finding, key, None)

    severities = [str(field(f, "severity")) for f in findings if field(f, "severity")]
    row.update(
        score=float(result.score),
        probability=getattr(result, "model_score", None),
        rule_score=getattr(result, "rule_score", None),
        flagged=bool(result.flagged),
        decision=decision(bool(result.flagged), scored=True),
        n_findings=len(findings),
        rules=sorted({str(field(f, "rule")) for f in findings if field(f, "rule")}),
        top_severity=max(severities, key=lambda s: _SEVERITY_ORDER.get(s, -1), default=None),
        error=result.error,
    )
    return row


def code_rows(items: Sequence[Item], policy: Policy | None = None) -> list[dict[str, Any]]:
    return [_code_row(item, policy) for item in items]


def _columns_table(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.Table.from_arrays(
        [pa.array(column, type=f.type) for column, f in zip(columns, schema, strict=True)],
        schema=schema,
    )


def run_partition(
    kind: str, out_dir: str, index: int, items: Sequence[Item], policy: Policy | None = None
) -> dict[str, int]:
    """Score one partition and write it; returns its row and flag counts for the summary."""
    if kind == "names":
        table = _columns_table(name_rows(items, policy), NAMES_SCHEMA)
    else:
        table = pa.Table.from_pylist(code_rows(items, policy), schema=CODE_SCHEMA)
    write_partition(Path(out_dir), index, table)
    return {
        "partition": index,
        "rows": table.num_rows,
        "flagged": int(pc.sum(table["flagged"]).as_py() or 0),
        "errors": table.num_rows - table["error"].null_count,
    }

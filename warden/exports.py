"""`warden export`: the service's decisions, verdicts and campaigns as Parquet.

Like the backfill's output (``detector/backfill/schema.py``), each kind has one explicit
pyarrow schema, one row per item, times as UTC timestamps, so ``pd.read_parquet(PATH)``
gives the same columns and types whatever the rows hold (an empty export too)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from warden.client import RETRY_STATUS, ClientError

TS = pa.timestamp("us", tz="UTC")

SCHEMAS: dict[str, pa.Schema] = {
    "decisions": pa.schema([
        ("id", pa.string()), ("type", pa.string()), ("ts", TS), ("received_at", TS),
        ("username", pa.string()), ("project", pa.string()), ("score", pa.float64()),
        ("decision", pa.string()), ("campaign", pa.string()),
        ("signals", pa.list_(pa.string())), ("pending", pa.bool_()),
        ("verdict", pa.string()), ("verdict_at", TS), ("verdict_by", pa.string()),
        ("verdict_source", pa.string()),
    ]),
    "verdicts": pa.schema([
        ("event_id", pa.string()), ("verdict", pa.string()), ("previous", pa.string()),
        ("source", pa.string()), ("batch", pa.string()), ("undoes", pa.string()),
        ("actor", pa.string()), ("at", TS), ("campaign", pa.string()), ("note", pa.string()),
        ("decision", pa.string()), ("score", pa.float64()), ("event_ts", TS),
        ("type", pa.string()), ("signals", pa.list_(pa.string())),
    ]),
    "campaigns": pa.schema([
        ("campaign", pa.string()), ("events", pa.int64()), ("accounts", pa.int64()),
        ("first_ts", TS), ("last_ts", TS), ("max_score", pa.float64()),
        ("decision_allow", pa.int64()), ("decision_review", pa.int64()),
        ("decision_block", pa.int64()), ("verdict_malicious", pa.int64()),
        ("verdict_benign", pa.int64()), ("verdict_needs-info", pa.int64()),
        ("verdict_none", pa.int64()),
    ]),
}
KINDS = tuple(SCHEMAS)


def _times(row: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    out = dict(row)
    for name in schema.names:
        if schema.field(name).type == TS and isinstance(out.get(name), str):
            out[name] = datetime.fromisoformat(out[name].replace("Z", "+00:00"))
    return out


def fetch(client: httpx.Client, kind: str, since: datetime | None, page_size: int = 5000,
          retries: int = 5) -> Iterator[dict[str, Any]]:
    """Every row of ``GET /v1/{kind}``, following the ``Link: rel="next"`` pages."""
    import time

    params: dict[str, Any] | None = {"limit": page_size}
    if since is not None and params is not None:
        params["since"] = since.isoformat()
    url: str | None = f"/v1/{kind}"
    while url:
        for attempt in range(retries + 1):
            try:
                answer = client.get(url, params=params)
            except httpx.TransportError as exc:
                problem = str(exc)
            else:
                if answer.status_code == 200:
                    break
                problem = f"HTTP {answer.status_code}: {answer.text[:200]}"
                if answer.status_code not in RETRY_STATUS:
                    raise ClientError(f"GET {url}: {problem}")
            if attempt == retries:
                raise ClientError(f"GET {url}: gave up after {retries} retries ({problem})")
            time.sleep(min(30.0, 0.5 * 2 ** attempt))
        yield from answer.json()
        url, params = answer.links.get("next", {}).get("url"), None


def export(url: str, token: str, kind: str, out_dir: Path, since: datetime | None = None,
           progress: Callable[[int], None] | None = None) -> tuple[Path, int]:
    """Write ``out_dir/{kind}.parquet``; returns its path and row count."""
    schema = SCHEMAS[kind]
    rows = []
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "warden-export"}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=120) as client:
        for row in fetch(client, kind, since):
            rows.append(_times(row, schema))
            if progress and len(rows) % 1000 == 0:
                progress(1000)
    table = pa.Table.from_pylist(rows, schema=schema)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{kind}.parquet"
    pq.write_table(table, path)
    return path, len(rows)

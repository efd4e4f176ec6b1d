"""A small client of the Warden service: send events in batches with retries.

Retrying a batch is safe because the service is idempotent by event id: an event sent
twice is scored once, and the second answer is the stored decision. 429 and 5xx answers
and lost connections are retried with exponential back-off (``Retry-After`` honoured);
a refusal (4xx) stops the run with the service's message, since sending it again would
get the same answer. Uses httpx (no hand-written HTTP)."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class ClientError(RuntimeError):
    """The service refused a batch, or kept failing after every retry."""


class InputError(ValueError):
    """A line of the events file is not a JSON object."""


@dataclass
class SendSummary:
    sent: int = 0
    batches: int = 0
    retries: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    pending: int = 0
    campaigns: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "batches": self.batches, "retries": self.retries,
                "decisions": dict(self.decisions), "pending": self.pending,
                "campaigns": len(self.campaigns)}


def read_events(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Every event of a JSON Lines file with its line number (blank lines skipped); a
    line that is not a JSON object is an InputError naming it, before anything is sent."""
    events = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(value, dict):
                raise InputError(f"{path}:{number}: an event must be a JSON object")
            events.append((number, value))
    return events


def batches(events: list[tuple[int, dict[str, Any]]], size: int
            ) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    for start in range(0, len(events), size):
        yield events[start:start + size]


def _delay(attempt: int, answer: httpx.Response | None, base: float, cap: float) -> float:
    if answer is not None:
        after = answer.headers.get("retry-after", "")
        if after.replace(".", "", 1).isdigit():
            return min(cap, float(after))
    return min(cap, base * 2 ** attempt) * (0.5 + random.random() / 2)


def post_batch(client: httpx.Client, batch: list[dict[str, Any]], retries: int,
               base_delay: float = 0.5, max_delay: float = 30.0,
               on_retry: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """POST one batch, retrying the very same events on 429, 5xx and lost connections."""
    for attempt in range(retries + 1):
        answer: httpx.Response | None = None
        try:
            answer = client.post("/v1/events", json=batch)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if answer.status_code == 200:
                body = answer.json()
                return body if isinstance(body, list) else [body]
            problem = f"HTTP {answer.status_code}: {_detail(answer)}"
            if answer.status_code not in RETRY_STATUS:
                raise ClientError(problem)
        if attempt == retries:
            raise ClientError(f"gave up after {retries} retries ({problem})")
        if on_retry:
            on_retry(problem)
        time.sleep(_delay(attempt, answer, base_delay, max_delay))
    raise AssertionError("unreachable")


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail"))
    except (ValueError, AttributeError):
        return answer.text[:200]


def send(events: list[tuple[int, dict[str, Any]]], url: str, token: str, batch_size: int,
         retries: int, progress: Callable[[int], None] | None = None,
         on_retry: Callable[[str], None] | None = None, base_delay: float = 0.5,
         answers: Callable[[dict[str, Any]], None] | None = None) -> SendSummary:
    """Send every event in order, ``batch_size`` per request."""
    summary = SendSummary()
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "warden-send"}

    def retried(problem: str) -> None:
        summary.retries += 1
        if on_retry:
            on_retry(problem)

    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60) as client:
        for batch in batches(events, batch_size):
            try:
                decided = post_batch(client, [e for _, e in batch], retries, base_delay,
                                     on_retry=retried)
            except ClientError as exc:
                raise ClientError(f"batch of lines {batch[0][0]}-{batch[-1][0]} not stored: "
                                  f"{exc} ({summary.sent} events before it were stored)"
                                  ) from None
            summary.batches += 1
            summary.sent += len(batch)
            for answer in decided:
                summary.decisions[str(answer.get("decision"))] += 1
                summary.pending += bool(answer.get("pending"))
                if answer.get("campaign"):
                    summary.campaigns.add(str(answer["campaign"]))
                if answers:
                    answers(answer)
            if progress:
                progress(len(batch))
    return summary

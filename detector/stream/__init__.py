"""Registration streams: accounts, bursts, campaigns (CONTRACT §3).

``StreamScorer`` and ``score_lines`` are imported lazily so that
``detector.breaker`` can use ``detector.stream.events`` without a cycle.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EventError", "StreamScorer", "score_lines"]


def __getattr__(name: str) -> Any:
    if name in ("StreamScorer", "score_lines"):
        from detector.stream import scorer

        return getattr(scorer, name)
    if name == "EventError":
        from detector.stream.events import EventError

        return EventError
    raise AttributeError(name)

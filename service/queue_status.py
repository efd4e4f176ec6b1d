"""Which items the triage queue shows, by the verdict they have (one enum: `QueueStatus`)."""

from __future__ import annotations

from enum import StrEnum


class QueueStatus(StrEnum):
    """``open``: no verdict yet, or ``needs-info`` (still waiting on someone);
    ``needs-info``: only those; ``decided``: malicious or benign; ``all``."""

    OPEN = "open"
    NEEDS_INFO = "needs-info"
    DECIDED = "decided"
    ALL = "all"

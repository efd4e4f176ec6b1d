"""Where a recorded verdict came from (one enum: `VerdictSource`).

Training reads it from the labelled export to weight or drop wave labels."""

from __future__ import annotations

from enum import StrEnum


class VerdictSource(StrEnum):
    """``single``: a moderator judged this one event; ``wave``: one verdict for the chosen
    members of a campaign; ``undo``: a verdict batch taken back (the event's previous
    verdict restored)."""

    SINGLE = "single"
    WAVE = "wave"
    UNDO = "undo"

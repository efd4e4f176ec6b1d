"""Archive and file limits: the `[code.limits]` table of the policy (``detector.policy``)."""

from __future__ import annotations

from detector.policy import CodeLimits as Limits

__all__ = ["Limits"]

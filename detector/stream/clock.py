"""Event time the detector can trust: how far ahead of a clock an event may be, and how old.

Every window, baseline and breaker rule runs on event time, so one absurd timestamp
would move the clock for every later event. Two clocks exist:

* A service has the server's wall clock. ``check_event_time`` refuses an event more
  than ``[stream] max_future_skew_minutes`` ahead of it, or older than
  ``[stream] live_window_hours`` (the longest cohort window: an older event can sit in
  no window, and scoring it as new would count it where it does not belong).
* A file given to ``warden score`` has only the stream's own clock, the newest event
  time scored. ``StreamClock`` keeps one event far ahead of it (more than
  ``[stream] max_clock_leap_minutes``) from moving it: such an event is scored at the
  stream's clock, as if it had arrived then. The next event decides: if it is far ahead
  too, near the first, time really moved on (a gap in the stream) and the clock
  follows it; if not, the first was an outlier and the clock never moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from detector.policy import StreamPolicy
from detector.stream.events import EventError, format_ts

MINUTE = 60.0
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class TimePolicy:
    """The ``[stream]`` time keys, in seconds."""

    max_future_skew: float
    live_window: float
    max_leap: float

    @classmethod
    def from_cfg(cls, cfg: StreamPolicy) -> TimePolicy:
        return cls(max_future_skew=cfg.max_future_skew_minutes * MINUTE,
                   live_window=cfg.live_window_hours * HOUR,
                   max_leap=cfg.max_clock_leap_minutes * MINUTE)


def _span(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 2 * HOUR:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / MINUTE:.1f} min"


def check_event_time(ts: float, now: float, policy: TimePolicy, ts_text: str,
                     event_id: str | None = None) -> None:
    """Refuse (``EventError``) an event time too far ahead of the server clock ``now`` or
    older than the live window."""
    if ts > now + policy.max_future_skew:
        raise EventError(
            f"ts {ts_text!r} is outside the accepted range: {_span(ts - now)} ahead of the "
            f"server clock ({format_ts(now)}); at most "
            f"{policy.max_future_skew / MINUTE:g} min ahead is accepted", event_id)
    if ts < now - policy.live_window:
        raise EventError(
            f"ts {ts_text!r} is outside the accepted range: {_span(now - ts)} before the "
            f"server clock ({format_ts(now)}), older than the live window of "
            f"{policy.live_window / HOUR:g} h", event_id)


class StreamClock:
    """The newest trusted event time of a stream without a server clock (see the module
    docstring)."""

    __slots__ = ("leap", "max_leap", "now")

    def __init__(self, max_leap: float) -> None:
        self.max_leap = max_leap
        self.now = -math.inf
        self.leap: float | None = None  # the time of an unconfirmed far-ahead event

    def place(self, ts: float) -> float:
        """The time to score an event stamped ``ts`` at; moves the clock when it should.

        The caller has already refused times earlier than ``now``."""
        if self.now == -math.inf or ts <= self.now + self.max_leap:
            self.now = max(self.now, ts)
            self.leap = None
            return ts
        if self.leap is not None and abs(ts - self.leap) <= self.max_leap:
            self.now, self.leap = ts, None  # two in a row agree: the stream moved on
            return ts
        self.leap = ts
        return self.now

"""Burst detection over cohorts, each judged against its own seasonal baseline.

A cohort is every registration sharing one trait (email domain, username
template, typosquat target, file hash, ...), named by a key such as
``a|domain:inbox.ru``. For each key we keep the arrivals of the last
``long_window`` and a decayed count of older arrivals (its baseline). The
expected count in a window is the key's baseline rate, scaled by the scope's
hour-of-week profile (daily and weekly seasonality); the surprise of the
observed count is the Poisson upper tail, ``-log10 P(X >= n)``.

Why Poisson with distinct accounts rather than CUSUM/EWMA: most cohort keys
are rare (a new file hash, a new username template), so the question is "how
unlikely are n arrivals given a rate near zero", which the Poisson tail answers
directly with no per-key tuning. Counting distinct accounts (not events) per
project cohort keeps one owner's release train (18 ``trulens-*`` projects in a
minute) from looking like a wave; per-account floods are judged separately.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

HOUR = 3600.0
DAY = 86400.0
_LN10 = math.log(10.0)


def poisson_surprise(n: int, mu: float) -> float:
    """``-log10 P(X >= n)`` for X ~ Poisson(mu); 0 when n <= mu."""
    if n <= 0 or n <= mu:
        return 0.0
    mu = max(mu, 1e-12)
    log_pmf = n * math.log(mu) - mu - math.lgamma(n + 1)
    # Upper tail = pmf(n) * (1 + mu/(n+1) + ...) <= pmf(n) / (1 - mu/(n+1)).
    log_tail = log_pmf - math.log1p(-mu / (n + 1))
    return max(0.0, -log_tail / _LN10)


def predictive_surprise(n: int, past: float, exposure: float, window: float) -> float:
    """``-log10 P(X >= n)`` under the Gamma-Poisson (negative binomial) predictive.

    ``past`` arrivals were seen over ``exposure`` days (prior included); the
    window lasts ``window`` (seasonally scaled) days. Unlike a plain Poisson
    with the point-estimated rate, this stays calm when the baseline rests on
    little history, and sharpens to the Poisson as history accumulates.
    """
    r = max(past, 1e-9)
    p = exposure / (exposure + window)
    if n <= 0 or n <= r * (1 - p) / p:
        return 0.0
    log_pmf = (math.lgamma(n + r) - math.lgamma(r) - math.lgamma(n + 1)
               + r * math.log(p) + n * math.log1p(-p))
    ratio = (n + r) / (n + 1) * (1 - p) if r >= 1 else 1 - p
    if ratio >= 1:
        return 0.0
    log_tail = log_pmf - math.log1p(-ratio)
    return max(0.0, -log_tail / _LN10)


class KeyState:
    """Arrivals of one cohort key inside the long window, plus its decayed history.

    ``starts[i]`` indexes the first arrival inside window ``i``; ``matured[i]``
    is the count of arrivals older than window ``i`` (that window's baseline),
    each weighted ``exp(decay * (t - origin))``: multiplied by
    ``exp(-decay * (now - origin))`` it is the decayed count at ``now``, so no
    per-key decay bookkeeping is needed. ``last_counted`` (account -> time it
    last counted) is kept only for keys counting distinct accounts. ``trim_at``:
    no arrival leaves any window before this time (see ``CohortTracker._trim``).

    A plain class with slots: one is made for nearly every event (most file
    hashes, summaries and IP ranges are new), so construction is kept cheap.
    """

    __slots__ = ("accounts", "burst_at", "campaign", "description", "events", "last_counted",
                 "matured", "n_windows", "starts", "times", "trim_at", "weights")

    def __init__(self, n_windows: int, description: str = "") -> None:
        self.n_windows = n_windows
        self.times: list[float] = []
        self.weights: list[float] = []
        self.accounts: list[str] = []
        self.events: list[str] = []
        self.starts = [0] * n_windows
        self.matured = [0.0] * n_windows
        self.last_counted: dict[str, float] | None = None
        self.campaign: int | None = None
        self.burst_at = -math.inf
        self.description = description
        self.trim_at = math.inf

    def count(self, i: int) -> int:
        return len(self.times) - self.starts[i]


# A key seen once: (time, weight, account, event id, description, distinct).
Single = tuple[float, float, str, str, str, bool]


@dataclass(slots=True)
class KeyVerdict:
    """How surprising a key's recent count is, at its most surprising window."""

    key: str
    state: KeyState
    count: int
    window: float
    expected: float
    surprise: float
    bursting: bool
    expected_day: float


def _slot_hours(first: int, hour: int, period: int, width: int) -> list[int]:
    """Per slot, how many hours h in [first, hour] have (h // width) % period == slot.

    Closed form: hours below x whose slot starts at ``low`` number
    ``(x // cycle) * width + min(max(x % cycle - low, 0), width)``.
    """
    cycle = period * width
    top_q, top_r = divmod(hour + 1, cycle)
    low_q, low_r = divmod(first, cycle)
    whole = (top_q - low_q) * width
    return [whole + min(max(top_r - low, 0), width) - min(max(low_r - low, 0), width)
            for low in range(0, cycle, width)]


def _slot_factors(counts: list[float], first: int, hour: int, seen: list[int],
                  shrink: float) -> list[float]:
    """Rate of each slot over the mean rate, shrunk to 1; ``seen[slot]`` is how many
    hours of [first, hour] fall in the slot (``_slot_hours``)."""
    total_hours = max(1, hour - first + 1)
    mean = sum(counts) / total_hours
    if mean <= 0:
        return [1.0] * len(counts)
    return [(count + shrink * mean) / (hours + shrink) / mean
            for count, hours in zip(counts, seen, strict=True)]


class SeasonalProfile:
    """Daily and weekly shape of one scope's volume.

    The factor for an hour is (hour-of-day rate / mean) x (day-of-week rate /
    mean), each slot's rate shrunk toward the mean by ``shrink`` pseudo-hours,
    so the daily shape is learned within a day or two and a weekday not yet
    seen counts as average rather than as silent.
    """

    def __init__(self, shrink: float) -> None:
        self.by_hour = [0.0] * 24
        self.by_day = [0.0] * 7
        self.shrink = shrink
        self.first_hour: int | None = None
        self._cache_hour = -1
        self._daily: list[float] = [1.0] * 24
        self._weekly: list[float] = [1.0] * 7
        self._means: dict[int, float] = {}
        self._terms: list[float] = []
        # Hours of [first_hour, _seen_to] per hour-of-day and per day-of-week slot,
        # advanced an hour at a time as the stream moves on (see _seen).
        self._seen_from: int | None = None
        self._seen_to = 0
        self._seen_daily: list[int] = []
        self._seen_weekly: list[int] = []

    def add(self, ts: float) -> None:
        hour = int(ts // HOUR)
        if self.first_hour is None:
            self.first_hour = hour
        self.by_hour[hour % 24] += 1
        self.by_day[(hour // 24) % 7] += 1

    def _seen(self, first: int, hour: int) -> tuple[list[int], list[int]]:
        """Hours of [first, hour] per hour-of-day slot and per day-of-week slot."""
        step = hour - self._seen_to
        if self._seen_from != first or not 0 <= step <= 48:
            self._seen_daily = _slot_hours(first, hour, 24, 1)
            self._seen_weekly = _slot_hours(first, hour, 7, 24)
            self._seen_from = first
        else:
            daily, weekly = self._seen_daily, self._seen_weekly
            for h in range(self._seen_to + 1, hour + 1):
                daily[h % 24] += 1
                weekly[(h // 24) % 7] += 1
        self._seen_to = hour
        return self._seen_daily, self._seen_weekly

    def _refresh(self, hour: int) -> None:
        first = self.first_hour if self.first_hour is not None else hour
        daily_seen, weekly_seen = self._seen(first, hour)
        self._daily = _slot_factors(self.by_hour, first, hour, daily_seen, self.shrink)
        self._weekly = _slot_factors(self.by_day, first, hour, weekly_seen, 24 * self.shrink)
        self._cache_hour = hour
        self._means = {}
        self._terms = []

    def factor(self, ts: float, window: float) -> float:
        """Mean seasonal factor over the hours of ``[ts - window, ts]``."""
        hour = int(ts // HOUR)
        if hour != self._cache_hour:
            self._refresh(hour)
        hours = max(1, min(168, round(window / HOUR)))
        if hours >= 168:
            return 1.0
        mean = self._means.get(hours)
        if mean is None:
            # Factors of the hours back from this one, each computed once per hour
            # and shared by the windows.
            terms = self._terms
            daily, weekly = self._daily, self._weekly
            terms.extend(daily[(hour - i) % 24] * weekly[((hour - i) // 24) % 7]
                         for i in range(len(terms), hours))
            mean = self._means[hours] = sum(terms[:hours]) / hours
        return mean


class CohortTracker:
    """Keeps every cohort key's arrivals and judges each new arrival's surprise."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.windows = [(float(w["minutes"]) * 60, int(w["min_count"])) for w in cfg["windows"]]
        self.windows.sort()
        self.long_window = self.windows[-1][0]
        self.long_index = len(self.windows) - 1
        self._spans = tuple(w for w, _ in self.windows)
        self.threshold = float(cfg["surprise_threshold"])
        self.min_ratio = float(cfg["min_excess_ratio"])
        self.prior_count = float(cfg["prior_count"])
        self.prior_days = float(cfg["prior_days"])
        self.min_history = float(cfg["min_history_hours"]) * HOUR
        self.decay = math.log(2) / (float(cfg["half_life_days"]) * DAY)
        self.half_life_days = float(cfg["half_life_days"])
        self.shrink = float(cfg["seasonal_shrink"])
        # Cohort key -> its state; a key seen only once is a Single tuple (see observe).
        # Ordered by latest arrival while time never goes back (see _prune).
        self.keys: dict[str, KeyState | Single] = {}
        self.profiles: dict[str, SeasonalProfile] = {}
        self.start: float | None = None
        self._last_prune = 0.0
        self._contexts: dict[int, tuple[int, list[tuple[int, int, float, float]]]] = {}
        self._min_count = min(c for _, c in self.windows)
        self._n_windows = len(self.windows)
        self._last_ts = -math.inf
        self._ordered = True  # every ts so far >= the one before (see _prune)
        # Keys seen once are kept as Single tuples (see observe) unless a window
        # could burst on one arrival.
        self._compact = self._min_count > 1

    def _exposure_days(self, now: float, window: float) -> float:
        """Decay-weighted days of history older than ``window``."""
        if self.start is None:
            return 0.0
        span = max(0.0, now - window - self.start)
        return (1 - math.exp(-self.decay * span)) / self.decay / DAY

    def warmed_up(self, now: float) -> bool:
        """True once the shortest window has enough history behind it to be judged."""
        return (self.start is not None
                and now - self.start >= self.windows[0][0] + self.min_history)

    def _trim(self, state: KeyState, now: float) -> None:
        """Move arrivals that left each window into that window's baseline.

        Afterwards ``state.trim_at`` is the earliest ``times[starts[i]] + window_i``
        less a second: until then no window has an arrival to move out, so the
        caller may skip this call (the second absorbs rounding: trimming can only
        come early, when it moves nothing, never late).
        """
        times = state.times
        n = len(times)
        starts = state.starts
        soonest = math.inf
        for i, window in enumerate(self._spans):
            start = starts[i]
            if start < n:
                if times[start] < now - window:
                    cut = now - window
                    if start + 1 == n or times[start + 1] >= cut:
                        # One arrival leaves (the usual case); the same float as sum([w]).
                        state.matured[i] += state.weights[start]
                        start += 1
                    else:
                        end = bisect_left(times, cut, start)
                        state.matured[i] += sum(state.weights[start:end])
                        start = end
                    starts[i] = start
                    if start == n:
                        continue
                if times[start] + window < soonest:
                    soonest = times[start] + window
        state.trim_at = soonest - 1.0
        drop = starts[-1]
        if drop > 64 and drop * 2 > n:
            del times[:drop], state.weights[:drop], state.accounts[:drop], state.events[:drop]
            state.starts = [s - drop for s in starts]
            last_counted = state.last_counted
            if last_counted is not None and len(last_counted) > 2 * (n - drop) + 64:
                # Accounts last counted before the long window no longer matter (their
                # next arrival counts again); dropped when they outnumber the arrivals.
                cutoff = now - self.long_window
                state.last_counted = {a: t for a, t in last_counted.items() if t >= cutoff}

    def _context(self, now: float, profile: SeasonalProfile) -> list[tuple[int, int, float, float]]:
        """Per judged window: (index, min_count, exposure days, seasonal span days).

        Cached per scope for half an hour: exposures and seasonal factors move slowly.
        """
        minute = int(now // 1800)
        cached = self._contexts.get(id(profile))
        if cached is not None and cached[0] == minute:
            return cached[1]
        history = now - (self.start or now)
        context = []
        for i, (window, min_count) in enumerate(self.windows):
            if history < window + self.min_history:
                break
            context.append((i, min_count, self._exposure_days(now, window) + self.prior_days,
                            (window / DAY) * profile.factor(now, window)))
        self._contexts[id(profile)] = (minute, context)
        return context

    def baseline_per_day(self, state: KeyState, i: int, now: float) -> float:
        """A key's baseline rate (arrivals per day) behind window ``i``."""
        scale = math.exp(-self.decay * (now - (self.start or now)))
        past = state.matured[i] * scale + self.prior_count
        return past / (self._exposure_days(now, self.windows[i][0]) + self.prior_days)

    def observe(self, scope: str, keys: dict[str, str], ts: float, account: str,
                event_id: str, distinct: bool) -> list[KeyVerdict]:
        """Record one event in each cohort ``keys`` (key -> description).

        Returns a verdict for each key that bursts now or already belongs to a
        campaign. With ``distinct`` an account counts once per key per long window.
        """
        if self.start is None:
            self.start = ts
        profile = self.profiles.get(scope)
        if profile is None:
            profile = self.profiles[scope] = SeasonalProfile(self.shrink)
        profile.add(ts)
        context = self._context(ts, profile) if self.warmed_up(ts) else []
        scale = math.exp(-self.decay * (ts - self.start))
        weight = 1.0 / scale
        verdicts = []
        table = self.keys
        if ts < self._last_ts:
            self._ordered = False
        self._last_ts = ts
        soonest = ts + self._spans[0] - 1.0  # when the new arrival may leave the first window
        long_window = self.long_window
        min_count = self._min_count
        for key, description in keys.items():
            state = table.get(key)
            if state is None:
                if self._compact:
                    # A first arrival cannot burst (every window needs more) and has no
                    # campaign: kept as a plain tuple until the key is seen again.
                    table[key] = (ts, weight, account, event_id, description, distinct)
                    continue
                state = table[key] = KeyState(self._n_windows, description)
                if distinct:
                    state.last_counted = {account: ts}
            else:
                if isinstance(state, tuple):
                    state = table[key] = self._expand(state)
                if ts >= state.trim_at:
                    self._trim(state, ts)
                if distinct:
                    last_counted = state.last_counted
                    if last_counted is None:
                        last_counted = state.last_counted = {}
                    last = last_counted.get(account)
                    if last is not None and last >= ts - long_window:
                        continue
                    last_counted[account] = ts
                # Keep ``keys`` ordered by latest arrival, for _prune.
                del table[key]
                table[key] = state
            times = state.times
            times.append(ts)
            state.weights.append(weight)
            state.accounts.append(account)
            state.events.append(event_id)
            if soonest < state.trim_at:
                state.trim_at = soonest
            # The longest window holds the most arrivals: below every window's minimum
            # count nothing can burst, and only a campaign key needs a verdict.
            if context and (state.campaign is not None
                            or len(times) - state.starts[-1] >= min_count):
                verdict = self._judge(key, state, context, scale)
                if verdict is not None:
                    verdicts.append(verdict)
        if ts - self._last_prune > 3 * DAY:
            self._prune(ts)
        return verdicts

    def _expand(self, first: Single) -> KeyState:
        """The full state of a key seen once, exactly as if it had been kept in full."""
        ts, weight, account, event_id, description, distinct = first
        state = KeyState(self._n_windows, description)
        state.times.append(ts)
        state.weights.append(weight)
        state.accounts.append(account)
        state.events.append(event_id)
        if distinct:
            state.last_counted = {account: ts}
        state.trim_at = ts + self._spans[0] - 1.0
        return state

    def _judge(self, key: str, state: KeyState, context: list[tuple[int, int, float, float]],
               scale: float) -> KeyVerdict | None:
        best = None
        n = len(state.times)
        for i, min_count, exposure, span in context:
            count = n - state.starts[i]
            if count < min_count:
                continue
            past = state.matured[i] * scale + self.prior_count
            expected = past / exposure * span
            if count < self.min_ratio * expected:
                continue
            surprise = predictive_surprise(count, past, exposure, span)
            if surprise >= self.threshold and (best is None or surprise > best.surprise):
                best = KeyVerdict(key, state, count, self.windows[i][0], expected, surprise,
                                  True, past / exposure)
        if best is None and state.campaign is not None and context:
            _, _, exposure, _ = context[0]
            per_day = (state.matured[0] * scale + self.prior_count) / exposure
            best = KeyVerdict(key, state, 0, 0.0, 0.0, 0.0, False, per_day)
        return best

    def _prune(self, now: float) -> None:
        """Drop keys with no arrivals in the long window and a negligible history.

        ``keys`` is ordered by latest arrival (while time never went back), so the
        walk stops at the first key with an arrival inside the long window.
        """
        self._last_prune = now
        cutoff = now - self.long_window
        scale = math.exp(-self.decay * (now - (self.start or now)))
        long_index = self.long_index
        ordered = self._ordered
        dead = []
        retained: list[tuple[str, KeyState]] = []
        for key, state in self.keys.items():
            if isinstance(state, tuple):
                # Seen once: trimming would make every window's baseline 0.0 + weight.
                if state[0] >= cutoff:
                    if ordered:
                        break
                    continue
                if state[1] * scale < 1.0:
                    dead.append(key)
                else:
                    retained.append((key, self._expand(state)))
                continue
            times = state.times
            if times and times[-1] >= cutoff:
                if ordered:
                    break
                continue
            if state.campaign is not None:
                continue
            self._trim(state, now)
            if state.matured[long_index] * scale < 1.0:
                dead.append(key)
        for key in dead:
            del self.keys[key]
        for key, full in retained:
            self._trim(full, now)
            self.keys[key] = full

    def window_members(self, state: KeyState, now: float, window: float
                       ) -> tuple[list[str], list[str]]:
        """Accounts and event ids of a key's arrivals inside ``window``."""
        lo = bisect_left(state.times, now - window)
        return state.accounts[lo:], state.events[lo:]

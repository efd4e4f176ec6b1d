"""Burst detection over cohorts, each judged against its own seasonal baseline.

A cohort is every registration sharing one trait (email domain, username
template, typosquat target, file hash, ...), named by a key such as
``a|domain:inbox.ru``. For each key we keep the arrivals of the last
``long_window`` and a decayed count of older arrivals (its baseline). The
expected count in a window is the key's baseline rate, scaled by the scope's
hour-of-week profile (daily and weekly seasonality); the surprise of the
observed count is ``-log10 P(X >= n)`` under the Gamma-Poisson (negative
binomial) predictive of that history (``predictive_surprise``), which judges a
key with little history behind it gently and a well-known one sharply. The tail is
bounded from the first term's geometric ratio, so the surprise is never above the
exact one and within 3% of it where bursts are decided (tested against
``scipy.special.betainc`` on a grid). A key bursts in a window when its count reaches
the window's ``min_count``, is at least ``min_excess_ratio`` times what the baseline
expects, and its surprise reaches ``surprise_threshold``; the window with the
highest surprise is the verdict.

Why a count model rather than CUSUM/EWMA: most cohort keys are rare (a new file
hash, a new username template), so the question is "how unlikely are n
arrivals given a rate near zero and this much history", which the predictive
tail answers directly with no per-key tuning. Counting distinct accounts (not
events) per project cohort keeps one owner's release train (18 ``trulens-*``
projects in a minute) from looking like a wave; per-account floods are judged
separately.

History is what the stream was watched for, not the span since its first
timestamp: time counts as observed only between consecutive events at most
``max_quiet_hours`` apart (``ObservedTime``). A window is judged once there is
observed history behind it; until ``min_history_hours`` of it, its bursts are
damped (a higher surprise is needed and the verdict carries its warmth), so one
event dated months before the rest buys nothing.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass

from detector.policy import CohortsPolicy

HOUR = 3600.0
DAY = 86400.0
_LN10 = math.log(10.0)


def binomial_surprise(n: int, trials: int, share: float) -> float:
    """``-log10 P(X >= n)`` for ``X ~ Binomial(trials, share)``: how unlikely it is that
    ``n`` of ``trials`` arrivals carry a trait a ``share`` of them usually carries."""
    if n <= 0 or n <= trials * share:
        return 0.0
    if share <= 0.0:
        return math.inf
    if n > trials or share >= 1.0:
        return 0.0
    log_p, log_q = math.log(share), math.log1p(-share)
    terms = [math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1)
             + k * log_p + (trials - k) * log_q for k in range(n, trials + 1)]
    top = max(terms)
    log_tail = top + math.log(sum(math.exp(t - top) for t in terms))
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


class ObservedTime:
    """The stretches of time the stream was watched: ``[first, last]`` event times with
    no gap longer than ``max_quiet`` seconds between consecutive events.

    Baselines learn from absence as much as from arrivals, but only where the stream
    was running: a gap longer than ``max_quiet`` (a registry outage, or one event dated
    months before the rest) is not history.
    """

    __slots__ = ("max_quiet", "spans")

    def __init__(self, max_quiet: float) -> None:
        self.max_quiet = max_quiet
        self.spans: list[list[float]] = []

    def add(self, ts: float) -> None:
        spans = self.spans
        if not spans or ts - spans[-1][1] > self.max_quiet:
            spans.append([ts, ts])
        elif ts > spans[-1][1]:
            spans[-1][1] = ts

    @property
    def first(self) -> float | None:
        return self.spans[0][0] if self.spans else None

    def before(self, cutoff: float) -> float:
        """Seconds observed before ``cutoff``."""
        return sum(min(end, cutoff) - start for start, end in self.spans if start < cutoff)

    def decayed_days(self, cutoff: float, decay: float) -> float:
        """Days observed before ``cutoff``, each second weighted ``exp(-decay * age)``
        (age measured back from ``cutoff``). On a stream without long gaps this is
        exactly ``(1 - exp(-decay * (cutoff - first))) / decay`` in days."""
        total = 0.0
        for start, end in self.spans:
            if start >= cutoff:
                break
            recent = 1.0 if end >= cutoff else math.exp(-decay * (cutoff - end))
            total += recent - math.exp(-decay * (cutoff - start))
        return total / decay / DAY


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
# A judged window: (index, min_count, exposure days, seasonal span days, warmth).
Context = tuple[int, int, float, float, float]


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
    warmth: float = 1.0  # below 1: the window's baseline is still warming up (damped)


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

    def __init__(self, cfg: CohortsPolicy) -> None:
        self.windows = [(w.minutes * 60, w.min_count) for w in cfg.windows]
        self.windows.sort()
        self.long_window = self.windows[-1][0]
        self.long_index = len(self.windows) - 1
        self._spans = tuple(w for w, _ in self.windows)
        self.threshold = cfg.surprise_threshold
        self.min_ratio = cfg.min_excess_ratio
        self.prior_count = cfg.prior_count
        self.prior_days = cfg.prior_days
        self.min_history = cfg.min_history_hours * HOUR
        self.observed = ObservedTime(cfg.max_quiet_hours * HOUR)
        self._warmth: tuple[int, float] = (-1, 0.0)
        self.decay = math.log(2) / (cfg.half_life_days * DAY)
        self.half_life_days = cfg.half_life_days
        self.shrink = cfg.seasonal_shrink
        # Cohort key -> its state; a key seen only once is a Single tuple (see observe).
        # Ordered by latest arrival while time never goes back (see _prune).
        self.keys: dict[str, KeyState | Single] = {}
        self.profiles: dict[str, SeasonalProfile] = {}
        self.start: float | None = None
        self._last_prune = 0.0
        self._contexts: dict[int, tuple[int, list[Context]]] = {}
        self._min_count = min(c for _, c in self.windows)
        self._n_windows = len(self.windows)
        self._last_ts = -math.inf
        self._ordered = True  # every ts so far >= the one before (see _prune)
        # Keys seen once are kept as Single tuples (see observe) unless a window
        # could burst on one arrival.
        self._compact = self._min_count > 1

    def _warmth_at(self, cutoff: float) -> float:
        """How warm a baseline ending at ``cutoff`` is: observed history behind it over
        ``min_history`` (capped at 1); 0 when the stream started after ``cutoff``."""
        first = self.observed.first
        if first is None or cutoff < first:
            return 0.0
        if self.min_history <= 0:
            return 1.0
        return min(1.0, self.observed.before(cutoff) / self.min_history)

    def warmth(self, now: float) -> float:
        """Warmth of the shortest window's baseline (see ``_warmth_at``), per half hour."""
        slot = int(now // 1800)
        if self._warmth[0] != slot:
            self._warmth = (slot, self._warmth_at(now - self.windows[0][0]))
        return self._warmth[1]

    def observed_hours(self, now: float) -> float:
        """Hours of observed history behind the shortest window."""
        return self.observed.before(now - self.windows[0][0]) / HOUR

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

    def _context(self, now: float, profile: SeasonalProfile) -> list[Context]:
        """Per judged window: (index, min_count, exposure days, seasonal span days, warmth).

        A window is judged once observed history lies behind it; ``warmth`` (below 1
        until ``min_history``) damps it. Cached per scope for half an hour: exposures,
        warmth and seasonal factors move slowly.
        """
        minute = int(now // 1800)
        cached = self._contexts.get(id(profile))
        if cached is not None and cached[0] == minute:
            return cached[1]
        context = []
        for i, (window, min_count) in enumerate(self.windows):
            cutoff = now - window
            warmth = self._warmth_at(cutoff)
            if warmth <= 0.0:
                break
            context.append((i, min_count,
                            self.observed.decayed_days(cutoff, self.decay) + self.prior_days,
                            (window / DAY) * profile.factor(now, window), warmth))
        self._contexts[id(profile)] = (minute, context)
        return context

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
        self.observed.add(ts)
        context = self._context(ts, profile)
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

    def _judge(self, key: str, state: KeyState, context: list[Context],
               scale: float) -> KeyVerdict | None:
        best = None
        n = len(state.times)
        for i, min_count, exposure, span, warmth in context:
            count = n - state.starts[i]
            if count < min_count:
                continue
            past = state.matured[i] * scale + self.prior_count
            expected = past / exposure * span
            if count < self.min_ratio * expected:
                continue
            surprise = predictive_surprise(count, past, exposure, span)
            # A baseline still warming up needs proportionally more surprise.
            if surprise * warmth >= self.threshold and (best is None
                                                        or surprise > best.surprise):
                best = KeyVerdict(key, state, count, self.windows[i][0], expected, surprise,
                                  True, past / exposure, warmth)
        if best is None and state.campaign is not None and context:
            _, _, exposure, _, _ = context[0]
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

    def within(self, key: str, parent: str, now: float, threshold: float
               ) -> tuple[float, int, float] | None:
        """The narrowest window in which ``key``'s arrivals are over-represented among
        ``parent``'s (a trait inside one e-mail domain's sign-ups): the binomial surprise
        of the key's count among the parent's, at the share the key held in the parent's
        history (prior included), reaches ``threshold`` and the count the window's
        ``min_count``. Returns (window, count, surprise), or None.
        """
        child, whole = self.keys.get(key), self.keys.get(parent)
        if not isinstance(child, KeyState) or not isinstance(whole, KeyState):
            return None
        for state in (child, whole):
            if now >= state.trim_at:
                self._trim(state, now)
        prior = self.prior_count
        scale = math.exp(-self.decay * (now - (self.start or now)))
        for index, (window, min_count) in enumerate(self.windows):
            count = child.count(index)
            if count < min_count:
                continue
            share = ((child.matured[index] * scale + prior)
                     / (whole.matured[index] * scale + prior))
            surprise = binomial_surprise(count, whole.count(index), min(1.0, share))
            if surprise >= threshold:
                return window, count, surprise
        return None

    def per_day(self, state: KeyState, now: float) -> float:
        """Arrivals a day a key's history before the longest window expects (prior included)."""
        if now >= state.trim_at:
            self._trim(state, now)
        scale = math.exp(-self.decay * (now - (self.start or now)))
        cutoff = now - self.long_window
        exposure = self.observed.decayed_days(cutoff, self.decay) + self.prior_days
        return (state.matured[self.long_index] * scale + self.prior_count) / exposure

    def window_members(self, state: KeyState, now: float, window: float
                       ) -> tuple[list[str], list[str]]:
        """Accounts and event ids of a key's arrivals inside ``window``."""
        lo = bisect_left(state.times, now - window)
        return state.accounts[lo:], state.events[lo:]

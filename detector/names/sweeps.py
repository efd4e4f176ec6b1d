"""Sweeps over a batch of name results (`warden check-name --file`): see ``detector.sweeps``;
bursts (names of one window sharing rare starts and ends, ``detector.names.bursts``),
resolved in the same windows after the sweeps, on top of them; and runs (one popular name
glued to other letters again and again, ``detector.names.runs``), grids (names of a
window crossing a few pieces with each other, ``detector.names.grids``) and pairs (a
window full of names joining two popular names, ``detector.names.pairs``), with the
bursts; then echoes (a look-alike one edit from a name flagged in its window,
``detector.names.echoes``), on top of all of them; last, recent attacks (a look-alike of a
target known malicious names squatted in the days before, ``detector.names.attacks``).

``BatchSweeps`` takes results one at a time (so a caller can write the others as they
come), holds only the members (of a sweep, a burst or pairs; for echoes, every name with a
match; for recent attacks, the names of a target squatted recently), and at the end
answers the members whose result changes. ``apply_sweeps`` does the same over a list.
Both are O(n) in the results plus a sort of each group; the answer depends on the set of
(name, time) pairs only, never on their order in the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from detector.names import bursts
from detector.names.attacks import AttackLog, RecentAttacks, with_attack
from detector.names.echoes import echoes_on, find_echoes, is_echo_candidate, with_echo
from detector.names.grids import find_grids, with_grid
from detector.names.pairs import find_pairs, is_pair_member, with_pair
from detector.names.results import NameResult
from detector.names.runs import find_runs, with_run
from detector.policy import NamesPolicy, Policy, resolve
from detector.sweeps import DistinctNames, Sweep, is_member_match, make_sweep

HOUR = 3600.0


def member_target(result: NameResult, cfg: NamesPolicy) -> str | None:
    """The target whose sweep ``result`` belongs to, or None (see ``detector.sweeps``)."""
    matches = result.matches
    if not matches or result.error is not None or result.normalized is None:
        return None  # most names: no match at all
    best = matches[0]
    if not is_member_match(best.kind, best.distance, best.score, cfg):
        return None
    return best.target


def with_sweep(result: NameResult, sweep: Sweep, cfg: NamesPolicy) -> NameResult:
    """``result`` with its score raised, its flag renewed and the sweep's reason added."""
    return result.raised(sweep.score, sweep.reason, sweep.to_dict(), cfg.flag_threshold)


class BatchSweeps:
    """Collects a batch's members (``add``), then scores its sweeps (``resolve``)."""

    def __init__(self, policy: Policy | None = None,
                 pieces: bursts.PieceCounts | None = None,
                 brands: bursts.Brands | None = None, attacks: AttackLog | None = None
                 ) -> None:
        self.cfg = resolve(policy).names
        # The popular names a burst member may hold glued (the shipped corpus's by default).
        self._brands = brands
        # target -> [(time, name, position, result)]
        self._groups: dict[str, list[tuple[float | None, str, int, NameResult]]] = {}
        # Bursts (detector/names/bursts.py) count the pieces of every name of the batch.
        self.bursts = self.cfg.burst_boost > 0.0
        self._pieces = pieces
        self._names: list[tuple[float | None, str, int]] = []
        self._burst_members: dict[int, NameResult] = {}
        self._pair_members: dict[int, NameResult] = {}  # detector.names.pairs
        self._any_time = False
        # Echoes (detector.names.echoes): every name with a match, and its time.
        self.echoes = echoes_on(self.cfg)
        self._matched: dict[int, tuple[float | None, NameResult]] = {}
        # Recent attacks (detector.names.attacks; ``attacks``: the log, the shipped one by
        # default): the names whose target was squatted recently, with how often.
        self.attacks = RecentAttacks(self.cfg, attacks)
        self._attacked: dict[int, tuple[float | None, int, NameResult]] = {}

    def note(self, position: int, normalized: str | None, ts: float | None = None) -> None:
        """Count a name of the batch that is not ``add``-ed and is no member: bursts weigh
        each piece against every name of the window."""
        if not self.bursts or normalized is None:
            return
        self._any_time = self._any_time or ts is not None
        if not self._any_time and len(self._names) >= self.cfg.sweep_batch_names:
            # More names without times than one window holds: no bursts (as no sweeps),
            # and no need to keep every name of a long list.
            self.bursts = False
            self._names = []
            return
        self._names.append((ts, normalized, position))

    def add(self, position: int, result: NameResult, ts: float | None = None) -> bool:
        """Hold ``result`` (at ``position`` in the batch) if it is a sweep or burst member;
        True then. Counted for bursts either way (no need to ``note`` it). A name without a
        match may be a burst member too (a popular name glued at one end), or a pair member
        (two words, one a popular name)."""
        self.note(position, result.normalized, ts)
        held = False
        # A batch of more names than one window without times has no echoes: past that
        # many, untimed names are not held for them.
        if self.echoes and result.matches and result.error is None \
                and result.normalized is not None \
                and (ts is not None or position < self.cfg.sweep_batch_names):
            self._matched[position] = (ts, result)
            held = True
        if self.attacks.on and (squats := self.attacks.squats(result, ts)):
            self._attacked[position] = (ts, squats, result)
            held = True
        if self.bursts and bursts.is_member(result, self.cfg, self._brands):  # CLI's holes
            self._burst_members[position] = result
            held = True
        elif self.bursts and is_pair_member(result, self.cfg, self._brands):
            self._pair_members[position] = result
            held = True
        target = member_target(result, self.cfg)
        if target is None:
            return held
        assert result.normalized is not None
        self._groups.setdefault(target, []).append((ts, result.normalized, position, result))
        return True

    def members(self) -> dict[int, NameResult]:
        """Every member held, by position, as checked (before ``resolve``)."""
        held = {position: result for position, (_, result) in self._matched.items()}
        held.update({position: result for position, (_, _, result) in self._attacked.items()})
        held.update({**self._pair_members, **self._burst_members})
        held.update({position: result for members in self._groups.values()
                     for _, _, position, result in members})
        return held

    def resolve(self, size: int) -> dict[int, NameResult]:
        """The changed results by position: every member with at least one sibling.

        ``size``: how many names the batch holds. A batch of more than
        ``sweep_batch_names`` without times gets no sweeps (a sweep is hours, not a
        registry's worth of names); its members with times still do."""
        changed: dict[int, NameResult] = {}
        one_window = size <= self.cfg.sweep_batch_names
        for target, members in self._groups.items():
            if len(members) < 2:
                continue
            if all(ts is None for ts, _, _, _ in members):
                if one_window:
                    self._untimed(target, members, changed)
            else:
                self._timed(target, members, changed)
        if self._burst_members or self._pair_members:
            self._resolve_bursts(one_window, changed)
        if self._matched:
            self._resolve_echoes(one_window, changed)
        for position, (ts, squats, result) in self._attacked.items():
            # On top of everything else: the name as scored now (a per-name rule, so a
            # long list without times gets it too).
            current = changed.get(position, result)
            attack = self.attacks.judge(result.matches[0].target, squats, current.score, ts)
            if attack is not None:
                changed[position] = with_attack(current, attack, self.cfg)
        return changed

    def _resolve_echoes(self, one_window: bool, changed: dict[int, NameResult]) -> None:
        """Raise the echoes (``detector.names.echoes``) among the names with a match, on
        top of everything else; twins are the names with a match or raised, as scored
        now."""
        times = {position: ts for position, (ts, _) in self._matched.items()}
        if changed.keys() - times.keys():  # burst and pair members without a match
            times.update({position: ts for ts, _, position in self._names
                          if position in changed})
        known = [ts for ts in times.values() if ts is not None]
        timed = bool(known)
        if not (timed or one_window):
            return
        current = {position: result for position, (_, result) in self._matched.items()}
        current.update(changed)
        earliest = min(known, default=0.0)
        rows: list[tuple[float, str, int]] = []
        for position, result in current.items():
            ts = times.get(position)
            if result.normalized is not None:
                rows.append((earliest if ts is None else ts, result.normalized, position))
        rows.sort()
        candidates = {position for position, (_, result) in self._matched.items()
                      if is_echo_candidate(result, self.cfg)}
        for position, echo in find_echoes(rows, current, candidates, self.cfg,
                                          timed).items():
            changed[position] = with_echo(current[position], echo, self.cfg)

    def _resolve_bursts(self, one_window: bool, changed: dict[int, NameResult]) -> None:
        """Raise the burst, run, grid and pair members (on top of any sweep; the stronger of
        a burst and a run, ``detector.names.runs``; a grid, ``detector.names.grids``, for the
        others; then a pair, ``detector.names.pairs``) of a timed batch, or of an untimed
        one that is one window."""
        timed = self._any_time
        if not self.bursts or not (timed or one_window):
            return
        stats = self._pieces if self._pieces is not None else bursts.load_pieces()
        earliest = min((ts for ts, _, _ in self._names if ts is not None), default=0.0)
        # Sorted once here: bursts, runs and grids each sort their rows, then in linear time.
        rows = sorted((earliest if ts is None else ts, name, position)
                      for ts, name, position in self._names)
        current = {position: changed.get(position, result)
                   for position, result in self._burst_members.items()}
        found = bursts.find_bursts(rows, current, self.cfg, stats, timed, self._brands)
        slow = find_runs(rows, current, self.cfg, stats, timed, self._brands)
        for position in found.keys() | slow.keys():
            burst, run = found.get(position), slow.get(position)
            if run is not None and (burst is None or run.score > burst.score):
                changed[position] = with_run(current[position], run, self.cfg)
            elif burst is not None:
                changed[position] = bursts.with_burst(current[position], burst, self.cfg)
        # Grids raise the members no burst and no run raised (detector.names.grids); off
        # without live statistics, as the stream's BurstMemory is.
        rest = {position: result for position, result in current.items()
                if position not in found and position not in slow and stats.names > 0}
        meshed = find_grids(rows, rest, self.cfg, timed, self._brands)
        for position, grid in meshed.items():
            changed[position] = with_grid(current[position], grid, self.cfg)
        # Pairs raise the pair members none of those raised (detector.names.pairs).
        left = {position: changed.get(position, result)
                for position, result in self._pair_members.items()}
        left.update({position: result for position, result in current.items()
                     if position not in found and position not in slow
                     and position not in meshed})
        for position, pair in find_pairs(rows, left, self.cfg, stats, timed,
                                         self._brands).items():
            changed[position] = with_pair(left[position], pair, self.cfg)

    def _untimed(self, target: str, members: list[tuple[float | None, str, int, NameResult]],
                 changed: dict[int, NameResult]) -> None:
        names = sorted({name for _, name, _, _ in members})
        if len(names) < 2:
            return
        for _, name, position, result in members:
            others = [other for other in names[: self.cfg.sweep_listed + 1] if other != name]
            sweep = make_sweep(target, others, len(names) - 1, result.score, self.cfg,
                               timed=False)
            changed[position] = with_sweep(result, sweep, self.cfg)

    def _timed(self, target: str, members: list[tuple[float | None, str, int, NameResult]],
               changed: dict[int, NameResult]) -> None:
        """Siblings: the others at most the window before, or at the same time (a name
        without a time counts as at its group's earliest). O(n log n) in the group."""
        window = self.cfg.sweep_window_hours * HOUR
        earliest = min(ts for ts, _, _, _ in members if ts is not None)
        rows = sorted(((earliest if ts is None else ts, name, position, result)
                       for ts, name, position, result in members),
                      key=lambda row: (row[0], row[1], row[2]))
        distinct = DistinctNames([row[1] for row in rows])
        inside = distinct.inside
        for index, *_ in distinct.slide([row[0] for row in rows], window):
            _, name, position, result = rows[index]
            count = len(inside) - (name in inside)
            if count == 0:
                continue
            # ``inside`` keeps the order in which names entered the window: earliest first.
            others = (other for other in inside if other != name)
            sweep = make_sweep(target, others, count, result.score, self.cfg, timed=True)
            changed[position] = with_sweep(result, sweep, self.cfg)


def apply_sweeps(results: Sequence[NameResult], times: Sequence[float | None] | None = None,
                 policy: Policy | None = None, pieces: bursts.PieceCounts | None = None,
                 brands: bursts.Brands | None = None, attacks: AttackLog | None = None
                 ) -> list[NameResult]:
    """``results`` with every sweep and burst member raised (``times``: one per result, or
    None; ``pieces``: live piece counts, ``brands``: popular names, ``attacks``: the attack
    log, the shipped ones by default)."""
    batch = BatchSweeps(policy, pieces, brands, attacks)
    for position, result in enumerate(results):
        batch.add(position, result, None if times is None else times[position])
    changed = batch.resolve(len(results))
    return [changed.get(position, result) for position, result in enumerate(results)]


__all__ = ["BatchSweeps", "apply_sweeps", "member_target", "with_sweep"]

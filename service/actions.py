"""Every moderator action, whichever front door it came through: one function each.

Like PyPI's warehouse, which routes its views through services, `service/api.py` (JSON)
and `service/pages.py` (forms) only translate HTTP into these calls and an
``ActionError`` back into a status code. Each action checks the caller's role,
validates its input (one limit for reasons and notes, ``[service] max_reason_chars``),
makes the change with its audit row, and counts its metric:

* ``pause``, ``resume``, ``confirm``: the detector's breaker decides the transition on
  the live breaker state (``detector.breaker.Breaker``); ``service.breaker.persist``
  stores it and its audit row; ``warden_breaker_changes_total{action}``. With a
  ``cohort`` (``kind:value``, ``detector.breaker_scope``) they act on that cohort of
  the event type only.
* ``verdict``, ``wave_verdict``, ``undo``: one verdict row per event, one batch per
  action (``service.queue``); ``warden_verdicts_total{verdict}`` (``undo`` for undos).
  A benign verdict on a campaign (or on a member's event) also clears it in the
  detector's stream state, in the same transaction: a mark in the one log
  (``service.stream_log``), so every replica and every replay clears at that point and
  the members' next events carry no campaign membership. (An undo does not link them
  again: a new burst of the wave would.)
* ``sweep`` is the system's own action (no role): lapses, resets and expiries that are
  due, and adopting what other replicas decided.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from detector.breaker import Breaker, BreakerError, BreakerState
from detector.breaker_scope import CohortError, parse_cohort, scope_key
from detector.vocab import Scope, values
from service import auth, ingest, queue, stream_log
from service import breaker as stored
from service.models import Event, Verdict
from service.tokens import Principal
from service.vocab import Verdict as VerdictName

if TYPE_CHECKING:
    from service.runtime import Runtime

T = TypeVar("T")


class ActionError(Exception):
    """An action refused; ``status`` is the HTTP status both front doors answer with."""

    status = 400


class Forbidden(ActionError):
    status = 403


class NotFound(ActionError):
    status = 404


class Conflict(ActionError):
    status = 409


class Invalid(ActionError):
    status = 422


def _role(who: Principal, roles: tuple[str, ...]) -> None:
    if who.role not in roles:
        raise Forbidden(f"role {who.role!r} may not do this (needs {' or '.join(roles)})")


def _text(rt: Runtime, value: Any, what: str, required: bool = True) -> str:
    """A reason or note: text, no NUL characters, not blank when required, at most
    ``max_reason_chars`` characters once trimmed."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{what} must be text")
    if "\x00" in value:
        raise Invalid(f"{what} must not contain NUL characters")
    value = value.strip()
    if required and not value:
        raise Invalid(f"{what} is required")
    limit = rt.settings.service.max_reason_chars
    if len(value) > limit:
        raise Invalid(f"{what} must be at most {limit} characters (it has {len(value)})")
    return value


def _scope(scope: str, cohort: Any = None) -> str:
    """The breaker scope acted on: an event type, or one cohort of it."""
    if scope not in values(Scope):
        raise NotFound(f"unknown scope {scope!r} "
                       f"(expected one of {', '.join(values(Scope))})")
    if cohort is None or cohort == "":
        return scope
    if not isinstance(cohort, str):
        raise Invalid("cohort must be text (kind:value)")
    try:
        return scope_key(scope, parse_cohort(cohort))
    except CohortError as exc:
        raise Invalid(f"cohort: {exc}") from None


def _minutes(rt: Runtime, minutes: float | None) -> float:
    try:
        return rt.scorer.breaker.pause_minutes(minutes)
    except BreakerError as exc:
        raise Invalid(str(exc)) from None


Decide = Callable[[Breaker, BreakerState, float], dict[str, Any]]


def _change(rt: Runtime, scope: str, decide: Decide) -> dict[str, dict[str, Any]]:
    """Decide one transition on the live breaker state (after taking what is stored,
    rows locked), store it with its audit row, commit; on any failure the live state of
    the scope is put back as it was. Returns the registration status after it."""
    scorer = rt.scorer
    with scorer.locked(), rt.sessions() as session:
        scorer.adopt(stored.controls(session, lock=True))
        live = scorer.breaker_state
        backup = copy.deepcopy(live.scopes.get(scope))

        def put_back() -> None:
            if backup is not None:
                live.scopes[scope] = backup
            else:  # a cohort scope this action made
                live.scopes.pop(scope, None)

        try:
            transition = decide(scorer.breaker, live, time.time())
            stored.persist(session, transition)
            session.commit()
        except BreakerError as exc:
            put_back()
            raise Conflict(str(exc)) from None
        except BaseException:
            put_back()
            raise
        status = stored.status(session)
        if scope not in status:  # a cohort: its own line besides the three types
            row = next((p for p in stored.cohort_pauses(session) if p["scope"] == scope),
                       None)
            status[scope] = ({key: v for key, v in row.items()
                              if key not in ("scope", "type", "cohort")}
                             if row is not None else
                             {"state": "open", "message": f"{scope} is open."})
    rt.status.invalidate()
    rt.metrics.breaker_changes.labels(transition["action"]).inc()
    return status


def pause(rt: Runtime, who: Principal, scope: str, reason: Any,
          minutes: float | None = None, cohort: Any = None) -> dict[str, dict[str, Any]]:
    """Pause a scope (or one ``cohort`` of it) with a reason until now + ``minutes``
    (default and maximum from ``[breaker]``), or give a running pause that reason and
    expiry."""
    _role(who, auth.BREAKER_WRITE)
    scope = _scope(scope, cohort)
    reason, minutes = _text(rt, reason, "reason"), _minutes(rt, minutes)
    return _change(rt, scope, lambda b, state, now: b.pause(state, scope, reason, now,
                                                             minutes, who.actor))


def resume(rt: Runtime, who: Principal, scope: str, reason: Any, cohort: Any = None
           ) -> dict[str, dict[str, Any]]:
    """Reopen a scope (or one ``cohort`` of it); detection re-arms at once."""
    _role(who, auth.BREAKER_WRITE)
    scope, reason = _scope(scope, cohort), _text(rt, reason, "reason")
    return _change(rt, scope, lambda b, state, now: b.resume(state, scope, reason, now,
                                                              who.actor))


def confirm(rt: Runtime, who: Principal, scope: str, reason: Any,
            minutes: float | None = None, cohort: Any = None) -> dict[str, dict[str, Any]]:
    """Keep a running pause (of a scope, or one ``cohort`` of it) until now +
    ``minutes``: it no longer lapses."""
    _role(who, auth.BREAKER_WRITE)
    scope = _scope(scope, cohort)
    reason, minutes = _text(rt, reason, "reason"), _minutes(rt, minutes)
    return _change(rt, scope, lambda b, state, now: b.confirm(state, scope, reason, now,
                                                               minutes, who.actor))


def _verdict_args(rt: Runtime, who: Principal, verdict: Any, note: Any) -> tuple[str, str]:
    _role(who, auth.VERDICT_WRITE)
    if verdict not in values(VerdictName):
        raise Invalid(f"unknown verdict {verdict!r} "
                      f"(expected one of {', '.join(values(VerdictName))})")
    return verdict, _text(rt, note, "note", required=False)


def _in_queue(rt: Runtime, work: Callable[[Session], T]) -> T:
    with rt.sessions() as session:
        try:
            return work(session)
        except queue.NotFound as exc:
            raise NotFound(str(exc)) from None


@contextmanager
def _stream_turn(rt: Runtime, session: Session, actor: str
                 ) -> Iterator[Callable[[str | None, list[str]], None]]:
    """For a benign verdict: the session's transaction takes the stream lock first (before
    any read: SQLite cannot upgrade a stale read to a write), replays what other replicas
    stored (``service.stream_log``), and yields ``clear(campaign, accounts)``, which
    clears them in the stream state and stores the mark at its log position. The caller
    records the verdict and commits inside the block: one transaction. A failure leaves
    the state stale, rebuilt from the log before it is used again."""
    scorer = rt.scorer
    scorer.ensure_fresh()
    with scorer.transaction():
        connection = session.connection()
        stream_log.take_turn(connection)
        ingest.catch_up_locked(connection, scorer, rt.settings)

        def clear(campaign: str | None, accounts: list[str]) -> None:
            seq, _ = scorer.clear(campaign, accounts)
            stream_log.append_mark(connection, seq, "clear", campaign, accounts, actor)

        yield clear


def verdict(rt: Runtime, who: Principal, event_id: str, verdict: Any, note: Any = ""
            ) -> Verdict:
    """Record a verdict on one stored event (benign on a campaign's event: its account
    leaves the campaign in the stream state too)."""
    verdict, note = _verdict_args(rt, who, verdict, note)

    def work(session: Session) -> Verdict:
        def record() -> Verdict:
            return queue.record_verdict(session, event_id, verdict, note, who.actor)

        if verdict != VerdictName.BENIGN:
            return record()
        with _stream_turn(rt, session, who.actor) as clear:
            row = session.get(Event, event_id)
            if row is not None and row.campaign is not None:
                clear(None, [row.username])
            return record()

    record = _in_queue(rt, work)
    rt.metrics.verdicts.labels(verdict).inc()
    return record


def _ids(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple, set)) or not all(isinstance(v, str) for v in value):
        raise Invalid(f"{what} must be a list of event ids")
    return list(value)


def wave_verdict(rt: Runtime, who: Principal, campaign: str, verdict: Any, note: Any = "",
                 members: Any = None, exclude: Any = (), dry_run: bool = False
                 ) -> queue.WavePlan:
    """One verdict on the chosen members of a campaign (default: all of them) minus
    ``exclude``, as one undoable batch. A member's own malicious or benign verdict is
    never overwritten (it is reported as kept); ``dry_run`` returns the plan only, for
    the confirmation. Ids that are not members of the campaign are refused."""
    verdict, note = _verdict_args(rt, who, verdict, note)
    members, exclude = _ids(members, "members"), _ids(exclude, "exclude") or []

    def work(session: Session) -> queue.WavePlan:
        if verdict != VerdictName.BENIGN or dry_run:
            return plan_and_record(session, None)
        with _stream_turn(rt, session, who.actor) as clear:
            return plan_and_record(session, clear)

    def plan_and_record(session: Session,
                        clear: Callable[[str | None, list[str]], None] | None
                        ) -> queue.WavePlan:
        plan = queue.campaign_verdict(session, campaign, verdict, note, who.actor,
                                      members, exclude, dry_run=True)
        if plan.unknown:
            raise Invalid(f"not members of campaign {campaign!r}: "
                          f"{', '.join(plan.unknown[:5])}")
        if dry_run:
            return plan
        if not plan.apply:
            raise Invalid("no member left to record the verdict on "
                          f"({plan.counts()['kept']} keep their own verdict, "
                          f"{plan.counts()['excluded']} excluded)")
        if clear is not None:
            # The accounts the verdict covers leave the campaign; the whole campaign
            # (its traits stop linking newcomers) when no member is left out or judged
            # malicious.
            usernames = dict(session.execute(select(Event.id, Event.username)
                                             .where(Event.campaign == campaign)).all())
            whole = not plan.excluded and VerdictName.MALICIOUS not in plan.kept.values()
            clear(campaign if whole else None,
                  sorted({usernames[i] for i in plan.apply if i in usernames}))
        return queue.campaign_verdict(session, campaign, verdict, note, who.actor,
                                      members, exclude)

    plan = _in_queue(rt, work)
    if not dry_run:
        rt.metrics.verdicts.labels(verdict).inc(len(plan.apply))
    return plan


def undo(rt: Runtime, who: Principal, batch: str, note: Any = "") -> queue.Undone:
    """Take back one verdict batch (a single verdict or a wave verdict): each event gets
    its previous verdict again, recorded in the trail as an undo batch."""
    _role(who, auth.VERDICT_WRITE)
    note = _text(rt, note, "note", required=False)

    def work(session: Session) -> queue.Undone:
        try:
            return queue.undo_batch(session, batch, note, who.actor)
        except queue.AlreadyDone as exc:
            raise Conflict(str(exc)) from None

    done = _in_queue(rt, work)
    rt.metrics.verdicts.labels("undo").inc(done.restored)
    return done


def sweep(rt: Runtime) -> dict[str, dict[str, Any]]:
    """The system's action, every second: adopt what other replicas stored, then store
    the lapses, resets and expiries due now. Returns the registration status."""
    scorer = rt.scorer
    with scorer.locked(), rt.sessions() as session:
        adopted = scorer.adopt(stored.controls(session))
        transitions = scorer.breaker.tick(scorer.breaker_state, time.time())
        done = [t for t in transitions if stored.persist(session, t)]
        session.commit()
        if len(done) < len(transitions):  # another replica got there first: take its state
            adopted += scorer.adopt(stored.controls(session))
        status = stored.status(session)
    if adopted or done:
        rt.status.invalidate()
    for transition in done:
        rt.metrics.breaker_changes.labels(transition["action"]).inc()
    return status

"""The `/v1` JSON API (CONTRACT §4)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from detector.vocab import Scope
from service import actions, auth, breaker, ingest, queue, sessions, triage
from service import registration_status as per_registration
from service.config import Settings
from service.db import now
from service.models import Token
from service.queue_status import QueueStatus
from service.runtime import Runtime
from service.schemas import (
    AuditEntry,
    CampaignOut,
    CampaignVerdictOut,
    CohortPause,
    Decision,
    DecisionOut,
    ErrorOut,
    EventIn,
    EventOut,
    NewTokenOut,
    PauseIn,
    QueueGroup,
    QueueItem,
    ResumeIn,
    ScopeStatus,
    TokenIn,
    TokenOut,
    UndoIn,
    UndoOut,
    VerdictIn,
    VerdictName,
    VerdictOut,
    WaveVerdictIn,
    has_nul,
)
from service.scoring import ScoringError
from service.tokens import Principal, issue_token
from service.vocab import Role
from service.writer import Overloaded

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}
router = APIRouter(prefix="/v1", responses=ERRORS)
ScopePath = Annotated[Scope, Path(description="account.created, project.created or "
                                              "release.uploaded")]
# Moderators' actions authenticate here and are authorised by `service.actions`, the one
# place that checks their roles (for the pages too).
Caller = Annotated[Principal, Depends(auth.require(*Role))]


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


EVENTS_BODY = TypeAdapter(EventIn | list[EventIn]).json_schema(
    ref_template="#/components/schemas/{model}")
EVENT_SCHEMAS = EVENTS_BODY.pop("$defs")


def parse_events(body: bytes, settings: Settings
                 ) -> tuple[list[EventIn], list[dict[str, Any]], bool]:
    """Decode and validate the events body; every problem is one HTTPException with a message.
    (The detector checks each event's time against the server clock when it is scored:
    `Scorer.validate`.)"""
    limit = settings.service.max_batch_events
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(400, f"malformed JSON body: {exc}") from None
    single = isinstance(raw, dict)
    raws = [raw] if single else raw
    if not isinstance(raws, list):
        raise HTTPException(422, "the body must be one event object or a list of events")
    if not raws:
        raise HTTPException(422, "the batch is empty")
    if len(raws) > limit:
        raise HTTPException(413, f"batch of {len(raws)} events exceeds the limit of {limit}")
    events = []
    for index, item in enumerate(raws):
        where = "event" if single else f"event[{index}]"
        if not isinstance(item, dict):
            raise HTTPException(422, f"{where}: must be a JSON object")
        if has_nul(item):
            raise HTTPException(422, f"{where}: text must not contain NUL characters")
        if isinstance(item.get("id"), str):
            where += f" {item['id'][:80]!r}"
        try:
            event = EventIn.model_validate(item)
        except ValidationError as exc:
            raise HTTPException(422, f"{where}: " + validation_text(exc.errors())) from None
        events.append(event)
    return events, raws, single


def validation_text(errors: Sequence[Any]) -> str:
    shown = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "body"
        what = "unknown field" if error.get("type") == "extra_forbidden" else error.get("msg")
        shown.append(f"{where}: {what}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(shown) + more


async def events_answer(rt: Runtime, body: bytes, who: Principal) -> bytes:
    """POST /v1/events after auth: the JSON answer, or an HTTPException (both routes to it,
    this one and `service.hot`, call this)."""
    events, raws, single = parse_events(body, rt.settings)
    # the events' code scans, in the scan processes (service.prescan), never in the
    # writer; each token's scans queue in a line of their own, served in turns
    scans = await rt.prescan.scan(raws, f"token:{who.token_id}")
    if scans.deferred:
        rt.metrics.scans_deferred.inc(len(scans.deferred))
    try:
        future = rt.writer.submit(  # may raise Overloaded
            ingest.Request(events, raws, scans.code, scans.deferred))
        result = await asyncio.wrap_future(future)
    except Overloaded as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": str(exc.retry_after)}
                            ) from None
    except ingest.ReplayConflict as exc:
        raise HTTPException(409, str(exc)) from None
    except ScoringError as exc:
        raise HTTPException(422, f"event refused: {exc}") from None
    except ingest.DetectorFailure as exc:
        raise HTTPException(500, str(exc)) from None
    except SQLAlchemyError as exc:
        raise HTTPException(503, "the database failed; nothing of this request was stored "
                                 f"and it can be sent again ({type(exc).__name__})") from None
    for row in result.new:
        rt.metrics.events.labels(row["type"], row["decision"]).inc()
    rt.metrics.replays.inc(len(events) - len(result.new))
    for action in result.breaker_changes:
        rt.metrics.breaker_changes.labels(action).inc()
    if result.breaker_changes:
        rt.status.invalidate()
    if any(row["pending"] for row in result.new):
        rt.wake_scanner()
    # The answers are plain JSON already (DecisionOut documents them): sent without a
    # second validation pass, which is a measurable share of a request's time.
    answer = result.answers[0] if single else result.answers
    return json.dumps(answer, separators=(",", ":")).encode()


@router.post("/events", response_model=DecisionOut | list[DecisionOut],
             summary="Score one event or a batch; answered once stored",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": EVENTS_BODY}}}})
async def post_events(
    request: Request,
    who: Annotated[Principal, Depends(auth.require(*auth.EVENTS_WRITE))],
) -> Any:
    body = await events_answer(runtime(request), await request.body(), who)
    return Response(body, media_type="application/json")


@router.get("/events/{event_id}", response_model=EventOut, summary="A stored event's decision")
def get_event(request: Request, event_id: str,
              who: Annotated[Principal, Depends(auth.require(*auth.EVENTS_READ))]) -> Any:
    rt = runtime(request)
    with rt.sessions() as session:
        try:
            return ingest.to_out(queue.get_event(session, event_id))
        except queue.NotFound as exc:
            raise HTTPException(404, str(exc)) from None


@router.get("/registration-status", response_model=dict[Scope, ScopeStatus],
            response_model_exclude_none=True,
            summary="Whether each kind of registration is open, and why not; with "
                    "email, ip or project: for that one registration, per cohort")
async def registration_status(
    request: Request, who: Annotated[Principal, Depends(auth.require(*auth.STATUS_READ))],
    email: Annotated[str | None, Query(max_length=320, description=(
        "the sign-up's e-mail address: its domain, registrable domain and provider"))] = None,
    ip: Annotated[str | None, Query(max_length=64, description="the client's IP address")
                  ] = None,
    project: Annotated[str | None, Query(max_length=200, description=(
        "the project name: its name templates and typosquat target"))] = None,
    username: Annotated[str | None, Query(max_length=200, description=(
        "the account's username (an account cohort)"))] = None,
) -> Any:
    body = await status_answer(runtime(request), request.scope.get("query_string", b""))
    return Response(body, media_type="application/json")


async def status_answer(rt: Runtime, query: bytes = b"") -> bytes:
    """GET /v1/registration-status after auth (called by this route and `service.hot`):
    the cached type-level answer, or with email/ip/project the answer for that
    registration (`service.registration_status`)."""
    cache = rt.status
    if query:
        try:
            params = per_registration.parse_query(query)
        except per_registration.BadQuery as exc:
            raise HTTPException(422, str(exc)) from None
        if params:
            return await run_in_threadpool(per_registration.answer, rt, query)
    return cache.get_json() if cache.fresh() else await run_in_threadpool(cache.get_json)


def _act(action: Any, *args: Any) -> Any:
    """Run a `service.actions` function; its refusal becomes the same status as on the pages."""
    try:
        return action(*args)
    except actions.ActionError as exc:
        raise HTTPException(exc.status, str(exc)) from None


_ACTED = ("the status of the three event types, and with a cohort, of the cohort scope "
          "acted on under its own key")


@router.post("/breaker/{scope}/pause", response_model=dict[str, ScopeStatus],
             response_model_exclude_none=True, response_description=_ACTED,
             summary="Pause one kind of registration (or one cohort of it) with a reason "
                     "and an expiry")
def pause(request: Request, scope: ScopePath, body: PauseIn, who: Caller) -> Any:
    return _act(actions.pause, runtime(request), who, scope, body.reason,
                body.expires_in_minutes, body.cohort)


@router.post("/breaker/{scope}/resume", response_model=dict[str, ScopeStatus],
             response_model_exclude_none=True, response_description=_ACTED,
             summary="Reopen one kind of registration (or one cohort of it)")
def resume(request: Request, scope: ScopePath, body: ResumeIn, who: Caller) -> Any:
    return _act(actions.resume, runtime(request), who, scope, body.reason, body.cohort)


@router.post("/breaker/{scope}/confirm", response_model=dict[str, ScopeStatus],
             response_model_exclude_none=True, response_description=_ACTED,
             summary="Confirm an automatic trip so it does not lapse after the short default")
def confirm(request: Request, scope: ScopePath, body: PauseIn, who: Caller) -> Any:
    return _act(actions.confirm, runtime(request), who, scope, body.reason,
                body.expires_in_minutes, body.cohort)


@router.get("/breaker/cohorts", response_model=list[CohortPause],
            response_model_exclude_none=True,
            summary="The cohorts of an event type paused now, oldest first")
def breaker_cohorts(request: Request,
                    who: Annotated[Principal, Depends(auth.require(*auth.BREAKER_READ))]
                    ) -> Any:
    with runtime(request).sessions() as session:
        return breaker.cohort_pauses(session)


@router.get("/breaker/audit", response_model=list[AuditEntry],
            summary="Every breaker change, newest first")
def breaker_audit(request: Request,
                  who: Annotated[Principal, Depends(auth.require(*auth.BREAKER_READ))],
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Any:
    with runtime(request).sessions() as session:
        return [
            {"at": r.at, "scope": r.scope, "action": r.action, "actor": r.actor,
             "reason": r.reason, "expires_at": r.expires_at, "previous_state": r.previous_state}
            for r in breaker.audit_log(session, limit)
        ]


def _queue_filter(
    decision: Decision | None = None,
    signal: Annotated[str | None, Query(max_length=200)] = None,
    campaign: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    type: Scope | None = None,
    status: QueueStatus = QueueStatus.OPEN,
    verdict: VerdictName | Literal["none"] | None = None,
    sort: Literal["score", "time"] = "score",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> queue.QueueFilter:
    return queue.QueueFilter(decision, signal, campaign, since, until, min_score, type, status,
                             limit, offset, verdict, sort)


def _paged(request: Request, response: Response, total: int, f: queue.QueueFilter) -> None:
    """`X-Total-Count` and an RFC 8288 `Link` header (next, prev) for a page."""
    response.headers["X-Total-Count"] = str(total)
    links = []
    if f.offset + f.limit < total:
        links.append((f.offset + f.limit, "next"))
    if f.offset > 0:
        links.append((max(0, f.offset - f.limit), "prev"))
    if links:
        response.headers["Link"] = ", ".join(
            f'<{request.url.include_query_params(offset=o, limit=f.limit)}>; rel="{rel}"'
            for o, rel in links)


QueueQuery = Annotated[queue.QueueFilter, Depends(_queue_filter)]


@router.get("/queue", response_model=list[QueueItem],
            summary="Items awaiting a verdict, highest score first (`sort=time`: newest); "
                    "`X-Total-Count` and `Link` headers page through them")
def get_queue(request: Request, response: Response,
              who: Annotated[Principal, Depends(auth.require(*auth.QUEUE_READ))],
              f: QueueQuery) -> Any:
    with runtime(request).sessions() as session:
        _paged(request, response, queue.count_queue(session, f), f)
        return [queue.item(row) for row in queue.list_queue(session, f)]


@router.get("/queue/groups", response_model=list[QueueGroup],
            summary="The queue with each campaign folded into one row; lone items as rows")
def get_queue_groups(request: Request, response: Response,
                     who: Annotated[Principal, Depends(auth.require(*auth.QUEUE_READ))],
                     f: QueueQuery) -> Any:
    with runtime(request).sessions() as session:
        total, groups = triage.grouped(session, f)
    _paged(request, response, total, f)
    return [g.to_dict() for g in groups]


@router.post("/queue/{event_id}/verdict", response_model=VerdictOut,
             summary="Record a verdict on one item")
def post_verdict(request: Request, event_id: str, body: VerdictIn, who: Caller) -> Any:
    record = _act(actions.verdict, runtime(request), who, event_id, body.verdict, body.note)
    return {"event_id": record.event_id, "verdict": record.verdict, "note": record.note,
            "actor": record.actor, "at": record.at, "campaign": None, "batch": record.batch}


@router.get("/campaigns/{campaign}", response_model=CampaignOut,
            summary="Every event of one campaign")
def get_campaign(request: Request, campaign: str,
                 who: Annotated[Principal, Depends(auth.require(*auth.QUEUE_READ))]) -> Any:
    with runtime(request).sessions() as session:
        try:
            return queue.campaign_summary(session, campaign)
        except queue.NotFound as exc:
            raise HTTPException(404, str(exc)) from None


@router.post("/campaigns/{campaign}/verdict", response_model=CampaignVerdictOut,
             summary="One verdict for the chosen members of a wave (never overwriting a "
                     "member's own malicious or benign verdict); `dry_run` to preview")
def post_campaign_verdict(request: Request, campaign: str, body: WaveVerdictIn,
                          who: Caller) -> Any:
    plan = _act(actions.wave_verdict, runtime(request), who, campaign, body.verdict,
                body.note, body.members, body.exclude, body.dry_run)
    return {"campaign": campaign, "verdict": body.verdict, "events": len(plan.apply),
            "batch": plan.batch, "recorded": [] if body.dry_run else plan.apply,
            "kept": plan.kept, "excluded": plan.excluded, "replaced": plan.replaced}


@router.post("/verdicts/{batch}/undo", response_model=UndoOut,
             summary="Undo one verdict batch: each event gets its previous verdict back")
def post_undo(request: Request, batch: Annotated[str, Path(max_length=40)], body: UndoIn,
              who: Caller) -> Any:
    done = _act(actions.undo, runtime(request), who, batch, body.note)
    return done.__dict__


class _Page:
    """`since`, `until`, `limit`, `offset` of the analysts' listings."""

    def __init__(self, since: datetime | None = None, until: datetime | None = None,
                 limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                 offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0) -> None:
        self.since, self.until, self.limit, self.offset = since, until, limit, offset


PageQuery = Annotated[_Page, Depends(_Page)]
Analyst = Annotated[Principal, Depends(auth.require(*auth.QUEUE_READ))]


def _listing(request: Request, response: Response, page: _Page, total: int,
             rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    _paged(request, response, total, queue.QueueFilter(limit=page.limit, offset=page.offset))
    return rows


@router.get("/decisions", summary="Every stored decision, oldest first (for analysts; "
                                  "`warden export decisions`); paged like the queue")
def list_decisions(request: Request, response: Response, who: Analyst, page: PageQuery
                   ) -> list[dict[str, Any]]:
    with runtime(request).sessions() as session:
        total, rows = queue.decisions_page(session, page.since, page.until, page.limit,
                                           page.offset)
    return _listing(request, response, page, total, rows)


@router.get("/verdicts", summary="The verdict trail, undos included, oldest first "
                                 "(`warden export verdicts`); paged like the queue")
def list_verdicts(request: Request, response: Response, who: Analyst, page: PageQuery
                  ) -> list[dict[str, Any]]:
    with runtime(request).sessions() as session:
        total, rows = queue.verdicts_page(session, page.since, page.limit, page.offset)
    return _listing(request, response, page, total, rows)


@router.get("/campaigns", summary="One row per campaign with its decision and verdict "
                                  "counts (`warden export campaigns`); paged like the queue")
def list_campaigns(request: Request, response: Response, who: Analyst, page: PageQuery
                   ) -> list[dict[str, Any]]:
    with runtime(request).sessions() as session:
        total, rows = queue.campaigns_page(session, page.since, page.limit, page.offset)
    return _listing(request, response, page, total, rows)


@router.get("/verdicts/export", summary="Labelled events as JSON Lines, for retraining",
            response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {}}}})
def export_verdicts(request: Request,
                    who: Annotated[Principal, Depends(auth.require(*auth.QUEUE_READ))],
                    since: datetime | None = None) -> Response:
    with runtime(request).sessions() as session:
        rows = queue.export_labelled(session, since)
    text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    return Response(text, media_type="application/x-ndjson")


def _token_out(row: Token) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "role": row.role, "created_at": row.created_at,
            "created_by": row.created_by, "revoked": row.revoked_at is not None}


@router.post("/tokens", response_model=NewTokenOut, summary="Create a token (shown once)")
def post_token(request: Request, body: TokenIn,
               who: Annotated[Principal, Depends(auth.require(*auth.TOKENS_ADMIN))]) -> Any:
    with runtime(request).sessions() as session:
        token, row = issue_token(session, body.role, body.name, who.actor)
        return {**_token_out(row), "token": token}


@router.get("/tokens", response_model=list[TokenOut], summary="Every token (never the secret)")
def list_tokens(request: Request,
                who: Annotated[Principal, Depends(auth.require(*auth.TOKENS_ADMIN))]) -> Any:
    with runtime(request).sessions() as session:
        return [_token_out(r) for r in session.scalars(select(Token).order_by(Token.id))]


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke a token")
def revoke_token(request: Request, token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                 who: Annotated[Principal, Depends(auth.require(*auth.TOKENS_ADMIN))]) -> Any:
    rt = runtime(request)
    with rt.sessions() as session:
        row = session.get(Token, token_id)
        if row is None:
            raise HTTPException(404, f"no token with id {token_id}")
        if row.revoked_at is None:
            row.revoked_at = now()
            sessions.revoke_for_token(session, row.id)
            session.commit()
        rt.tokens.forget()
        return _token_out(row)


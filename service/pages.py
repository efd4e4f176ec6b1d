"""Moderator pages: server-rendered Jinja2, a server-side session, forms that post (with a
CSRF token) and redirect."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from detector.vocab import CohortKind, Decision, Scope, values
from service import actions, auth, breaker, csrf, ingest, queue, sessions, triage
from service.db import utc
from service.evidence import annotate_files, collect_findings
from service.queue_status import QueueStatus
from service.security import local_path
from service.signal_labels import SIGNAL_LABELS
from service.tokens import Principal
from service.vocab import Verdict

HERE = Path(__file__).resolve().parent
STATIC = str(HERE / "static")
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["csrf_field"] = csrf.csrf_field
# Who may open a page is settled by the front door (service.security) before routing;
# every state-changing page request is checked for its CSRF token here.
router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(csrf.protect)])
DECISIONS = (Decision.REVIEW, Decision.BLOCK, Decision.ALLOW)
QUEUE_COOKIE = "warden_queue"  # the last queue filter, for the header's Queue link


def when(value: datetime | str | None) -> Markup:
    """One time format everywhere: relative, with the absolute UTC time on hover."""
    if not value:
        return Markup("")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return Markup("{}").format(value)
    value = utc(value).astimezone(UTC)  # type: ignore[union-attr]
    absolute = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    seconds = (datetime.now(UTC) - value).total_seconds()
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        text = "just now"
    else:
        text = ("in " + triage.age_text(seconds)) if ahead else triage.age_text(seconds) + " ago"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value.isoformat(), absolute, text)


def pretty_json(value: Any) -> str:
    """JSON for reading (no \\u0027 escapes; the template autoescapes it)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


templates.env.filters["when"] = when
templates.env.filters["pretty_json"] = pretty_json


class LoginRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(401, "log in first")


async def _session(request: Request) -> Principal:
    """The session's principal, which the front door put in the scope."""
    principal = request.scope.get(auth.PRINCIPAL)
    if principal is None:
        raise LoginRequired
    return principal


def viewer(*roles: str) -> Any:
    async def check(principal: Annotated[Principal, Depends(_session)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(403, f"role {principal.role!r} may not do this "
                                     f"(needs {' or '.join(roles)})")
        return principal

    return check


Reader = Annotated[Principal, Depends(viewer(*auth.PAGES_READ))]


def error_page(request: Request, status: int, message: str) -> Response:
    if status == 401:
        return RedirectResponse(f"/ui/login?next={quote(request.url.path)}", 303)
    if status == 403 and request.scope.get(csrf.SESSION_SCOPE_KEY) is None \
            and request.url.path == "/ui/login":
        return _login_page(request, "/ui/queue", message, 403)
    return templates.TemplateResponse(request, "error.html", {"message": message, "who": None},
                                      status_code=status)


def _render(request: Request, name: str, who: Principal, **context: Any) -> HTMLResponse:
    status = request.app.state.runtime.status.get()
    paused = {s: v for s, v in status.items() if v["state"] == "paused"}
    last_queue = request.cookies.get(QUEUE_COOKIE, "")
    return templates.TemplateResponse(request, name, {
        "who": who, "paused": paused, "scopes": values(Scope), "verdicts": values(Verdict),
        "can_act": who.role in auth.VERDICT_WRITE,
        "queue_link": _queue_url(_queue_query(dict(parse_qsl(last_queue)))), **context})


def _act(action: Any, *args: Any) -> Any:
    """Run a `service.actions` function (the role check, validation, audit row and metric
    are all there, as for the API); its refusal becomes the same status."""
    try:
        return action(*args)
    except actions.ActionError as exc:
        raise HTTPException(exc.status, str(exc)) from None


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, 303)


@router.get("", include_in_schema=False)
async def home() -> RedirectResponse:
    return _back("/ui/queue")


def _login_page(request: Request, next: str, error: str = "", status: int = 200
                ) -> Response:
    token = csrf.new_login_token()
    response = templates.TemplateResponse(request, "login.html", {
        "who": None, "next": local_path(next, "/ui/queue"), "error": error,
        csrf.FIELD: token}, status_code=status)
    response.set_cookie(csrf.LOGIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/ui/login")
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/ui/queue", error: str = "") -> Response:
    return _login_page(request, next, error)


@router.post("/login")
async def login(request: Request, token: Annotated[str, Form()],
                next: Annotated[str, Form()] = "/ui/queue") -> Response:
    """A new server-side session for a valid token (a new id at every log-in); the
    cookie carries only that id."""
    principal = await auth.principal_for(request, token.strip())
    if principal is None or principal.role not in auth.PAGES_READ:
        why = "unknown token" if principal is None else \
            f"role {principal.role!r} cannot use the moderator pages"
        return _login_page(request, next, why, 401)
    rt = request.app.state.runtime
    life = sessions.Lifetimes.of(rt.settings)
    sid = await run_in_threadpool(sessions.open_session, rt.sessions, principal, life)
    response = _back(local_path(next, "/ui/queue"))
    response.set_cookie(sessions.COOKIE, sid, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/ui")
    response.delete_cookie(csrf.LOGIN_COOKIE, path="/ui/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    info = request.scope.get(csrf.SESSION_SCOPE_KEY)
    if info is not None:
        await run_in_threadpool(sessions.revoke, request.app.state.runtime.sessions,
                                info.id_hash)
    response = _back("/ui/login")
    response.delete_cookie(sessions.COOKIE, path="/ui")
    return response


def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"not an ISO 8601 time: {value!r}") from None


def _choice(value: str, allowed: Iterable[str], what: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise HTTPException(400, f"unknown {what} {value!r} (expected one of "
                                 f"{', '.join(allowed)})")
    return value


FILTER_KEYS = ("decision", "type", "signal", "status", "verdict", "campaign", "min_score",
               "since", "until", "sort", "group", "per")


def _queue_query(params: Mapping[str, str]) -> str:
    """The filter part of a queue URL (what survives navigation: the Queue link, the
    item pages and the redirects after a verdict carry it)."""
    return urlencode([(k, params[k]) for k in FILTER_KEYS if params.get(k)])


def _filter_from(params: Mapping[str, str]) -> tuple[queue.QueueFilter, dict[str, Any]]:
    """A queue filter from a page's query parameters, every value checked."""
    g = params.get
    min_score = None
    if g("min_score"):
        try:
            min_score = float(g("min_score", ""))
        except ValueError:
            raise HTTPException(400, f"min_score must be a number: {g('min_score')!r}") from None
    try:
        per = min(200, max(5, int(g("per") or 50)))
        page = max(1, int(g("page") or 1))
    except ValueError:
        raise HTTPException(400, "page and per must be whole numbers") from None
    f = queue.QueueFilter(
        decision=_choice(g("decision", ""), DECISIONS, "decision"),
        signal=_choice(g("signal", ""), SIGNAL_LABELS, "signal"),
        campaign=g("campaign") or None,
        since=_parse_time(g("since", "")), until=_parse_time(g("until", "")),
        min_score=min_score, type=_choice(g("type", ""), values(Scope), "type"),
        status=_choice(g("status", ""), [s.value for s in QueueStatus], "status")
        or QueueStatus.OPEN,
        limit=per, offset=(page - 1) * per,
        verdict=_choice(g("verdict", ""), (*values(Verdict), "none"), "verdict"),
        sort=_choice(g("sort", ""), ("score", "time"), "sort") or "score")
    view = {"group": _choice(g("group", ""), ("campaign", "none"), "grouping") or "campaign",
            "page": page, "per": per}
    return f, view


def _queue_url(query: str, **extra: Any) -> str:
    more = urlencode({k: v for k, v in extra.items() if v not in (None, "")})
    joined = "&".join(part for part in (query, more) if part)
    return "/ui/queue" + (f"?{joined}" if joined else "")


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, who: Reader) -> Response:
    params = dict(request.query_params)
    f, view = _filter_from(params)
    query = _queue_query(params)
    with request.app.state.runtime.sessions() as session:
        if view["group"] == "campaign" and not f.campaign:
            total, groups = triage.grouped(session, f)
        else:
            total = queue.count_queue(session, f)
            rows = triage.decorate(session, queue.list_queue(session, f))
            groups = [triage.Group("item", None, 1, r["ts"], r["ts"], r["score"], item=r)
                      for r in rows]
    pages = max(1, -(-total // f.limit))
    try:
        selected = max(0, int(params.get("sel") or 0))
    except ValueError:
        selected = 0
    response = _render(
        request, "queue.html", who, groups=groups, f=f, view=view, total=total,
        pages=pages, query=query, params=params, selected=selected,
        signal_labels=SIGNAL_LABELS, statuses=[s.value for s in QueueStatus],
        decisions=DECISIONS, page_url=lambda n: _queue_url(query, page=n if n > 1 else None))
    response.set_cookie(QUEUE_COOKIE, query, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/queue/verdict")
def queue_verdict(request: Request, who: Reader, event_id: Annotated[str, Form()],
                  verdict: Annotated[str, Form()], q: Annotated[str, Form()] = "",
                  page: Annotated[int, Form()] = 1, sel: Annotated[int, Form()] = 0,
                  note: Annotated[str, Form()] = "") -> Response:
    """The queue's one-key verdict: record it and come back to the same filter and row
    (the judged item leaves the open queue, so the next one is selected)."""
    _act(actions.verdict, request.app.state.runtime, who, event_id, verdict, note)
    return _back(_queue_url(_queue_query(dict(parse_qsl(q))), page=page if page > 1 else None,
                            sel=max(0, sel)))


def _item_url(event_id: str, query: str) -> str:
    return f"/ui/items/{quote(event_id, safe='')}" + (f"?q={quote(query)}" if query else "")


@router.get("/items/{event_id}", response_class=HTMLResponse)
def item_page(request: Request, event_id: str, who: Reader, q: str = "",
              done: str = "") -> Response:
    with request.app.state.runtime.sessions() as session:
        try:
            row = queue.get_event(session, event_id)
        except queue.NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        history = queue.verdict_history(session, event_id)
        account = triage.account_view(session, row)
        undone = queue.undone_batches(session, [h.batch for h in history if h.batch])
        batch = queue.batch_summary(session, done) if done else None
    out = ingest.to_out(row)
    findings = collect_findings(out["detail"])
    files = (row.payload.get("project") or {}).get("files") or {}
    return _render(request, "item.html", who, item=out, payload=row.payload,
                   findings=findings, files=annotate_files(files, findings), history=history,
                   account=account, target=triage.imitated(row.detail), q=q,
                   query=_queue_query(dict(parse_qsl(q))), undone=undone, batch=batch,
                   chips=triage.chips_of(row.detail))


@router.post("/items/{event_id}/verdict")
def item_verdict(request: Request, event_id: str, who: Reader,
                 verdict: Annotated[str, Form()], note: Annotated[str, Form()] = "",
                 q: Annotated[str, Form()] = "") -> Response:
    """Record a verdict, then go on to the next item of the same queue filter (or back
    to that queue when none is left)."""
    rt = request.app.state.runtime
    record = _act(actions.verdict, rt, who, event_id, verdict, note)
    params = dict(parse_qsl(q))
    f, _ = _filter_from(params)
    query = _queue_query(params)
    f.limit, f.offset = 2, 0
    with rt.sessions() as session:
        following = [r.id for r in queue.list_queue(session, f) if r.id != event_id]
    if not following:
        return _back(_queue_url(query, done=record.batch))
    return _back(_item_url(following[0], query) + ("&" if query else "?")
                 + f"done={quote(record.batch or '')}")


@router.get("/campaigns/{campaign}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign: str, who: Reader, done: str = "",
                  undone: str = "") -> Response:
    with request.app.state.runtime.sessions() as session:
        try:
            view = triage.campaign_view(session, campaign)
        except queue.NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        batch = queue.batch_summary(session, done) if done else None
        undo = queue.batch_summary(session, undone) if undone else None
    return _render(request, "campaign.html", who, c=view, batch=batch, undo=undo)


@router.post("/campaigns/{campaign}/verdict/confirm", response_class=HTMLResponse)
def campaign_confirm(request: Request, campaign: str, who: Reader,
                     verdict: Annotated[str, Form()], note: Annotated[str, Form()] = "",
                     member: Annotated[list[str] | None, Form()] = None) -> Response:
    """The confirmation step: what the wave verdict will do, with counts, before it does."""
    plan = _act(actions.wave_verdict, request.app.state.runtime, who, campaign, verdict,
                note, member or [], (), True)
    return _render(request, "wave_confirm.html", who, plan=plan, note=note,
                   counts=plan.counts())


@router.post("/campaigns/{campaign}/verdict")
def campaign_verdict(request: Request, campaign: str, who: Reader,
                     verdict: Annotated[str, Form()],
                     note: Annotated[str, Form()] = "",
                     member: Annotated[list[str] | None, Form()] = None) -> Response:
    plan = _act(actions.wave_verdict, request.app.state.runtime, who, campaign, verdict,
                note, member)
    return _back(f"/ui/campaigns/{quote(campaign, safe='')}?done={quote(plan.batch or '')}")


@router.post("/verdicts/{batch}/undo")
def undo_verdicts(request: Request, batch: str, who: Reader,
                  back: Annotated[str, Form()] = "/ui/queue",
                  note: Annotated[str, Form()] = "") -> Response:
    done = _act(actions.undo, request.app.state.runtime, who, batch, note)
    back = back if back.startswith("/ui/") else "/ui/queue"
    return _back(f"{back}{'&' if '?' in back else '?'}undone={quote(done.undo_batch)}")


@router.get("/breaker", response_class=HTMLResponse)
def breaker_page(request: Request, who: Reader) -> Response:
    rt = request.app.state.runtime
    with rt.sessions() as session:
        entries = breaker.audit_log(session, 100)
        state = breaker.status(session)
        cohorts = breaker.cohort_pauses(session)
    return _render(request, "breaker.html", who, entries=entries, state=state,
                   cohorts=cohorts, cohort_kinds=values(CohortKind),
                   default_minutes=rt.scorer.breaker.policy.manual_pause_default_minutes)


async def _change(request: Request, action: Any, *args: Any) -> Response:
    await run_in_threadpool(_act, action, request.app.state.runtime, *args)
    return _back(local_path(request.headers.get("x-return-to"), "/ui/breaker"))


# ``cohort`` (``kind:value``): act on that cohort of the event type only; the "pause a
# cohort" form sends kind and value apart (``cohort_kind``, ``cohort_value``).
Cohort = Annotated[str | None, Form(max_length=400)]


def _cohort(cohort: str | None, kind: str | None, value: str | None) -> str | None:
    if cohort:
        return cohort
    return f"{kind}:{value}" if kind and value else None


@router.post("/breaker/{scope}/pause")
async def pause(request: Request, scope: str, who: Reader, reason: Annotated[str, Form()],
                expires_in_minutes: Annotated[float, Form()], cohort: Cohort = None,
                cohort_kind: Cohort = None, cohort_value: Cohort = None) -> Response:
    return await _change(request, actions.pause, who, scope, reason, expires_in_minutes,
                         _cohort(cohort, cohort_kind, cohort_value))


@router.post("/breaker/{scope}/resume")
async def resume(request: Request, scope: str, who: Reader,
                 reason: Annotated[str, Form()], cohort: Cohort = None) -> Response:
    return await _change(request, actions.resume, who, scope, reason, cohort)


@router.post("/breaker/{scope}/confirm")
async def confirm(request: Request, scope: str, who: Reader, reason: Annotated[str, Form()],
                  expires_in_minutes: Annotated[float, Form()],
                  cohort: Cohort = None) -> Response:
    return await _change(request, actions.confirm, who, scope, reason, expires_in_minutes,
                         cohort)

"""Moderator pages: server-rendered Jinja2, a cookie session, forms that post and redirect."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from detector.vocab import Decision, Scope, values
from service import actions, auth, breaker, ingest, queue
from service.evidence import annotate_files, collect_findings
from service.tokens import Principal
from service.vocab import Verdict

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
router = APIRouter(prefix="/ui", include_in_schema=False)


class LoginRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(401, "log in first")


async def _session(request: Request) -> Principal:
    token = request.cookies.get(auth.COOKIE)
    if not token:
        raise LoginRequired
    principal = await auth.principal_for(request, token)
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
    return templates.TemplateResponse(request, "error.html", {"message": message, "who": None},
                                      status_code=status)


def _render(request: Request, name: str, who: Principal, **context: Any) -> HTMLResponse:
    status = request.app.state.runtime.status.get()
    paused = {s: v for s, v in status.items() if v["state"] == "paused"}
    return templates.TemplateResponse(request, name, {
        "who": who, "paused": paused, "scopes": values(Scope), "verdicts": values(Verdict),
        "can_act": who.role in auth.VERDICT_WRITE, **context})


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


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/ui/queue", error: str = "") -> Response:
    return templates.TemplateResponse(request, "login.html", {
        "who": None, "next": next if next.startswith("/ui") else "/ui/queue", "error": error})


@router.post("/login")
async def login(request: Request, token: Annotated[str, Form()],
                next: Annotated[str, Form()] = "/ui/queue") -> Response:
    principal = await auth.principal_for(request, token.strip())
    if principal is None or principal.role not in auth.PAGES_READ:
        why = "unknown token" if principal is None else \
            f"role {principal.role!r} cannot use the moderator pages"
        return templates.TemplateResponse(request, "login.html", {
            "who": None, "next": "/ui/queue", "error": why}, status_code=401)
    response = _back(next if next.startswith("/ui") else "/ui/queue")
    response.set_cookie(auth.COOKIE, token.strip(), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=12 * 3600)
    return response


@router.post("/logout")
async def logout() -> Response:
    response = _back("/ui/login")
    response.delete_cookie(auth.COOKIE)
    return response


def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"not an ISO 8601 time: {value!r}") from None


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, who: Reader, decision: str = "", signal: str = "",
               campaign: str = "", status: str = "open", since: str = "",
               until: str = "") -> Response:
    if decision not in ("", *values(Decision)) or status not in ("open", "decided", "all"):
        raise HTTPException(400, "unknown decision or status filter")
    f = queue.QueueFilter(decision or None, signal or None, campaign or None,
                          _parse_time(since), _parse_time(until), None, None, status, 200, 0)
    with request.app.state.runtime.sessions() as session:
        rows = [queue.item(r) for r in queue.list_queue(session, f)]
    return _render(request, "queue.html", who, rows=rows, f=f, since=since, until=until)


@router.get("/items/{event_id}", response_class=HTMLResponse)
def item_page(request: Request, event_id: str, who: Reader) -> Response:
    with request.app.state.runtime.sessions() as session:
        try:
            row = queue.get_event(session, event_id)
        except queue.NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        history = queue.verdict_history(session, event_id)
    out = ingest.to_out(row)
    findings = collect_findings(out["detail"])
    files = (row.payload.get("project") or {}).get("files") or {}
    return _render(request, "item.html", who, item=out, payload=row.payload,
                   findings=findings, files=annotate_files(files, findings), history=history)


@router.post("/items/{event_id}/verdict")
def item_verdict(request: Request, event_id: str, who: Reader,
                 verdict: Annotated[str, Form()], note: Annotated[str, Form()] = "") -> Response:
    _act(actions.verdict, request.app.state.runtime, who, event_id, verdict, note)
    return _back(f"/ui/items/{quote(event_id, safe='')}")


@router.get("/campaigns/{campaign}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign: str, who: Reader) -> Response:
    with request.app.state.runtime.sessions() as session:
        try:
            summary = queue.campaign_summary(session, campaign)
        except queue.NotFound as exc:
            raise HTTPException(404, str(exc)) from None
    return _render(request, "campaign.html", who, c=summary)


@router.post("/campaigns/{campaign}/verdict")
def campaign_verdict(request: Request, campaign: str, who: Reader,
                     verdict: Annotated[str, Form()],
                     note: Annotated[str, Form()] = "") -> Response:
    _act(actions.wave_verdict, request.app.state.runtime, who, campaign, verdict, note)
    return _back(f"/ui/campaigns/{quote(campaign, safe='')}")


@router.get("/breaker", response_class=HTMLResponse)
def breaker_page(request: Request, who: Reader) -> Response:
    rt = request.app.state.runtime
    with rt.sessions() as session:
        entries = breaker.audit_log(session, 100)
        state = breaker.status(session)
    return _render(request, "breaker.html", who, entries=entries, state=state,
                   default_minutes=rt.scorer.breaker.policy.manual_pause_default_minutes)


async def _change(request: Request, action: Any, *args: Any) -> Response:
    await run_in_threadpool(_act, action, request.app.state.runtime, *args)
    return _back(request.headers.get("x-return-to") or "/ui/breaker")


@router.post("/breaker/{scope}/pause")
async def pause(request: Request, scope: str, who: Reader, reason: Annotated[str, Form()],
                expires_in_minutes: Annotated[float, Form()]) -> Response:
    return await _change(request, actions.pause, who, scope, reason, expires_in_minutes)


@router.post("/breaker/{scope}/resume")
async def resume(request: Request, scope: str, who: Reader,
                 reason: Annotated[str, Form()]) -> Response:
    return await _change(request, actions.resume, who, scope, reason)


@router.post("/breaker/{scope}/confirm")
async def confirm(request: Request, scope: str, who: Reader, reason: Annotated[str, Form()],
                  expires_in_minutes: Annotated[float, Form()]) -> Response:
    return await _change(request, actions.confirm, who, scope, reason, expires_in_minutes)

"""The FastAPI application: API, pages, health, metrics, the front door and error shapes."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from detector.policy import load_policy
from service import api, auth, pages
from service.config import Settings
from service.hot import HotRoutes
from service.logs import log
from service.runtime import Runtime
from service.security import FrontDoor


class Observe:
    """Counts and times every request; logs errors and the slower, rarer routes."""

    QUIET = ("/v1/events", "/v1/registration-status", "/healthz", "/metrics")

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app, self.rt = app, runtime
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _metrics(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # labels() is slow enough to matter at a few thousand req/s
            metrics = self.rt.metrics
            children = (metrics.requests.labels(method, route, str(status)),
                        metrics.latency.labels(route))
            self._children[key] = children
        return children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            counter, histogram = self._metrics(scope["method"], route, status)
            counter.inc()
            histogram.observe(elapsed)
            if status >= 400 or not route.startswith(self.QUIET):
                log.info("request", extra={"method": scope["method"], "path": scope["path"],
                                           "status": status, "ms": round(elapsed * 1000, 2)})


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "body"


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "malformed JSON body: " + "; ".join(
            str(e.get("ctx", {}).get("error", e.get("msg"))) for e in errors)
    shown = []
    for error in errors[:5]:
        where = _location(tuple(error.get("loc", ())))
        what = "unknown field" if error.get("type") == "extra_forbidden" else error.get("msg")
        shown.append(f"{where}: {what}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return 422, "; ".join(shown) + more


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    rt = Runtime.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt.start()
        try:
            yield
        finally:
            rt.stop()

    app = FastAPI(title="Warden", version="0.1.0", lifespan=lifespan,
                  description="Scores registry events, runs the triage queue and the "
                              "registration breaker.")
    app.state.runtime = rt
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/ui/static", StaticFiles(directory=pages.STATIC), name="static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(api.EVENT_SCHEMAS)
            components["securitySchemes"] = auth.SECURITY_SCHEME
            for path, operations in schema["paths"].items():
                if path.startswith("/v1/"):
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = _validation_message(exc)
        return JSONResponse({"detail": message}, status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/ui"):
            return pages.error_page(request, exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)

    @app.get("/healthz", summary="Liveness", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: database reachable and migrated", tags=["ops"],
             responses={503: {"description": "not ready"}})
    def readyz() -> JSONResponse:
        ok = rt.ready and rt.healthy_database()
        body = {"status": "ready" if ok else "not ready", "rebuilt_events": rt.rebuilt}
        return JSONResponse(body, 200 if ok else 503)

    @app.get("/metrics", summary="Prometheus metrics", tags=["ops"],
             response_class=PlainTextResponse)
    def metrics() -> Response:
        return Response(rt.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    if settings.hot_routes:  # innermost: the front door, metrics and logs still apply
        app.add_middleware(HotRoutes, runtime=rt)
    app.add_middleware(FrontDoor, runtime=rt)
    app.add_middleware(Observe, runtime=rt)
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` and `warden serve --workers N` (settings from env)."""
    policy = load_policy(os.environ.get("WARDEN_POLICY") or None)
    return create_app(Settings.load(os.environ.get("WARDEN_DATABASE_URL"), policy))

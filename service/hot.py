"""The two requests a registry makes on every registration, served without FastAPI's
routing, dependency solving and request/response objects.

`POST /v1/events` and `GET /v1/registration-status` run through the same functions as
their FastAPI routes (`auth.caller`, `api.events_answer`, `api.status_answer`) and
answer the same bytes, status codes and headers; the routes stay for the OpenAPI schema
and for anything this layer does not take (other methods, trailing slashes). Profiling
the server under load showed FastAPI's per-request machinery (route matching over every
route, dependency solving, exception and exit-stack middleware, Request and Response
objects) costing about as much CPU as storing the event. This layer sits inside
`service.security.FrontDoor` and `Observe`, so authentication, body limits, headers,
metrics and logs are the same as for every route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from service import api, auth
from service.runtime import Runtime

Handler = Callable[[Runtime, Scope, Receive], Awaitable[bytes]]


async def _events(rt: Runtime, scope: Scope, receive: Receive) -> bytes:
    who = await auth.caller(scope, rt.tokens, auth.EVENTS_WRITE)
    return await api.events_answer(rt, await _body(receive), who)


async def _status(rt: Runtime, scope: Scope, receive: Receive) -> bytes:
    await auth.caller(scope, rt.tokens, auth.STATUS_READ)
    return await api.status_answer(rt, scope.get("query_string", b""))


class _Disconnected(Exception):
    pass


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class HotRoutes:
    """ASGI middleware: serves (method, path) pairs of `HANDLERS` itself, passes on the rest."""

    HANDLERS: ClassVar[dict[tuple[str, str], Handler]] = {
        ("POST", "/v1/events"): _events,
        ("GET", "/v1/registration-status"): _status,
    }

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app, self.rt = app, runtime
        routes: dict[tuple[str, str], BaseRoute] = {}
        for route in api.router.routes:
            for method in getattr(route, "methods", None) or ():
                routes[(method, getattr(route, "path", ""))] = route
        # the route objects label the metrics exactly as FastAPI's router would
        self._routes = {key: routes[key] for key in self.HANDLERS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = (scope.get("method"), scope.get("path")) if scope["type"] == "http" else None
        handler = self.HANDLERS.get(key) if key else None  # type: ignore[arg-type]
        if handler is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self._routes[key]  # type: ignore[index]
        try:
            body = await handler(self.rt, scope, receive)
        except HTTPException as exc:  # the same shape as the app's HTTPException handler
            await JSONResponse({"detail": exc.detail}, exc.status_code,
                               headers=exc.headers)(scope, receive, send)
            return
        except _Disconnected:
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()),
                                (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

"""The front door: one ASGI middleware in front of every route.

In order, for each HTTP request:
1. URLs with NUL characters are refused (400).
2. **Authentication before a byte of the body is read.** `/v1/...` needs a bearer token
   and `/ui/...` a page session (`service.sessions`), except the log-in page, the static
   stylesheet, and the ops and schema routes (which read no body). A request that fails
   gets its 401 (API) or a redirect to the log-in page (pages) at the cost of one token
   look-up; a client address with too many failures gets 429 instead.
   The principal is left in the ASGI scope for the routes (`auth.require`).
3. Rate limits (`service.ratelimit`): page log-ins per address, moderator and analyst
   reads per token. Registry event posts are never limited.
4. Body limits: a declared or streamed body over `max_body_bytes` gets 413; a JSON body
   nested deeper than `max_json_depth` gets 400 before any parser sees it (Python's
   recursive parsers would otherwise fail with a RecursionError and a 500).
5. Security headers on every response: a strict CSP (the pages have no JavaScript and
   their CSS is a static file), `frame-ancestors 'none'` and `X-Frame-Options`,
   `Referrer-Policy: same-origin`, `X-Content-Type-Options: nosniff`, and HSTS when the
   request came over TLS.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import csrf, sessions
from service.auth import PRINCIPAL, token_of
from service.ratelimit import Limits, Refusal
from service.runtime import Runtime

PUBLIC_UI = ("/ui/login", "/ui/static/")
# FastAPI's interactive docs load their script from a CDN; they get every header but CSP
DOCS = ("/docs", "/redoc")
CSP = ("default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
       "object-src 'none'")
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
           (b"x-frame-options", b"DENY")]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
READ_ROLES = ("moderator", "analyst")

# JSON strings (with their escapes) and, once they are gone, the bytes that are not brackets
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = np.zeros(256, dtype=np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


def json_depth(body: bytes) -> int:
    """How deeply a JSON text nests arrays and objects (brackets inside strings do not
    count), measured without parsing it: a regex drops the strings, numpy sums the rest."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    return int(np.cumsum(_STEP[np.frombuffer(brackets, dtype=np.uint8)]).max())


def local_path(value: str | None, default: str) -> str:
    """`value` if it is a path on this site, else `default`: redirects never leave it."""
    if (not value or not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(c) < 0x20 for c in value)):
        return default
    return value


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def _cookie(scope: Scope, name: str) -> str:
    for part in _header(scope, b"cookie").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


async def _answer(send: Send, status: int, body: Any, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
    data = json.dumps(body).encode() if content_type == "application/json" else body
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


async def _too_many(send: Send, refusal: Refusal) -> None:
    await _answer(send, 429, {"detail": "too many requests: slow down"},
                  {"Retry-After": str(refusal.retry_after)})


class FrontDoor:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app, self.rt = app, runtime
        settings = runtime.settings
        self.limit = settings.service.max_body_bytes
        self.max_depth = settings.service.max_json_depth
        self.limits = Limits(settings)
        self.lifetimes = sessions.Lifetimes.of(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_headers(scope, send)
        if b"%00" in scope.get("raw_path", b"") or b"%00" in scope.get("query_string", b""):
            await _answer(send, 400, {"detail": "NUL characters are not allowed in URLs"})
            return
        path: str = scope["path"]
        if path.startswith("/v1/"):
            if not await self._bearer(scope, send):
                return
        elif path.startswith("/ui") and not path.startswith(PUBLIC_UI):
            if not await self._session(scope, send):
                return
        elif path == "/ui/login" and scope["method"] == "POST":
            refusal = await self.limits.hit(self.limits.logins, _client(scope))
            if refusal is not None:
                await _too_many(send, refusal)
                return
        principal = scope.get(PRINCIPAL)
        if (principal is not None and principal.role in READ_ROLES
                and scope["method"] in ("GET", "HEAD")):
            refusal = await self.limits.hit(self.limits.reads, f"token:{principal.token_id}")
            if refusal is not None:
                await _too_many(send, refusal)
                return
        await self._bounded(scope, receive, send)

    def _with_headers(self, scope: Scope, send: Send) -> Send:
        extra = list(HEADERS)
        if not scope["path"].startswith(DOCS):
            extra.append((b"content-security-policy", CSP.encode()))
        if scope.get("scheme") == "https":
            extra.append(HSTS)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return sending

    async def _failed(self, scope: Scope, send: Send, ui: bool) -> None:
        """Count a failed authentication against the client address, then 401 / log-in."""
        refusal = await self.limits.hit(self.limits.failed_auth, _client(scope))
        if refusal is not None:
            await _too_many(send, refusal)
        elif ui:
            target = "/ui/login?next=" + _quote(scope["path"])
            await _answer(send, 303, b"", {"Location": target}, "text/plain")
        else:
            await _answer(send, 401, {"detail": _why_401(scope)},
                          {"WWW-Authenticate": "Bearer"})

    async def _bearer(self, scope: Scope, send: Send) -> bool:
        token = token_of(_header(scope, b"authorization"))
        cache = self.rt.tokens
        principal = cache.peek(token) if token else None
        if principal is None and token:
            # looked up even for an address over its failure limit: a valid token behind
            # the same address (a registry behind a NAT) must never be refused
            principal = await run_in_threadpool(cache.lookup, token)
        if principal is None:
            await self._failed(scope, send, ui=False)
            return False
        scope[PRINCIPAL] = principal
        return True

    async def _session(self, scope: Scope, send: Send) -> bool:
        sid = _cookie(scope, sessions.COOKIE)
        info = None
        if sid:
            info = await run_in_threadpool(sessions.lookup, self.rt.sessions, sid,
                                           self.lifetimes)
        if info is None:
            if sid:
                await self._failed(scope, send, ui=True)
            else:  # no cookie at all: a fresh visitor, not a failure
                target = "/ui/login?next=" + _quote(scope["path"])
                await _answer(send, 303, b"", {"Location": target}, "text/plain")
            return False
        scope[PRINCIPAL] = info.principal
        scope[csrf.SESSION_SCOPE_KEY] = info
        return True

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with the body limited in size and, for JSON, in depth."""
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        if "json" in _header(scope, b"content-type") and scope["method"] in ("POST", "PUT",
                                                                             "PATCH"):
            body = await self._read(receive)
            if body is None:
                await self._too_large(send)
                return
            depth = json_depth(body)
            if depth > self.max_depth:
                await _answer(send, 400, {"detail": f"JSON nested {depth} levels deep "
                                                    f"(at most {self.max_depth})"})
                return
            await self.app(scope, _replay(body, receive), send)
            return
        await self._streamed(scope, receive, send)

    async def _read(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the body on as it streams; past the limit, answer 413 and tell the app the
        client went away (whatever it answers then is dropped)."""
        seen, refused, started = 0, False, False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                refused = True
                if not started:
                    await self._too_large(send)
                return {"type": "http.disconnect"}
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started |= message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except Exception:
            if not refused:
                raise
            # the app failed on the cut-off body; the client has its 413 already

    async def _too_large(self, send: Send) -> None:
        await _answer(send, 413, {"detail": f"request body exceeds {self.limit} bytes"})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"ip:{client[0]}" if client else "ip:unknown"


def _quote(path: str) -> str:
    return quote(path, safe="/")


def _why_401(scope: Scope) -> str:
    if token_of(_header(scope, b"authorization")) is None:
        return "missing bearer token (send 'Authorization: Bearer TOKEN')"
    return "unknown or revoked token"

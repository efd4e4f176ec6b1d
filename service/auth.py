"""Bearer-token authentication and role checks for the `/v1` API and the pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from service.tokens import Principal, TokenCache
from service.vocab import Role

PRINCIPAL = "warden.principal"  # where the front door leaves the authenticated caller
# Documented in the OpenAPI schema by service.app (a FastAPI security dependency would cost
# a measurable share of each request).
SECURITY_SCHEME = {"bearer": {"type": "http", "scheme": "bearer",
                              "description": "A token from `warden token create`."}}

# Who may call what: every endpoint names its roles here and nowhere else.
EVENTS_WRITE = (Role.REGISTRY,)
EVENTS_READ = (Role.MODERATOR, Role.ANALYST)
STATUS_READ = tuple(Role)
BREAKER_WRITE = (Role.MODERATOR,)
BREAKER_READ = (Role.MODERATOR, Role.ANALYST)
QUEUE_READ = (Role.MODERATOR, Role.ANALYST)
VERDICT_WRITE = (Role.MODERATOR,)
TOKENS_ADMIN = (Role.ADMIN,)
PAGES_READ = (Role.MODERATOR, Role.ANALYST)


def token_of(authorization: str) -> str | None:
    """The token of an `Authorization` header's value, if it is `Bearer TOKEN`."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


async def principal_for(request: Request, token: str) -> Principal | None:
    return await _principal(request.app.state.runtime.tokens, token)


async def _principal(cache: TokenCache, token: str) -> Principal | None:
    return cache.peek(token) or await run_in_threadpool(cache.lookup, token)


async def authorize(cache: TokenCache, authorization: str, roles: tuple[str, ...]
                    ) -> Principal:
    """The caller of an `Authorization` header value if its role is one of `roles`;
    else the 401 or 403 HTTPException."""
    token = token_of(authorization)
    if token is None:
        raise unauthorized("missing bearer token (send 'Authorization: Bearer TOKEN')")
    principal = await _principal(cache, token)
    if principal is None:
        raise unauthorized("unknown or revoked token")
    return admit(principal, roles)


def admit(principal: Principal, roles: tuple[str, ...]) -> Principal:
    """`principal` if its role is one of `roles`, else the 403 HTTPException."""
    if principal.role not in roles:
        raise HTTPException(403, f"role {principal.role!r} may not do this "
                                 f"(needs {' or '.join(roles)})")
    return principal


async def caller(scope: MutableMapping[str, Any], cache: TokenCache, roles: tuple[str, ...]
                 ) -> Principal:
    """The caller the front door authenticated (`service.security`), checked for `roles`;
    an app without the front door (none is served so) looks the header up itself."""
    principal = scope.get(PRINCIPAL)
    if principal is not None:
        return admit(principal, roles)
    authorization = ""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            authorization = value.decode("latin-1")
            break
    return await authorize(cache, authorization, roles)


def require(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits a bearer token whose role is one of `roles`."""

    async def check(request: Request) -> Principal:
        return await caller(request.scope, request.app.state.runtime.tokens, roles)

    return check

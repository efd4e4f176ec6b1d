"""CSRF protection for the pages: an Origin check and a token in every form.

Every state-changing page request must come from this site (a foreign `Origin`, or
`Sec-Fetch-Site: cross-site` when a browser sends no Origin, is refused) and carry a
`csrf_token` form field. Inside a session the token is signed by `itsdangerous` with the
session's own server-side key, so it is worthless for any other session and expires with
it. The log-in form, before any session exists, uses a double-submit cookie. The check
is a dependency of the pages router (the form is parsed once by FastAPI and cached on
the request). Templates write the field with `{{ csrf_field() }}`.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import pass_context
from markupsafe import Markup, escape

from service.sessions import SessionInfo

FIELD = "csrf_token"
LOGIN_COOKIE = "warden_login"
SAFE = ("GET", "HEAD", "OPTIONS")
SESSION_SCOPE_KEY = "warden.session"
_SALT = "warden-page-form"


def token_for(info: SessionInfo) -> str:
    return URLSafeTimedSerializer(info.csrf_key, salt=_SALT).dumps(info.id_hash[:16])


def valid(info: SessionInfo, token: str) -> bool:
    try:
        value = URLSafeTimedSerializer(info.csrf_key, salt=_SALT).loads(
            token, max_age=int(info.absolute_seconds))
    except BadSignature:
        return False
    return value == info.id_hash[:16]


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


async def protect(request: Request) -> None:
    """Router dependency: refuses a state-changing page request without a valid token."""
    if request.method in SAFE:
        return
    if not same_origin(request):
        raise HTTPException(403, "cross-site request refused")
    form = await request.form()
    sent = form.get(FIELD)
    sent = sent if isinstance(sent, str) else ""
    info: SessionInfo | None = request.scope.get(SESSION_SCOPE_KEY)
    if info is not None:
        ok = bool(sent) and valid(info, sent)
    else:  # the log-in form: double-submit cookie
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        ok = bool(sent and cookie) and hmac.compare_digest(sent, cookie)
    if not ok:
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


@pass_context
def csrf_field(context: Any) -> Markup:
    """The hidden form field (a Jinja global)."""
    token = context.get(FIELD)
    if token is None:
        info = context["request"].scope.get(SESSION_SCOPE_KEY)
        token = token_for(info) if info is not None else ""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(escape(token))

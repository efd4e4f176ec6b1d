"""Every endpoint against every role, no token and a wrong token (CONTRACT §4)."""

from __future__ import annotations

from typing import Any

import pytest
from svc_helpers import Server, account_event

ROLES = ("registry", "moderator", "analyst", "admin")

# (method, path, body, roles allowed). Bodies are valid, so an allowed role never sees 401/403.
ENDPOINTS: list[tuple[str, str, Any, tuple[str, ...]]] = [
    ("POST", "/v1/events", "event", ("registry",)),
    ("GET", "/v1/events/some-id", None, ("moderator", "analyst")),
    ("GET", "/v1/registration-status", None, ROLES),
    ("POST", "/v1/breaker/release.uploaded/pause",
     {"reason": "auth matrix", "expires_in_minutes": 1}, ("moderator",)),
    ("POST", "/v1/breaker/release.uploaded/resume", {"reason": "auth matrix"}, ("moderator",)),
    ("POST", "/v1/breaker/release.uploaded/confirm",
     {"reason": "auth matrix", "expires_in_minutes": 1}, ("moderator",)),
    ("GET", "/v1/breaker/audit", None, ("moderator", "analyst")),
    ("GET", "/v1/queue", None, ("moderator", "analyst")),
    ("POST", "/v1/queue/some-id/verdict", {"verdict": "benign", "note": "x"}, ("moderator",)),
    ("GET", "/v1/campaigns/c-none", None, ("moderator", "analyst")),
    ("POST", "/v1/campaigns/c-none/verdict", {"verdict": "benign"}, ("moderator",)),
    ("GET", "/v1/verdicts/export", None, ("moderator", "analyst")),
    ("GET", "/v1/tokens", None, ("admin",)),
    ("POST", "/v1/tokens", {"role": "analyst", "name": "matrix"}, ("admin",)),
    ("DELETE", "/v1/tokens/999999", None, ("admin",)),
]


def _call(server: Server, who: str | None, method: str, path: str, body: Any,
          token: str | None = None) -> int:
    if body == "event":
        body = account_event(server)
    with server.client(who) as c:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return c.request(method, path, json=body, headers=headers).status_code


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_role_matrix(server: Server, role: str, method: str, path: str, body: Any,
                     allowed: tuple[str, ...]) -> None:
    status = _call(server, role, method, path, body)
    if role in allowed:
        assert status not in (401, 403), f"{role} was refused {method} {path}"
        assert status < 500
    else:
        assert status == 403, f"{role} reached {method} {path} ({status})"


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_missing_and_wrong_tokens_are_401(server: Server, method: str, path: str, body: Any,
                                          allowed: tuple[str, ...]) -> None:
    assert _call(server, None, method, path, body) == 401
    assert _call(server, None, method, path, body, token="wdn_not-a-real-token") == 401


def test_401_carries_a_message_and_challenge(server: Server) -> None:
    with server.client() as c:
        r = c.get("/v1/queue")
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert "token" in r.json()["detail"]
        r = c.get("/v1/queue", headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert r.status_code == 401


def test_403_names_the_role(server: Server) -> None:
    with server.client("registry") as c:
        r = c.get("/v1/queue")
    assert r.status_code == 403
    assert "registry" in r.json()["detail"]


def test_unauthenticated_bad_json_is_still_401(server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/events", content=b"{not json")
    assert r.status_code == 401


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/openapi.json"])
def test_open_endpoints(server: Server, path: str) -> None:
    with server.client() as c:
        assert c.get(path).status_code == 200


def test_admin_creates_and_revokes_tokens(server: Server) -> None:
    with server.client("admin") as c:
        made = c.post("/v1/tokens", json={"role": "analyst", "name": "temp"}).json()
        assert made["token"].startswith("wdn_") and made["role"] == "analyst"
        listed = c.get("/v1/tokens").json()
        assert all("token" not in t and "token_hash" not in t for t in listed)
        assert made["id"] in {t["id"] for t in listed}
    headers = {"Authorization": f"Bearer {made['token']}"}
    with server.client() as c:
        assert c.get("/v1/queue", headers=headers).status_code == 200
    with server.client("admin") as c:
        assert c.delete(f"/v1/tokens/{made['id']}").json()["revoked"] is True
    with server.client() as c:
        assert c.get("/v1/queue", headers=headers).status_code == 401
    with server.client("admin") as c:
        assert c.post("/v1/tokens", json={"role": "root"}).status_code == 422


def test_tokens_are_stored_hashed(server: Server) -> None:
    from sqlalchemy import select

    from service.db import make_engine, session_factory
    from service.models import Token

    engine = make_engine(server.database.url)
    with session_factory(engine)() as session:
        hashes = set(session.scalars(select(Token.token_hash)))
    engine.dispose()
    for token in server.tokens.values():
        assert token not in hashes
        assert all(token not in h for h in hashes)
    assert all(len(h) == 64 for h in hashes)

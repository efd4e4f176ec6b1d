"""`GET /v1/registration-status` for one registration: open or paused, per cohort.

A registry about to accept a sign-up, a new project or an upload passes what it knows of
it (``email``, ``ip``, ``project``, ``username``; any of them) and gets, per event type,
whether that registration may go ahead: ``paused`` when the whole type is paused
(``scope`` is the type) or when a paused cohort of the type holds it (``scope`` is the
cohort scope, ``cohort`` the cohort: ``detector.breaker_scope``), with the reason, the
kind, since when and until when; else ``open``. The cohorts of the registration are
computed as the stream scorer computes them (``detector.stream.scope.event_cohorts``):
e-mail domain, registrable domain and provider, IP prefix (a paused network holds every
address in it), project-name templates, typosquat target (the name check runs only
when a ``target`` cohort is paused) and account. Without any of these parameters the
answer is the type-level status, unchanged.

Both the FastAPI route (`service.api`) and the hot path (`service.hot`) call ``answer``.
The stored pauses come from the status cache (``service.breaker.StatusCache``).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from detector.breaker_scope import matches
from detector.stream.accounts import email_domain
from detector.stream.scope import event_cohorts
from detector.stream.signals import check_names
from detector.vocab import CohortKind

if TYPE_CHECKING:
    from service.runtime import Runtime

PARAMS = ("email", "ip", "project", "username")
LIMITS = {"email": 320, "ip": 64, "project": 200, "username": 200}


class BadQuery(ValueError):
    """A parameter that cannot be read (answered 422)."""


def parse_query(query: bytes | str) -> dict[str, str]:
    """The parameters of a query string: each at most once, within its length limit."""
    text = query.decode("latin-1") if isinstance(query, bytes) else query
    try:
        raw = parse_qs(text, keep_blank_values=True, strict_parsing=False,
                       max_num_fields=20)
    except ValueError as exc:
        raise BadQuery(f"query string: {exc}") from None
    out: dict[str, str] = {}
    for name, found in raw.items():
        if name not in PARAMS:
            continue  # other parameters are ignored, as the route always did
        if len(found) != 1:
            raise BadQuery(f"{name} is given {len(found)} times")
        value = found[0].strip()
        if "\x00" in value or len(value) > LIMITS[name]:
            raise BadQuery(f"{name} must be at most {LIMITS[name]} characters, without NUL")
        if value:
            out[name] = value
    if "ip" in out:
        try:
            ipaddress.ip_address(out["ip"])
        except ValueError:
            raise BadQuery(f"ip {out['ip']!r} is not an IP address") from None
    if "email" in out and email_domain(out["email"]) is None:
        raise BadQuery("email must be an address with a domain (name@example.org)")
    return out


def for_registration(rt: Runtime, params: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The status per event type for one registration (see the module docstring)."""
    base = rt.status.get()
    pauses = rt.status.cohorts()
    project = params.get("project")
    target = None
    if project and any(p["cohort"].startswith(f"{CohortKind.TARGET}:") for p in pauses):
        found = check_names([project], rt.settings.policy)[project]
        target = found.target if found.flagged else None
    cohorts = event_cohorts(email_domain(params.get("email")), params.get("ip"), project,
                            target, params.get("username"))
    out: dict[str, dict[str, Any]] = {}
    for event_type, entry in base.items():
        if entry["state"] == "paused":
            out[event_type] = {**entry, "scope": event_type}
            continue
        held = next((p for p in pauses
                     if p["type"] == event_type and matches(p["cohort"], cohorts)), None)
        if held is None:
            out[event_type] = entry
            continue
        out[event_type] = {key: value for key, value in held.items() if key != "type"}
    return out


def answer(rt: Runtime, query: bytes | str) -> bytes:
    """The JSON answer for a query string: the cached type-level bytes when it names no
    registration, else ``for_registration``. Raises ``BadQuery``."""
    params = parse_query(query) if query else {}
    if not params:
        return rt.status.get_json()
    return json.dumps(for_registration(rt, params), separators=(",", ":")).encode()

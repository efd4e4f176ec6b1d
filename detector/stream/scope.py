"""The cohorts of one registration, as the breaker's cohort scopes see them.

``event_cohorts`` lists every ``kind:value`` cohort (``detector.breaker_scope``) an event
belongs to: its e-mail domain (the account's, for a project or an upload), registrable
domain and mail provider, IP prefix, project-name templates and typosquat target. The
stream scorer hands them to the breaker with each observation; the service computes
the same for ``GET /v1/registration-status`` from what a registry passes.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from detector.breaker_scope import normal_name
from detector.stream import accounts as acc
from detector.vocab import CohortKind


def ip_prefix(ip: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of an address; None when it is not one."""
    if not ip:
        return None
    parts = ip.strip().split(".")
    if len(parts) == 4 and all(p.isascii() and p.isdigit() and len(p) <= 3 and int(p) < 256
                               for p in parts):
        return f"{int(parts[0])}.{int(parts[1])}.{int(parts[2])}.0/24"  # the common case
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


@lru_cache(maxsize=65536)
def name_templates(name: str) -> tuple[str, ...]:
    """The templates a project name belongs to (none for a one-token name)."""
    tokens = [t for t in normal_name(name).split("-") if t]
    if len(tokens) < 2:
        return ()
    out = [f"{tokens[0]}-*", f"*-{tokens[-1]}"]
    if len(tokens) >= 3:
        out += [f"{tokens[0]}-{tokens[1]}-*", f"*-{tokens[-2]}-{tokens[-1]}"]
    return tuple(out)


@lru_cache(maxsize=65536)
def _name_entry(project: str) -> str:
    return f"name:{normal_name(project)}"


@lru_cache(maxsize=65536)
def _domain_cohorts(domain: str) -> tuple[str, ...]:
    out = [f"{CohortKind.EMAIL_DOMAIN}:{domain}"]
    registrable = acc.registrable_domain(domain)
    if registrable != domain:
        out.append(f"{CohortKind.REGISTRABLE_DOMAIN}:{registrable}")
    provider = acc.provider_of(domain)
    if provider != domain:
        out.append(f"{CohortKind.PROVIDER}:{provider}")
    return tuple(out)


def event_cohorts(domain: str | None = None, ip: str | None = None,
                  project: str | None = None, target: str | None = None,
                  username: str | None = None) -> tuple[str, ...]:
    """Every cohort of one registration: its e-mail domain (the account's, for a
    project or an upload), IP address, project name, typosquat target and account."""
    out: list[str] = []
    if username:
        out.append(f"{CohortKind.ACCOUNT}:{username.strip().lower()}")
    if domain:
        out.extend(_domain_cohorts(domain.strip().lower().rstrip(".")))
    if (prefix := ip_prefix(ip)) is not None:
        out.append(f"{CohortKind.IP_PREFIX}:{prefix}")
    if project:
        out.append(_name_entry(project))  # for template globs; never chosen
        out.extend(f"{CohortKind.TEMPLATE}:{t}" for t in name_templates(project))
    if target:
        out.append(f"{CohortKind.TARGET}:{target.strip().lower()}")
    return tuple(out)



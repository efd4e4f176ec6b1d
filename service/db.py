"""Engine, sessions and migrations for SQLite (default) or PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import overload

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant works: it only keeps two replicas from migrating at the same time.
_PG_MIGRATION_LOCK = 7_004_127


class DatabaseURLError(ValueError):
    """The database URL cannot be parsed or names an unsupported backend."""


def now() -> datetime:
    return datetime.now(UTC)


@overload
def utc(value: datetime) -> datetime: ...
@overload
def utc(value: None) -> None: ...
def utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; they were stored as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


SQLITE_SYNCHRONOUS = ("normal", "full")
SQLITE_JOURNAL_LIMIT = 64 * 1024 * 1024


def sqlite_pragmas(synchronous: str = "normal", autocheckpoint: int = 1000
                   ) -> list[str]:
    """The PRAGMAs every SQLite connection gets.

    WAL lets readers run beside the writer. With ``synchronous=NORMAL`` a commit is
    written to the WAL (the OS holds it) before it returns, but not fsynced: it survives
    the server process being killed, and the OS flushes it; a power loss or kernel crash
    can lose the last commits (the database stays consistent). ``full`` fsyncs the WAL on
    every commit (≈5 ms here) and survives power loss too. ``autocheckpoint=0`` leaves
    checkpoints (copying the WAL into the database file, with its fsyncs) to
    `checkpoint`, which the service calls from a background thread instead of inside an
    answered request's commit; `journal_size_limit` truncates the WAL file after a burst.
    (A bigger page cache was tried for the writer: no gain on a 50k-event table, and
    every pooled connection of the moderator pages could grow it.)
    """
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"sqlite synchronous must be one of {SQLITE_SYNCHRONOUS}, "
                         f"not {synchronous!r}")
    return ["PRAGMA journal_mode=WAL", f"PRAGMA synchronous={synchronous.upper()}",
            "PRAGMA busy_timeout=10000", "PRAGMA foreign_keys=ON",
            f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}",
            f"PRAGMA journal_size_limit={SQLITE_JOURNAL_LIMIT}"]


def make_engine(url: str, sqlite_synchronous: str = "normal",
                sqlite_autocheckpoint: int = 1000) -> Engine:
    """An engine for `url`; `postgresql://` URLs are routed to psycopg 3. The two
    `sqlite_` options are those of `sqlite_pragmas` (ignored for PostgreSQL, whose
    commits always wait for the WAL flush)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(f"cannot parse database URL {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_size=10, max_overflow=10, pool_pre_ping=True)
    if backend == "sqlite":
        pragmas = sqlite_pragmas(sqlite_synchronous, sqlite_autocheckpoint)
        private_file(parsed.database)
        # LIFO: the few pooled connections in use stay warm (the writer keeps its own)
        engine = create_engine(parsed, pool_use_lifo=True,
                               connect_args={"check_same_thread": False, "timeout": 10})

        def on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

        event.listen(engine, "connect", on_connect)
        return engine
    raise DatabaseURLError(
        f"unsupported database {backend!r} in {url!r} (use sqlite or postgresql)")


def private_file(database: str | None) -> None:
    """Create a SQLite database file readable by its owner only (0600) before SQLite
    creates it with the umask's permissions; its -wal and -shm files copy that mode.
    An existing file is left as it is."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists():
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:  # another replica won the race
        pass
    except OSError:  # a missing directory: let SQLite report it as it would
        pass


def checkpoint(engine: Engine) -> tuple[int, int, int] | None:
    """Copy committed WAL frames into the SQLite database file without blocking the writer
    (`PRAGMA wal_checkpoint(PASSIVE)`); returns (busy, WAL frames, frames copied), or None
    for PostgreSQL, which checkpoints itself."""
    if engine.dialect.name != "sqlite":
        return None
    with engine.connect() as connection:
        row = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return int(row[0]), int(row[1]), int(row[2])


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (safe to run from several replicas)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def at_head(engine: Engine) -> bool:
    """True when the database schema is at the newest migration (readiness check)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)

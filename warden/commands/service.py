"""`warden serve` and `warden token create`: the HTTP service and its API tokens."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from typing import Annotated

import typer

from detector.vocab import values
from service.vocab import Role
from warden.commands.common import fail_usage, policy_or_exit

ROLES_HELP = ", ".join(values(Role)[:-1]) + f" or {values(Role)[-1]}"


def _database(url: str | None) -> str:
    """Resolve and check the database URL, exiting 2 with a message when it is unusable."""
    from sqlalchemy.exc import SQLAlchemyError

    from service.config import database_url
    from service.db import DatabaseURLError, make_engine, migrate

    resolved = database_url(url)
    try:
        engine = make_engine(resolved)
        migrate(engine)
        engine.dispose()
    except DatabaseURLError as exc:
        fail_usage(str(exc))
    except (SQLAlchemyError, OSError) as exc:
        fail_usage(f"database {resolved!r}: cannot open or migrate ({str(exc).splitlines()[0]})")
    return resolved


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8000,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="SQLAlchemy URL; default $WARDEN_DATABASE_URL or ./warden.db.")
    ] = None,
    policy: Annotated[str | None, typer.Option(help="Policy file laid over the shipped one.")
                      ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (they score on one shared "
                                              "stream state, in turn; metrics are summed "
                                              "over all; see docs/service.md).",
                                         min=1)] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the Warden HTTP service (API, moderator pages, metrics) until SIGTERM."""
    import uvicorn

    from service import logs
    from service.metrics import MULTIPROCESS_DIR

    policy_or_exit(policy)  # checked here, loaded again by each worker from WARDEN_POLICY
    os.environ["WARDEN_DATABASE_URL"] = _database(database_url)
    if policy is not None:
        os.environ["WARDEN_POLICY"] = policy
    logs.configure(log_level.upper())
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal; this handler
    # turns that final re-raise into a clean exit status 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    metrics_dir = None
    if workers > 1 and not os.environ.get(MULTIPROCESS_DIR):
        # set before the workers start (and import prometheus_client): see service.metrics
        metrics_dir = tempfile.mkdtemp(prefix="warden-metrics-")
        os.environ[MULTIPROCESS_DIR] = metrics_dir
    try:
        uvicorn.run("service.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_config=None, log_level=log_level,
                    access_log=False, timeout_graceful_shutdown=10)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


token_app = typer.Typer(help="API tokens for the service.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help=f"One of {ROLES_HELP}.")],
    name: Annotated[str, typer.Option(help="A label for the token (who holds it).")] = "",
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="SQLAlchemy URL; default $WARDEN_DATABASE_URL or ./warden.db.")
    ] = None,
) -> None:
    """Create a token with ROLE and print it (only it) on stdout; only its hash is stored."""
    from service.db import make_engine, session_factory
    from service.tokens import create_token

    if role not in values(Role):
        fail_usage(f"--role: unknown role {role!r} (choose {ROLES_HELP})")
    if len(name) > 200:
        fail_usage("--name: longer than 200 characters")
    engine = make_engine(_database(database_url))
    with session_factory(engine)() as session:
        token = create_token(session, role, name, created_by="cli")
    engine.dispose()
    typer.echo(token)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(token_app, name="token")

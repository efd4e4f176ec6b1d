"""The `warden` console script: one Typer app, one module per command group.

Each module under ``warden.commands`` exposes ``register(app)``. The formats of
these commands are a stable interface (``CONTRACT.md``).
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="warden",
    help="Warden: scores registrations on a package registry for squatting and malware.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command groups, in the order `warden --help` lists them.
COMMAND_MODULES = (
    "warden.commands.names",
    "warden.commands.code",
    "warden.commands.backfill",
    "warden.commands.service",
    "warden.commands.client",
    "warden.commands.stream",
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

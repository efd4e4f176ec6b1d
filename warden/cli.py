"""The `warden` console script: one Typer app, one module per command group.

Each module under ``warden.commands`` exposes ``register(app)``. The formats of
these commands are a stable interface (``CONTRACT.md``).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

# Command groups, in the order `warden --help` lists them.
COMMAND_MODULES = (
    "warden.commands.names",
    "warden.commands.code",
    "warden.commands.backfill",
    "warden.commands.service",
    "warden.commands.client",
    "warden.commands.stream",
)


@lru_cache(maxsize=1)
def build_app() -> typer.Typer:
    """The Typer app with every command group registered (built on first use: the bulk
    name check below runs without Typer, Click and the command modules)."""
    import typer

    app = typer.Typer(
        name="warden",
        help="Warden: scores registrations on a package registry for squatting and malware.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)
    return app


def __getattr__(name: str) -> typer.Typer:
    """``warden.cli.app``, built when first asked for."""
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    if not _bulk_check_name(sys.argv[1:]):
        build_app()()


def _bulk_check_name(args: list[str]) -> bool:
    """Run `warden check-name --file F --json` (options in either order, `-f` too) without
    Typer: its option coercion imports pydantic (about 0.15 CPU-s of the 2 s a 100,000-name
    list took), and importing Typer, Click and every command module cost another 0.1 s.
    The same function as the command's runs with the same values; any other form of the
    command goes through Typer. Returns whether it ran."""
    if len(args) != 4 or args[0] != "check-name" or "--json" not in args:
        return False
    rest = [arg for arg in args[1:] if arg != "--json"]
    if len(rest) != 2 or rest[0] not in ("--file", "-f"):
        return False
    path = rest[1]
    if path.startswith("-") and path != "-":
        return False
    # Nothing this process allocates from here on needs the cyclic collector (see
    # name_check._without_cycle_collection); off before the imports and the index load,
    # it saves the ~50 ms its collections took there.
    gc.disable()
    from warden.commands.name_check import run_check_name

    try:
        run_check_name(names=None, file=path, json_output=True, policy=None)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # As Click does for a closed pipe (`warden check-name ... | head`): quiet exit 1.
        sys.stdout = _Quiet(sys.stdout)
        sys.stderr = _Quiet(sys.stderr)
        sys.exit(1)
    return True


class _Quiet:
    """A stream whose flush ignores a closed pipe (Click's PacifyFlushWrapper)."""

    def __init__(self, wrapped: object) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            self.wrapped.flush()  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.wrapped, name)


if __name__ == "__main__":
    main()

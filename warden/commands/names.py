"""`warden check-name` and `warden data refresh` (CONTRACT §1)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from warden.commands.common import err_console, fail_usage
from warden.commands.name_check import run_check_name


def check_name_command(
    names: Annotated[list[str] | None, typer.Argument(help="Names to check.")] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            help="One name per line, or a TSV(.gz) with a 'name' column; - for stdin.",
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="JSON Lines on stdout.")] = False,
    policy: Annotated[
        str | None, typer.Option(help="Policy file laid over the shipped one.")
    ] = None,
) -> None:
    """Score names by how closely they imitate popular projects."""
    run_check_name(names, file, json_output, policy)


def refresh_command(
    source: Annotated[
        str,
        typer.Argument(help="Popular-projects list: TSV (rank, name) or top-pypi-packages JSON."),
    ],
    dest: Annotated[
        str | None, typer.Option(help="Where to write (default: the shipped data/popular.tsv).")
    ] = None,
    force: Annotated[bool, typer.Option(
        help="Replace the list even when the new one is less than half its size.")] = False,
) -> None:
    """Replace the shipped popular-projects list from a newer one (offline: reads a local file).

    A new list less than half the size of the current one is most likely the wrong file:
    it is written only after a yes at the terminal, or with --force (exit 2 otherwise)."""
    from detector.popular import SHIPPED_POPULAR, CorpusError, read_corpus, write_corpus

    try:
        corpus = read_corpus(source)
    except CorpusError as exc:
        fail_usage(str(exc))
    target = dest or SHIPPED_POPULAR
    try:
        current = len(read_corpus(target)) if Path(target).exists() else 0
    except CorpusError:
        current = 0  # an unreadable current list: nothing to protect
    if len(corpus) * 2 < current and not force:
        question = (f"{source} has {len(corpus)} projects, less than half of the "
                    f"{current} in {target}")
        if not (sys.stdin.isatty() and typer.confirm(f"{question}. Replace it?")):
            fail_usage(f"{question}; not replaced (use --force to replace it anyway)")
    written = write_corpus(corpus, target)
    err_console.print(f"wrote {len(corpus)} popular projects ({corpus.version}) to {written}")


def register(app: typer.Typer) -> None:
    app.command("check-name")(check_name_command)
    data_app = typer.Typer(help="The data Warden ships with.", no_args_is_help=True)
    data_app.command("refresh")(refresh_command)
    app.add_typer(data_app, name="data")

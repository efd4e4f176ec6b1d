"""`warden backfill names|code`: re-score a whole registry on Dask into Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from warden.commands.common import emit_json, err_console, fail_usage, policy_or_exit, require_extra

if TYPE_CHECKING:
    from detector.backfill import BackfillSummary

backfill_app = typer.Typer(
    help="Re-score every name or release archive on Dask, writing Parquet (resumable). "
    "Needs the [backfill] extra.",
    no_args_is_help=True,
)

OutOption = Annotated[Path, typer.Option("--out", help="Output folder (re-use it to resume).")]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", help="Local worker processes (default: CPU count).")
]
SchedulerOption = Annotated[
    str | None, typer.Option("--scheduler", help="Address of an existing Dask scheduler.")
]
PartitionOption = Annotated[
    int | None,
    typer.Option("--partition-size",
                 help="Rows per Parquet partition / task (a resume reuses the earlier size)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]
PolicyOption = Annotated[
    Path | None, typer.Option("--policy", help="Policy file laid over the shipped one.")
]


def _print_summary(summary: BackfillSummary, as_json: bool) -> None:
    if as_json:
        emit_json(summary.to_dict())
    err_console.print(
        f"[bold]backfill {summary.kind}[/]: {summary.rows:,} rows in {summary.out_dir} "
        f"({summary.partitions} partitions, {summary.partitions_skipped} already done), "
        f"{summary.flagged:,} flagged, {summary.errors:,} with errors; scored "
        f"{summary.rows_scored:,} rows in {summary.seconds:.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s, {summary.workers} workers)"
    )
    for failure in summary.failed:
        err_console.print(
            f"[red]partition {failure['partition']} (from line {failure['first_line']}) "
            f"failed: {failure['error']}[/]"
        )


def _run(
    kind: str,
    source: Path,
    out: Path,
    workers: int | None,
    scheduler: str | None,
    partition_size: int | None,
    policy: Path | None,
    as_json: bool,
) -> None:
    # Dask and pyarrow load only when a backfill runs, not with every `warden` command.
    require_extra("backfill", "dask", "distributed", "pyarrow")
    from detector.backfill import (
        BackfillClusterError,
        BackfillInputError,
        BackfillOutputError,
        read_code_inputs,
        read_names,
        run_backfill,
    )
    checked = policy_or_exit(policy)
    read = read_names if kind == "names" else read_code_inputs
    if workers is not None and workers < 1:
        fail_usage(f"--workers must be at least 1 (got {workers})")
    if partition_size is not None and partition_size < 1:
        fail_usage(f"--partition-size must be at least 1 (got {partition_size})")
    try:
        items = read(source)
    except BackfillInputError as exc:
        fail_usage(str(exc))
    columns = (
        TextColumn(f"backfill {kind}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("rows", total=None)
        try:
            summary = run_backfill(
                kind, items, out, workers=workers, scheduler=scheduler,
                partition_size=partition_size, policy=checked,
                on_start=lambda todo, _total: bar.update(task, total=todo),
                progress=lambda rows: bar.advance(task, rows),
            )
        except (BackfillOutputError, BackfillClusterError) as exc:
            fail_usage(str(exc))
    _print_summary(summary, as_json)
    if summary.failed:
        raise typer.Exit(1)


@backfill_app.command("names")
def names_command(
    input_file: Annotated[
        Path, typer.Option("--input", help="Text (one name a line) or TSV(.gz) with a name column.")
    ],
    out: OutOption,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    partition_size: PartitionOption = None,
    policy: PolicyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score every name of a list for squatting; one row per input name."""
    _run("names", input_file, out, workers, scheduler, partition_size, policy, as_json)


@backfill_app.command("code")
def code_command(
    source: Annotated[
        Path, typer.Option("--input", help="Folder of sdists/wheels, or a file listing them.")
    ],
    out: OutOption,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    partition_size: PartitionOption = None,
    policy: PolicyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Scan every archive for malicious install-time code; one row per archive."""
    _run("code", source, out, workers, scheduler, partition_size, policy, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(backfill_app, name="backfill")

"""The work of `warden check-name` (CONTRACT §1), apart from its Typer command.

Nothing here imports Typer or Rich at import time: `warden check-name --file F --json`
runs this module without the command-line framework (``warden.cli``), and a 100,000-name
list then spends its start-up on the index, not on imports.
"""

from __future__ import annotations

import gc
import itertools
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, TextIO

from warden.commands.common import err_console, fail_usage, policy_or_exit

if TYPE_CHECKING:
    from detector.names import NameResult

# With more names than this, the table lists only flagged names and errors.
TABLE_ALL_ROWS = 200
# JSON lines are written this many at a time; up to SPOOL_CHARS of them are held in
# memory, the rest in a temporary file, until the batch's sweeps are known.
CHUNK_LINES = 4096
SPOOL_CHARS = 32 << 20
# Names looked up in the index at once: larger batches amortise its per-length array work
# (16,384: about 5% less CPU than 4,096 on the 886k list; more gains nothing).
LIST_BATCH = 16_384


def run_check_name(
    names: list[str] | None, file: str | None, json_output: bool, policy: str | None
) -> None:
    """`warden check-name` with its options parsed (CONTRACT §1)."""
    from detector.names import NameChecker
    from detector.names.inputs import NameListError, read_names
    from detector.names.sweeps import BatchSweeps, apply_sweeps

    if not names and file is None:
        fail_usage("check-name: give NAME arguments or --file FILE")
    sources = [iter(names or [])]
    # Times of the file's names when it is a TSV with a time column: sweeps then count
    # the siblings within the window before each name, not the whole batch.
    times: list[float] = []
    if file is not None:
        if file != "-" and not Path(file).exists():
            fail_usage(f"{file}: no such file")
        sources.append(read_names(file, times))
    offset = len(names or [])
    rules = policy_or_exit(policy)
    checker = NameChecker(policy=rules)
    stream = itertools.chain.from_iterable(sources)
    try:
        with _without_cycle_collection(file is not None), _progress(file is not None) as advance:
            results = checker.iter_check(stream, batch_size=LIST_BATCH)
            if json_output:
                # The names are one batch: a sweep member's line may change once the whole
                # batch is read, so lines are spooled and the members' patched at the end.
                sweeps = BatchSweeps(rules)
                out = _PatchedLines(advance)
                lines: list[str] = []
                for position, result in enumerate(results):
                    # Every name is counted for bursts while they are on (a long list
                    # without times turns them off); a member's line is held.
                    if (result.matches or sweeps.bursts) and sweeps.add(
                            position, result, _time_of(times, position - offset)):
                        # A member's line is written at the end, once its sweep is known.
                        out.hole(lines, position)
                        lines.clear()
                        continue
                    lines.append(result.to_json())
                    if len(lines) == CHUNK_LINES:
                        out.write(lines)
                        lines.clear()
                out.write(lines)
                final = sweeps.members()
                final.update(sweeps.resolve(out.lines))
                out.copy_to(sys.stdout, final)
                _note_untimed(out.lines, bool(times), rules.names.sweep_batch_names)
            else:
                checked = list(results)
                at = [_time_of(times, position - offset) for position in range(len(checked))]
                _print_table(apply_sweeps(checked, at if times else None, rules))
                _note_untimed(len(checked), bool(times), rules.names.sweep_batch_names)
    except NameListError as exc:
        fail_usage(str(exc))


@contextmanager
def _without_cycle_collection(enabled: bool) -> Iterator[None]:
    """No cyclic garbage collection while a list is checked (the collector is re-enabled
    after, if it was on).

    A check allocates a few dozen short-lived objects per name and no reference cycles:
    reference counting frees them all, and the collector only walks live objects. With
    the default thresholds a full collection every ~70,000 allocations walked the index's
    hundreds of thousands of long-lived objects (886,000 names in 24 CPU-s); freezing them
    and collecting the young generation every 50,000 allocations still spent 0.12 CPU-s of
    a 100,000-name list walking the batch's live results. Off: 886,000 names in about 1
    CPU-s less again, the same peak memory (207 MB, measured with `/usr/bin/time`)."""
    if not enabled:
        yield
        return
    gc.freeze()  # what is alive now (the index) is never walked again
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _note_untimed(size: int, timed: bool, most: int) -> None:
    if size > most and not timed:
        err_console.print(
            f"note: {size} names without times are not one sweep window (more than "
            f"\\[names] sweep_batch_names = {most}); sweeps need a TSV with a 'ts' or "
            "'first_seen' column", highlight=False)


def _time_of(times: list[float], row: int) -> float | None:
    """The time of the file's row ``row`` (None for names given as arguments, or when the
    file has no time column)."""
    return times[row] if 0 <= row < len(times) else None


class _PatchedLines:
    """JSON lines held (in memory up to ``SPOOL_CHARS``, then in a temporary file) with
    holes where sweep members go, copied out at the end with the members' lines in the
    holes. Holding the results themselves would cost several hundred bytes per name; this
    costs the output's size, on disk for long lists. (``SpooledTemporaryFile`` in text
    mode encodes each write and asks its position: measured 3x slower here.)"""

    def __init__(self, advance: Callable[[int], None]) -> None:
        self.advance = advance
        self.parts: list[str] = []  # the text, while in memory
        self.sizes: list[int] = []  # characters of each part
        self.held = 0
        self.file: IO[str] | None = None
        self.holes: list[tuple[int, int]] = []  # (parts before it, position)
        self.lines = 0

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        text = "\n".join(lines) + "\n"
        self.sizes.append(len(text))
        self.lines += len(lines)
        self.advance(len(lines))
        if self.file is not None:
            self.file.write(text)
            return
        self.parts.append(text)
        self.held += len(text)
        if self.held > SPOOL_CHARS:
            self.file = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
            self.file.writelines(self.parts)
            self.parts = []

    def hole(self, lines: list[str], position: int) -> None:
        """Write ``lines``, then leave a hole for the line at ``position``."""
        self.write(lines)
        self.holes.append((len(self.sizes), position))
        self.lines += 1

    def copy_to(self, out: TextIO, lines: dict[int, NameResult]) -> None:
        """Everything written to ``out``, each hole filled by ``lines[position]``."""
        source = self.file
        if source is not None:
            source.seek(0)
        holes = iter(self.holes)
        hole = next(holes, None)
        for done in range(len(self.sizes) + 1):
            while hole is not None and hole[0] == done:
                out.write(lines[hole[1]].to_json() + "\n")
                hole = next(holes, None)
            if done < len(self.sizes):
                out.write(self.parts[done] if source is None else source.read(self.sizes[done]))
        if source is not None:
            source.close()


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int], None]]:
    """A names-checked counter on stderr, shown only when stderr is a terminal."""
    if not (enabled and err_console.is_terminal):
        yield lambda _count: None
        return
    from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        "checking names",
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("names", total=None)
        yield lambda count: progress.advance(task, count)


def _print_table(results: list) -> None:
    from rich.console import Console
    from rich.table import Table

    show_all = len(results) <= TABLE_ALL_ROWS
    table = Table(title="Warden name check", show_lines=False)
    for column in ("name", "score", "flagged", "best match", "why"):
        table.add_column(column, overflow="fold")
    for result in results:
        if not (show_all or result.flagged or result.error):
            continue
        if result.error:
            table.add_row(result.name, "-", "error", "", f"[red]{result.error}[/red]")
            continue
        best = result.best
        why = best.reason if best else "no popular project within reach"
        if result.sweep is not None:
            why += "; " + result.reasons[-1]
        table.add_row(
            result.name,
            f"{result.score:.2f}",
            "[bold red]yes[/bold red]" if result.flagged else "no",
            f"{best.target} ({best.kind})" if best else "",
            why,
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a pipe or file: do not fold reasons mid-word
    console.print(table)
    flagged = sum(result.flagged for result in results)
    errors = sum(result.error is not None for result in results)
    note = "" if show_all else " (table shows flagged names and errors only)"
    err_console.print(f"{len(results)} names, {flagged} flagged, {errors} errors{note}")



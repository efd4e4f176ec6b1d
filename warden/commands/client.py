"""`warden send` (a file of events to a running service, in batches, with retries) and
`warden export` (its decisions, verdicts and campaigns to Parquet)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from warden.commands.common import emit_json, err_console, fail_usage

DEFAULT_URL = "http://127.0.0.1:8000"


def read_token(token_file: Path | None) -> str:
    """The token from ``--token-file`` (first line), else ``$WARDEN_TOKEN``."""
    if token_file is not None:
        try:
            lines = token_file.read_text(encoding="utf-8").strip().splitlines()
        except OSError as exc:
            fail_usage(f"{token_file}: cannot read the token ({exc.strerror})")
        if not lines or not lines[0].strip():
            fail_usage(f"{token_file}: the file is empty (expected a token on its first line)")
        return lines[0].strip()
    token = os.environ.get("WARDEN_TOKEN", "").strip()
    if not token:
        fail_usage("no token: give --token-file FILE or set WARDEN_TOKEN "
                   "(create one with `warden token create --role registry`)")
    return token


def send(
    events: Annotated[Path, typer.Argument(help="Events, one JSON object a line "
                                                "(`warden simulate` writes them).")],
    url: Annotated[str, typer.Option(help="The service's base URL; default $WARDEN_URL or "
                                          f"{DEFAULT_URL}.")] = "",
    token_file: Annotated[Path | None, typer.Option(
        "--token-file", help="File whose first line is a registry token; default "
                             "$WARDEN_TOKEN.")] = None,
    batch_size: Annotated[int, typer.Option(help="Events per request (the service's "
                                                 "limit is [service] max_batch_events).",
                                            min=1, max=10_000)] = 200,
    retries: Annotated[int, typer.Option(help="Retries of a batch on 429, 5xx or a lost "
                                              "connection.", min=0, max=100)] = 8,
    out: Annotated[Path | None, typer.Option(help="Also write every decision (JSON Lines) "
                                                  "to this file.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Send a file of events to the service; print a summary of the decisions (JSON).

    Batches are retried with the same event ids, so a retry never scores an event twice.
    Exits 1 when the service refuses a batch (its message says why; the events before it
    are stored and sending the file again is safe), 2 on bad usage or a bad file."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from warden.client import ClientError, InputError, read_events
    from warden.client import send as send_events

    url = url or os.environ.get("WARDEN_URL") or DEFAULT_URL
    if not url.startswith(("http://", "https://")):
        fail_usage(f"--url must start with http:// or https:// (got {url!r})")
    token = read_token(token_file)
    try:
        rows = read_events(events)
    except OSError as exc:
        fail_usage(f"{events}: cannot read ({exc.strerror})")
    except (InputError, UnicodeDecodeError) as exc:
        fail_usage(str(exc))
    if not rows:
        fail_usage(f"{events}: no events in the file")
    handle = None
    if out is not None:
        try:
            handle = out.open("w", encoding="utf-8")
        except OSError as exc:
            fail_usage(f"{out}: cannot write ({exc.strerror})")
    progress = Progress("sending", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=err_console, disable=quiet)
    try:
        with progress:
            task = progress.add_task("send", total=len(rows))
            summary = send_events(
                rows, url, token, batch_size, retries,
                progress=lambda n: progress.advance(task, n),
                on_retry=lambda why: err_console.print(f"retrying: {why}"),
                answers=(lambda a: _write_line(handle, a)) if handle else None)
    except ClientError as exc:
        err_console.print(f"warden: {exc}")
        raise SystemExit(1) from None
    finally:
        if handle:
            handle.close()
    emit_json(summary.to_dict())


def export(
    kinds: Annotated[list[str], typer.Argument(help="decisions, verdicts and/or campaigns.")],
    out: Annotated[Path, typer.Option(help="Folder for KIND.parquet (created if needed).")],
    url: Annotated[str, typer.Option(help="The service's base URL; default $WARDEN_URL or "
                                          f"{DEFAULT_URL}.")] = "",
    token_file: Annotated[Path | None, typer.Option(
        "--token-file", help="File whose first line is an analyst or moderator token; "
                             "default $WARDEN_TOKEN.")] = None,
    since: Annotated[str | None, typer.Option(
        help="Only rows from this time on (ISO 8601; event time for decisions and "
             "campaigns, verdict time for verdicts).")] = None,
) -> None:
    """Export the service's decisions, verdicts (the whole trail, undos included) or
    campaigns to Parquet for notebooks; prints one JSON line per file written."""
    from datetime import datetime

    from warden.client import ClientError
    from warden.exports import KINDS
    from warden.exports import export as export_kind

    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        fail_usage(f"unknown export {unknown[0]!r} (expected {', '.join(KINDS)})")
    url = url or os.environ.get("WARDEN_URL") or DEFAULT_URL
    when = None
    if since:
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            fail_usage(f"--since: not an ISO 8601 time: {since!r}")
    token = read_token(token_file)
    for kind in dict.fromkeys(kinds):
        try:
            path, count = export_kind(url, token, kind, out, when)
        except ClientError as exc:
            err_console.print(f"warden: {exc}")
            raise SystemExit(1) from None
        except OSError as exc:
            fail_usage(f"{out}: cannot write ({exc.strerror})")
        emit_json({"kind": kind, "rows": count, "path": str(path)})


def register(app: typer.Typer) -> None:
    app.command("send")(send)
    app.command("export")(export)


def _write_line(handle: IO[str], answer: dict[str, Any]) -> None:
    """One service answer as a JSON line (the `--out` file)."""
    handle.write(json.dumps(answer) + "\n")

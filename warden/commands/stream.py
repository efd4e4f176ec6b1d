"""`warden score`, `warden simulate` and `warden replay` (CONTRACT §3)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from warden.commands.common import err_console, fail_usage, policy_or_exit

PolicyOption = Annotated[
    str | None, typer.Option("--policy", help="Policy file laid over the shipped one.")]


@contextmanager
def _open_input(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdin
        return
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        fail_usage(f"{path}: cannot read ({exc.strerror})")
    with handle:
        yield handle


def _scorer(policy: str | None) -> Any:
    from detector.stream import StreamScorer

    return StreamScorer(policy_or_exit(policy))


def score_command(
    events: Annotated[str, typer.Argument(
        help="Events as JSON Lines, ordered by ts; - for stdin.")],
    json_output: Annotated[bool, typer.Option("--json", help="JSON Lines on stdout.")] = False,
    policy: PolicyOption = None,
    campaigns: Annotated[str | None, typer.Option(
        "--campaigns", help="Also write the campaigns found (JSON Lines) to this file.")] = None,
) -> None:
    """Score registry events: one decision per event, breaker lines after their cause.

    Decisions are JSON Lines on stdout (with or without --json); without --json a
    summary is also printed on stderr.
    """
    from detector.stream import score_lines

    scorer = _scorer(policy)
    decisions: Counter[str] = Counter()
    errors = breakers = 0
    write = sys.stdout.write
    encode = json.JSONEncoder(ensure_ascii=False).encode  # = json.dumps(..., ensure_ascii=False)
    try:
        with _open_input(events) as handle:
            for out in score_lines(_lines(handle, events), scorer=scorer):
                write(encode(out) + "\n")
                if "error" in out:
                    errors += 1
                elif "breaker" in out:
                    breakers += 1
                else:
                    decisions[out["decision"]] += 1
    except UnicodeDecodeError as exc:
        fail_usage(f"{events}: not UTF-8 text ({exc.reason})")
    found = scorer.campaigns()
    if campaigns:
        try:
            with open(campaigns, "w", encoding="utf-8") as handle:
                for campaign in found:
                    handle.write(json.dumps(campaign) + "\n")
        except OSError as exc:
            fail_usage(f"{campaigns}: cannot write ({exc.strerror})")
    if not json_output:
        err_console.print(
            f"{sum(decisions.values())} events scored: {dict(decisions)}; {errors} lines with "
            f"errors; {breakers} breaker transitions; {len(found)} campaigns")
        for campaign in sorted(found, key=lambda c: -c["size"])[:10]:
            err_console.print(f"  {campaign['id']}: {campaign['size']} events, "
                              f"{campaign['accounts_count']} accounts, {campaign['first_seen']} "
                              f"-> {campaign['last_seen']}; {', '.join(campaign['traits'][:3])}")


def _lines(handle: TextIO, name: str) -> Iterator[str]:
    """Lines of the input with a progress bar on an interactive terminal."""
    if not err_console.is_terminal or name == "-":
        yield from handle
        return
    from rich.progress import Progress

    size = Path(name).stat().st_size or 1
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task(f"scoring {name}", total=size)
        for line in handle:
            progress.advance(task, len(line.encode("utf-8")))
            yield line


def simulate_command(
    days: Annotated[int, typer.Option(help="Length of the stream in days.", min=1)] = 90,
    seed: Annotated[int, typer.Option(
        help="Random seed; the same seed gives the same stream.")] = 0,
    out: Annotated[str, typer.Option(
        "--out", help="Events file (JSON Lines); - for stdout.")] = "-",
    labels: Annotated[str | None, typer.Option(
        "--labels", help="Ground-truth labels file (JSON Lines: id, campaign, kind).")] = None,
    campaigns: Annotated[str, typer.Option(
        help="Comma-separated campaign kinds, 'all' or 'none' (also: one-domain, "
             "subdomain-rotation, template-wave, ip-range, not in 'all').")] = "all",
    crowds: Annotated[str, typer.Option(
        help="Comma-separated benign crowd kinds (labelled crowd-<kind>), 'all' or "
             "'none'.")] = "all",
    start: Annotated[str, typer.Option(help="First day (ISO 8601, UTC).")] = "2025-01-06T00:00:00Z",
    scale: Annotated[float, typer.Option(help="Multiplier on campaign sizes.", min=0.01)] = 1.0,
    first_campaign_day: Annotated[float, typer.Option(
        help="No campaign starts before this day (the scorer's baselines need history).")] = 8.0,
    releases_per_day: Annotated[float, typer.Option(
        help="Baseline releases a day.", min=0)] = 150.0,
    files_share: Annotated[float, typer.Option(
        help="Share of baseline projects whose files are included.", min=0, max=1)] = 0.3,
    id_prefix: Annotated[str, typer.Option(
        help="Put before every event id (e.g. 'sim-20261204-'), so that streams sent to "
             "one service never share ids.")] = "",
) -> None:
    """Generate a seeded PyPI-like registration stream with labelled campaigns."""
    from detector.stream.crowds import CROWD_KINDS
    from detector.stream.shapes import SHAPE_KINDS
    from detector.stream.simulate import CAMPAIGN_KINDS, SimConfig, simulate

    # 'all': the default campaigns; the scoped-pause shapes are asked for by name.
    kinds = CAMPAIGN_KINDS if campaigns == "all" else \
        _kinds("--campaigns", campaigns, CAMPAIGN_KINDS + SHAPE_KINDS)
    crowd_kinds = _kinds("--crowds", crowds, CROWD_KINDS)
    try:
        from detector.stream.events import parse_ts

        parse_ts(start)
    except ValueError as exc:
        fail_usage(f"--start: {exc}")
    cfg = SimConfig(days=days, seed=seed, start=start, campaigns=kinds, crowds=crowd_kinds,
                    scale=scale,
                    first_campaign_day=first_campaign_day, releases_per_day=releases_per_day,
                    files_share=files_share)
    events, truth = simulate(cfg)
    if id_prefix:
        for row in (*events, *truth):
            row["id"] = id_prefix + row["id"]
    _write_jsonl(out, events)
    if labels:
        _write_jsonl(labels, truth)
    counts = Counter(label["kind"] for label in truth)
    err_console.print(f"{len(events)} events over {days} days (seed {seed}): {dict(counts)}")


def _kinds(option: str, value: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds named by ``value`` (comma-separated, 'all' or 'none')."""
    if value == "all":
        return known
    if value == "none":
        return ()
    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    unknown = [k for k in kinds if k not in known]
    if unknown:
        fail_usage(f"{option}: unknown kind {unknown[0]!r} (known: "
                   f"{', '.join(known)}, all, none)")
    return kinds


def _write_jsonl(path: str, rows: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        fail_usage(f"{path}: cannot write ({exc.strerror})")


def replay_command(
    events: Annotated[str, typer.Argument(help="Recorded events (JSON Lines).")],
    policy: PolicyOption = None,
    labels: Annotated[str | None, typer.Option(
        "--labels", help="Ground truth (JSON Lines with id and campaign).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    compare: Annotated[str | None, typer.Option(
        "--compare", help="A second policy file: both replays side by side.")] = None,
    out: Annotated[str | None, typer.Option(
        "--out", help="Write the report to this file instead of stdout.")] = None,
    collateral_report: Annotated[bool, typer.Option(
        "--collateral", help="With --labels: replay with cohort-scoped pauses and with "
                             "whole-type pauses only, and show per label kind the "
                             "legitimate events refused and attack events let through.")
    ] = False,
) -> None:
    """Replay a stream under a policy: breaker pauses per scope and, with labels, their cost.

    The report goes to stdout (or --out); --compare POLICY replays the stream under a
    second policy too and shows the two side by side; --collateral sets scoped pauses
    against whole-type pauses per crowd type and campaign shape."""
    from detector.replay import collateral, collateral_text, compare_text, replay, timeline_text

    for path in (events, labels, compare):
        if path is not None and not Path(path).is_file():
            fail_usage(f"{path}: no such file")

    def run(policy_path: str | None) -> dict[str, Any]:
        try:
            return replay(events, policy_or_exit(policy_path), labels)
        except (ValueError, KeyError) as exc:
            fail_usage(f"{labels or policy_path}: {exc}")
        except UnicodeDecodeError as exc:
            fail_usage(f"{events}: not UTF-8 text ({exc.reason})")

    if collateral_report:
        if labels is None or compare is not None:
            fail_usage("--collateral needs --labels, and does not go with --compare")
        assert labels is not None
        try:
            report = collateral(events, labels, policy_or_exit(policy))
        except (ValueError, KeyError) as exc:
            fail_usage(f"{labels}: {exc}")
        except UnicodeDecodeError as exc:
            fail_usage(f"{events}: not UTF-8 text ({exc.reason})")
        text = json.dumps(report, ensure_ascii=False) if json_output else \
            collateral_text(report)
        _emit(out, text)
        return
    result = run(policy)
    if compare is None:
        text = json.dumps(result, ensure_ascii=False) if json_output else timeline_text(result)
    else:
        other = run(compare)
        names = (Path(policy).name if policy else "shipped", Path(compare).name)
        text = (json.dumps({"policies": list(names), "results": [result, other]},
                           ensure_ascii=False)
                if json_output else compare_text(result, other, names))
    _emit(out, text)


def _emit(out: str | None, text: str) -> None:
    if out is None:
        sys.stdout.write(text + "\n")
        return
    try:
        Path(out).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        fail_usage(f"{out}: cannot write ({exc.strerror})")


def register(app: typer.Typer) -> None:
    app.command("score")(score_command)
    app.command("simulate")(simulate_command)
    app.command("replay")(replay_command)

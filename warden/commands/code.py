"""`warden scan` (CONTRACT section 2) and `warden train` (the code model)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from warden.commands.common import emit_json, err_console, fail_usage, policy_or_exit, require_extra

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def _scan(
    paths: list[Path] = typer.Argument(..., help="sdists, wheels, zips or directories"),
    json_out: bool = typer.Option(False, "--json", help="JSON Lines on stdout"),
    policy: Path | None = typer.Option(
        None, "--policy", help="policy file laid over the shipped one"
    ),
    output_format: str | None = typer.Option(
        None, "--format", help="text (default), json (as --json) or sarif (SARIF 2.1.0 "
        "log on stdout, for code-scanning tools)"),
) -> None:
    """Scan packages for malicious install-time code. Nothing is executed or imported."""
    from detector.code import scan_path

    if output_format not in (None, "text", "json", "sarif"):
        fail_usage(f"--format must be text, json or sarif (got {output_format!r})")
    if json_out and output_format not in (None, "json"):
        fail_usage(f"--json and --format {output_format} disagree; give one")
    json_out = json_out or output_format == "json"
    sarif_out = output_format == "sarif"

    checked = policy_or_exit(policy)
    missing = [p for p in paths if not p.exists() and not p.is_symlink()]
    if missing:
        fail_usage(f"{missing[0]}: no such file or directory")
    results = []
    for path in paths:
        result = scan_path(path, policy=checked)
        if json_out:
            emit_json(result.to_dict())
        results.append(result)
    if sarif_out:
        from warden.sarif import to_sarif

        emit_json(to_sarif(results))
    elif not json_out:
        _print(results)
    unreadable = [r for r in results if r.error and not r.findings and r.score == 0.0]
    if unreadable and len(unreadable) == len(results):
        fail_usage(f"{unreadable[0].path}: {unreadable[0].error}")


def _print(results) -> None:
    for r in results:
        verdict = "[red]FLAGGED[/red]" if r.flagged else "[green]ok[/green]"
        err_console.print(f"[bold]{r.path}[/bold]  score {r.score:.3f}  {verdict}")
        if r.error:
            err_console.print(f"  [yellow]error:[/yellow] {r.error}")
        if r.findings:
            table = Table(show_header=True, header_style="bold")
            for col in ("severity", "rule", "file:line", "tier", "evidence"):
                table.add_column(col, overflow="fold")
            for f in r.findings[:30]:
                where = f"{f.file}:{f.line}" if f.line else f.file
                table.add_row(f.severity, f.rule, where, f.tier, f.evidence)
            err_console.print(table)


def _train(
    malicious: list[Path] | None = typer.Option(
        None, help="malicious samples (.jsonl or .jsonl.gz); repeat for several files"),
    benign: list[Path] | None = typer.Option(
        None, help="benign samples (.jsonl or .jsonl.gz); repeat for several files, e.g. the "
        "shared corpus and scripts/fetch_benign.py's output"),
    out: Path | None = typer.Option(None, help="output folder (default: the shipped models/)"),
    folds: int = typer.Option(5, min=2, help="grouped cross-validation folds"),
    jobs: int = typer.Option(1, min=1, help="processes for feature extraction"),
    seed: int = typer.Option(0),
    limit: int = typer.Option(0, min=0, help="use at most this many samples per class (0: all)"),
    json_out: bool = typer.Option(False, "--json", help="print the metrics as one JSON line"),
    installed: bool | None = typer.Option(
        None, help="add every distribution installed in this virtualenv as a benign whole "
        "package (read from its RECORD as text; default: on when --benign is not given)"),
) -> None:
    """Train the code model on whole uploads, chosen by forward-in-time validation and
    measured by grouped cross-validation too, and write it to models/. Needs the [train]
    extra."""
    require_extra("train", "sklearn", "scipy")
    from detector.code.corpus import CorpusError, read_all, whole_corpus
    from detector.code.installed import CORPUS_MAX_FILES, installed_samples
    from detector.code.train import TrainConfig, train
    from detector.resources import models_path

    default_mal, default_ben = whole_corpus(SHARED)
    mal_paths = malicious or default_mal
    ben_paths = benign or default_ben
    for label, paths in (("malicious", mal_paths), ("benign", ben_paths)):
        for path in paths:
            if not path.is_file():
                fail_usage(f"{path}: {label} corpus not found (pass --{label} FILE)")
    try:
        mal = read_all(mal_paths, 1, max_files=CORPUS_MAX_FILES)
        ben = read_all(ben_paths, 0, max_files=CORPUS_MAX_FILES)
    except CorpusError as exc:
        fail_usage(str(exc))
    sources = [str(p) for p in (*mal_paths, *ben_paths)]
    if installed or (installed is None and not benign):
        extra = list(installed_samples())
        ben += extra
        sources.append("installed")
        err_console.print(f"{len(extra)} installed distributions added as benign whole packages")
    if limit:
        mal, ben = mal[:limit], ben[:limit]
    if not mal or not ben:
        fail_usage(f"{mal_paths if not mal else ben_paths}: no samples")
    out_dir = out or models_path()
    cfg = TrainConfig(folds=folds, seed=seed, jobs=jobs)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console) as bar:
        def progress(label: str, total: int):
            task = bar.add_task(label, total=total)
            return lambda: bar.advance(task)

        try:
            report = train(mal + ben, out_dir, cfg, progress, sources=sources)
        except ValueError as exc:
            fail_usage(str(exc))
    fw = report["forward"]["chosen"]
    f = fw["metrics"]
    err_console.print(
        f"forward-in-time (train before {report['forward']['cutoff']}, test after): "
        f"ROC-AUC {f['roc_auc']:.4f}, recall {f['recall']:.2%} at FPR {f['fpr']:.2%} "
        f"(threshold {f['threshold']:.4f}; chosen C {fw['C']:g}, rule blend {fw['rule_blend']:g})"
    )
    s = report["cv"]["score"]
    err_console.print(
        f"grouped {folds}-fold CV: ROC-AUC {s['roc_auc']:.4f}, recall {s['recall']:.2%} at "
        f"FPR {s['fpr']:.2%} (threshold {s['threshold']:.4f}); model written to {out_dir}"
    )
    if json_out:
        emit_json({k: report[k] for k in ("data", "split", "forward", "cv", "versions")})


def register(app: typer.Typer) -> None:
    app.command("scan")(_scan)
    app.command("train")(_train)

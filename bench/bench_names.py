"""Benchmarks and accuracy figures of the name signal (`warden check-name`).

Needs ../shared (PyPI name lists, the labelled cases, the malicious names). Prints each
figure and saves a plot of the score distributions to bench/out/names_scores.png.

    .venv/bin/python bench/bench_names.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from packaging.utils import canonicalize_name
from rapidfuzz.distance import OSA
from rapidfuzz.process import cdist

from detector.names import BurstMemory, NameChecker, bursts, default_checker, synthetic, training
from detector.names import evaluation as ev
from detector.names.attacks import load_attack_log
from detector.names.normalize import InvalidName, canonical
from detector.names.sweeps import BatchSweeps, apply_sweeps
from detector.policy import Policy, build_policy, load_policy
from detector.popular import PopularCorpus, shipped_corpus

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WARDEN_SHARED", REPO.parent / "shared"))
WARDEN = str(Path(sys.executable).with_name("warden"))
OUT = REPO / "bench" / "out"


def figure(label: str, value: str) -> None:
    print(f"{label:<80} {value}", flush=True)


def all_names() -> list[dict[str, str]]:
    with gzip.open(SHARED / "data" / "pypi_names.tsv.gz", "rt", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def bench_cli(rows: list[dict[str, str]], quick: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "names100k.txt"
        sample.write_text("\n".join(row["name"] for row in rows[:100_000]) + "\n")
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        # One warm-up run fills the index cache, as any second use of the CLI would find it.
        subprocess.run([WARDEN, "check-name", "reqeusts"], capture_output=True, env=env, check=True)
        runs = []
        cpu = []
        for _ in range(1 if quick else 3):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(
                ["taskset", "-c", "0", WARDEN, "check-name", "--file", str(sample), "--json"],
                stdout=subprocess.PIPE,
                env=env,
                check=True,
            )
            runs.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            lines = done.stdout.count(b"\n")
        best = min(runs)
        figure("check-name --file, 100,000 names, one core: wall seconds (best)", f"{best:.2f}")
        figure(
            "check-name --file, 100,000 names, one core: names/s (wall; goal 50,000)",
            f"{lines / best:,.0f}",
        )
        figure(
            "check-name --file, 100,000 names: names per CPU-second (whole process)",
            f"{lines / min(cpu):,.0f}",
        )
        if not quick:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(
                [
                    WARDEN,
                    "check-name",
                    "--file",
                    str(SHARED / "data" / "pypi_names.tsv.gz"),
                    "--json",
                ],
                stdout=subprocess.PIPE,
                env=env,
                check=True,
            )
            elapsed = time.perf_counter() - start
            count = done.stdout.count(b"\n")
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            figure(
                f"check-name --file, all {count:,} PyPI names: wall / CPU seconds (goal < 20)",
                f"{elapsed:.1f} / {used:.1f}",
            )


def bench_latency(rows: list[dict[str, str]]) -> None:
    checker = default_checker()
    rng = np.random.default_rng(7)
    picks = [rows[i]["name"] for i in rng.choice(len(rows), 3000, replace=False)]
    for name in picks[:200]:
        checker.check(name)
    timings = []
    cpu = []
    for name in picks:
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        checker.check(name)
        timings.append((time.perf_counter_ns() - start) / 1e6)
        cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
    for label, values in (("wall", timings), ("CPU", cpu)):
        values.sort()
        figure(
            f"single-name latency, Python API ({label}): p50 ms", f"{values[len(values) // 2]:.3f}"
        )
        figure(
            f"single-name latency, Python API ({label}): p99 ms",
            f"{values[int(len(values) * 0.99)]:.3f}",
        )


def live_unpopular(rows: list[dict[str, str]]) -> list[str]:
    return [
        row["name"] for row in rows if not row["rank"] and row["latest_release_month"] >= "2025-01"
    ]


def bench_alerts(rows: list[dict[str, str]]) -> dict[str, list[float]]:
    checker = default_checker()
    live = live_unpopular(rows)
    results = checker.check_many(live)
    flagged = [r.flagged for r in results]
    held_out = [zlib.crc32(name.encode()) % 2 == 1 for name in live]
    rate_all = sum(flagged) / len(live)
    held = [f for f, h in zip(flagged, held_out, strict=True) if h]
    figure(f"alert rate, live unpopular names (all {len(live):,})", f"{rate_all:.3%}")
    figure(
        f"alert rate, held-out half not used to fit weights ({len(held):,})",
        f"{sum(held) / len(held):.3%}",
    )
    return {"live unpopular names": [r.score for r in results]}


def _cases() -> list[dict[str, str]]:
    with open(SHARED / "research" / "registry-cases.tsv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def _target_corpus(targets: set[str], rank: int) -> PopularCorpus:
    names = sorted(targets)
    return PopularCorpus.from_names(names, ranks=[rank] * len(names), version="cases")


def bench_typogard() -> None:
    """Recall on TypoGard's historical attacks, the anchors' way: the corpus is every target
    named in that ecosystem's rows, the row's own name left out. The cases carry no download
    rank, so every target is given one rank (reported for two choices)."""
    cases = _cases()
    for ecosystem, total_anchor in (("pypi", "10/18"), ("npm", "153/259")):
        targets = {
            canonicalize_name(row["target"])
            for row in cases
            if row["ecosystem"] == ecosystem and row["target"] and not row["target"].startswith("@")
        }
        rows = [
            r for r in cases if r["source"] == "typogard-historical" and r["ecosystem"] == ecosystem
        ]
        for rank in (1, 100, 1000):
            checker = NameChecker(_target_corpus(targets, rank), ecosystem=ecosystem)
            hits = 0
            for row in rows:
                try:
                    own = canonical(row["name"])
                except InvalidName:
                    continue  # npm scoped names are not valid PyPI names: counted as missed
                if own in checker.corpus:
                    loo = NameChecker(_target_corpus(targets - {own}, rank), ecosystem=ecosystem)
                    result = loo.check(row["name"])
                else:
                    result = checker.check(row["name"])
                hits += result.flagged
            figure(
                f"TypoGard historical {ecosystem}, targets ranked {rank}: flagged"
                f" (TypoSnyper {total_anchor})",
                f"{hits}/{len(rows)}",
            )


def bench_malicious() -> dict[str, list[float]]:
    corpus = shipped_corpus()
    popular = list(corpus.ranks)
    with open(SHARED / "corpus" / "malicious_names.tsv", encoding="utf-8") as handle:
        names = sorted(
            {canonicalize_name(r["name"]) for r in csv.DictReader(handle, delimiter="\t")}
        )
    names = [n for n in names if n not in corpus]
    distances = cdist(
        names, popular, scorer=OSA.distance, score_cutoff=2, dtype=np.uint8, workers=2
    )
    nearest = distances.min(axis=1)
    eligible = [
        name
        for name, d in zip(names, nearest.tolist(), strict=True)
        if (d == 1 and len(name) >= 5) or (d == 2 and len(name) >= 8)
    ]
    results = default_checker().check_many(eligible)
    hits = sum(r.flagged for r in results)
    figure(
        "malicious names within DL1 (5+) / DL2 (8+) of a popular name: flagged",
        f"{hits}/{len(eligible)} = {hits / len(eligible):.1%}",
    )
    weights = json.loads((REPO / "data" / "name_weights.json").read_text())
    cv = weights.get("training", {}).get("grouped_cv_recall_at_alert_rate")
    if cv:
        figure(
            "  same, grouped-by-target cross-validation of the weights (mean of 5 folds)",
            f"{statistics.mean(cv):.1%}",
        )
    return {"malicious names (eligible)": [r.score for r in results]}


def bench_not_squats() -> None:
    checker = default_checker()
    cases = [r for r in _cases() if r["ecosystem"] == "pypi"]
    for label, rows in (
        ("PyPI squat rows (registry-cases.tsv)", [r for r in cases if r["expected"] == "squat"]),
        ("PyPI not-squat rows", [r for r in cases if r["expected"] == "not-squat"]),
        (
            "  of which pypi-top-pairs (both popular)",
            [r for r in cases if r["source"] == "pypi-top-pairs"],
        ),
    ):
        flagged = sum(result.flagged for result in checker.check_many([r["name"] for r in rows]))
        figure(f"{label}: flagged with the shipped corpus", f"{flagged}/{len(rows)}")


def bench_forward() -> dict[str, list[float]]:
    """The issue-14 figures, measured on names first seen (or last released) from the cut on,
    with the alert threshold set on the later live names. Three models: the shipped weights
    (fitted on every malicious name, the later ones included: an optimistic figure), and two
    fitted only on what was known before the cut, without and with the attack history and
    combosquat check. Returns the scores of the shipped model for the plot."""
    malicious = ev.read_malicious(SHARED / "corpus" / "malicious_names.tsv")
    live_before, later_live = ev.split_live(ev.read_live(SHARED / "data" / "pypi_names.tsv.gz"))
    _, later_malicious = ev.split_malicious(malicious)
    shipped = default_checker()
    popular = list(shipped.corpus.ranks)
    typo = ev.typosquats(later_malicious, popular)
    combo = ev.combosquats(later_malicious, popular)
    first, last = ev.busiest_week([row for row in malicious if row.first_seen >= ev.CUT])
    seen = {row.name: row.first_seen for row in malicious}
    outside = [i for i, name in enumerate(typo) if not first <= seen[name] <= last]
    figure(
        f"forward split at {ev.CUT}: later typosquats / combosquats / live unpopular names",
        f"{len(typo):,} / {len(combo):,} / {len(later_live):,}",
    )
    models = [("shipped weights (fitted on all years)", shipped)]
    options: list[tuple[str, dict]] = [
        ("fitted before the cut", {"combos": False, "history": False, "words": False}),
        ("fitted before, + history, combos", {"combos": True, "history": True, "words": False}),
        # Made-up typos of popular names join the positives (detector/names/synthetic.py).
        (
            "fitted before, + made-up typos",
            {"combos": False, "history": False, "words": False, "made_up": synthetic.COUNT},
        ),
        # Word statistics and affix odds (detector/names/lexicon.py) from before the cut, with
        # combosquats looked for on every popular name of 4+ characters.
        (
            "fitted before, + words, combos on every popular name",
            {"combos": True, "history": False, "words": True, "combo_scope": "all"},
        ),
    ]
    for label, extra in options:
        run = training.forward(malicious, live_before, **extra)
        models.append((label, run.checker))
    plotted: dict[str, list[float]] = {}
    for label, checker in models:
        print(f"-- {label}", flush=True)
        negative = [r.score for r in checker.check_many(later_live)]
        typo_scores = [r.score for r in checker.check_many(typo)]
        combo_scores = [r.score for r in checker.check_many(combo)]
        for rate, goal in ((0.003, "85%"), (0.01, "95%")):
            recall, threshold = ev.recall_at_alert_rate(typo_scores, negative, rate)
            combo_recall, _ = ev.recall_at_alert_rate(combo_scores, negative, rate)
            figure(
                f"forward typo / combo recall, alerting on <= {rate:.1%} of later live"
                f" (goals {goal} / 60%)",
                f"{recall:.1%} / {combo_recall:.1%} (score >= {threshold:.4f})",
            )
        cells = [
            f"{ev.recall_at_alert_rate([typo_scores[i] for i in outside], negative, rate)[0]:.1%}"
            for rate in (0.003, 0.01)
        ]
        figure(
            f"  same, typosquats outside the busiest week {first}..{last}"
            f" ({len(outside):,} of {len(typo):,}) @0.3% / @1%",
            " / ".join(cells),
        )
        auc = ev.roc_auc(typo_scores, negative)
        figure("forward ROC-AUC, typosquats vs later live names (goal 0.995)", f"{auc:.4f}")
        alerting = sum(s >= checker.threshold for s in negative) / len(negative)
        caught = sum(s >= checker.threshold for s in typo_scores) / len(typo)
        figure(
            f"at threshold {checker.threshold}: later live names alerting / typosquats flagged",
            f"{alerting:.3%} / {caught:.1%}",
        )
        flagged = sum(r.flagged for r in checker.check_many(popular))
        figure(
            "leave-one-out: popular names flagged against the others (goal <= 0.5%)",
            f"{flagged}/{len(popular)} = {flagged / len(popular):.2%}",
        )
        if not plotted:
            plotted = {
                "later live unpopular names": negative,
                "later typosquats": typo_scores,
                "later combosquats": combo_scores,
            }
    weights = json.loads((REPO / "data" / "name_weights.json").read_text())
    cv = weights.get("training", {}).get("grouped_cv_recall_at_alert_rate")
    if cv:
        figure(
            "(for comparison) grouped-by-target cross-validation recall of the shipped weights",
            f"{statistics.mean(cv):.1%}",
        )
    return plotted


def _day(date: str) -> float:
    return datetime.fromisoformat(date[:10]).replace(tzinfo=UTC).timestamp()


def _month_times(later_live: list[str], month: dict[str, str], key: Any) -> list[float]:
    """Each later live name placed in its latest-release month, the month's names spread
    evenly over its 30 days in the order of ``key``: names sorted by name (or by name
    reversed) put a family's names (`acme-core`, `acme-cli`...) on the same day, the worst
    case for bursts, which look for shared starts and ends."""
    by_month: dict[str, list[int]] = {}
    for i, name in enumerate(later_live):
        by_month.setdefault(month[name], []).append(i)
    times = [0.0] * len(later_live)
    for when, members in by_month.items():
        start = _day(when + "-01")
        members.sort(key=lambda i: key(later_live[i]))
        for j, i in enumerate(members):
            times[i] = start + 30 * 86400 * j / len(members)
    return times


def _without_bursts() -> Policy:
    """Sweeps alone: bursts (with runs, grids and pairs), echoes and recent attacks off."""
    return _with_names(burst_boost=0.0, echo_min_score=0.0, attack_boost=0.0)


def _with_names(**names: Any) -> Policy:
    tables = load_policy().to_dict()
    tables["names"].update(names)
    return build_policy(tables)


def bench_sweeps() -> None:
    """Issue 14 item 3, on the forward split: what sweeps (and bursts) add at the live-alert
    budgets.

    Malicious names first seen from the cut on carry a day, no time: each is placed at
    the start of its first_seen day, so with the 24 h window a squat's siblings are the
    squats of the same target first seen that day or the day before. Live names carry
    only their latest-release month, 30 times the window, so grouping them by month would
    make every same-target pair of a month siblings (far too pessimistic) and gives no
    order. Instead they arrive at random times spread over the later period at the rate
    they hold (each later live name once), and three times that rate, as a registry
    whose new projects arrive independently of each other would see them: their sweeps
    are chance siblings. Bursts (shared pieces) are also measured with each month's live
    names spread over the month sorted by name and by reversed name, so that families
    sharing a start or an end arrive together. The alert budgets are then set on the live
    scores with sweeps, so the recall figures carry the sweeps' false-alert cost. The
    piece counts bursts weigh are built from the live names before the cut.
    """
    malicious = ev.read_malicious(SHARED / "corpus" / "malicious_names.tsv")
    live_rows = ev.read_live(SHARED / "data" / "pypi_names.tsv.gz")
    live_before, later_live = ev.split_live(live_rows)
    month = {row.name: row.month for row in live_rows}
    later = [row for row in malicious if row.first_seen >= ev.CUT]
    shipped = default_checker()
    popular = list(shipped.corpus.ranks)
    typo = set(ev.typosquats([row.name for row in later], popular))
    combo = set(ev.combosquats([row.name for row in later], popular))
    typo_at = [i for i, row in enumerate(later) if row.name in typo]
    combo_at = [i for i, row in enumerate(later) if row.name in combo]
    days = [_day(row.first_seen) for row in later]
    first, last = ev.busiest_week(later)
    # The later live names arrive from the cut on, when the later malicious names do (in
    # the mixed windows below they share windows; before 2026-12-05 they arrived from 1970
    # on, so the "same windows" held no live name: the mixed figures were those apart).
    cut_at = _day(ev.CUT)
    span = _day("2026-12-01") - cut_at  # to the end of the live list's last month
    cfg = load_policy().names
    plain = _without_bursts()
    stats = bursts.PieceCounts.build(live_before)
    figure(
        f"sweeps, forward split: window {cfg.sweep_window_hours:g} h, boost {cfg.sweep_boost:g}"
        f" (logit), members scoring >= {cfg.sweep_min_score:g} alone",
        f"{len(later):,} later malicious names on {len(set(days)):,} days",
    )
    figure(
        f"bursts: pieces of {cfg.burst_piece_min}-{cfg.burst_piece_max} characters shared"
        f" by >= {cfg.burst_min_names} others and >= {cfg.burst_min_ratio:g}x chance or"
        f" beyond {cfg.burst_significant_ratio:g}x chance at P < {cfg.burst_significance:g},"
        " after a leading ecosystem word, both"
        f" ends, crossed; boost {cfg.burst_boost:g}, members >= {cfg.burst_min_score:g} or a"
        f" glued popular name (floor {cfg.burst_glued_floor:g})",
        f"piece counts of {stats.names:,} live names before the cut",
    )
    figure(
        f"runs: a popular name glued at one end by >= {cfg.run_min_names} others of the last"
        f" {cfg.run_window_days:g} days, beyond {cfg.run_ratio:g}x its share of live names"
        f" (or of the {cfg.run_baseline_days:g} days before, if higher) at"
        f" P < {cfg.run_significance:g}; the stronger of a burst and a run",
        f"glued counts of {len(stats.glued):,} popular names before the cut",
    )
    figure(
        f"grids, for members no burst or run raised: >= {cfg.grid_min_squares} squares"
        " (another start of a member's end and another end of its start making a name of"
        f" the window), pieces of >= {cfg.grid_piece_min} characters, names without"
        f" separators of <= {cfg.grid_name_max}",
        f"first {cfg.grid_crossed_max} others of each piece; bursts' window",
    )
    figure(
        "pairs, for members nothing else raised: two popular names joined by a separator,"
        " crossed, the window's other pairs >= "
        f"{cfg.pair_min_names} at P < {cfg.pair_significance:g} at their live share; a"
        f" popular name and a word joining popular names in >= {cfg.pair_shared_names}"
        " others",
        f"{stats.pairs:,} of {stats.names:,} live names before the cut are pairs",
    )
    figure(
        "echoes, on top: a name with a match one edit (without separators) from a name of"
        f" its sweep window scoring >= {cfg.echo_min_score:g}, both of >="
        f" {cfg.echo_name_min} characters, takes that score",
        "twins indexed by deletion keys",
    )
    log = load_attack_log()
    figure(
        "recent attacks, last: a name whose best match's target known malicious names"
        f" squatted in the {cfg.attack_window_days:g} days before it (more than"
        f" {cfg.attack_lag_days:g} day before) gains {cfg.attack_boost:g} x n / (n +"
        f" {cfg.attack_half_names:g}) on its logit",
        f"attack log to {log.as_of}: {sum(map(len, log.days.values())):,} squats of"
        f" {len(log.days):,} popular names",
    )
    models = [
        ("shipped weights", shipped),
        ("fitted before the cut",
         training.forward(malicious, live_before, combos=False, history=False).checker),
    ]
    for label, checker in models:
        print(f"-- sweeps, {label}", flush=True)
        mal = checker.check_many([row.name for row in later])
        live = checker.check_many(later_live)
        swept = apply_sweeps(mal, days, plain)
        burst = apply_sweeps(mal, days, pieces=stats)
        figure(
            "  later malicious names raised by a sweep / typosquats among them",
            f"{sum(r.sweep is not None for r in swept):,} / "
            f"{sum(swept[i].sweep is not None for i in typo_at):,} of {len(typo_at):,}",
        )
        figure(
            "  later malicious names raised by a burst / typosquats / combosquats among them",
            f"{sum(_burst(r) for r in burst):,} / {sum(_burst(burst[i]) for i in typo_at):,}"
            f" / {sum(_burst(burst[i]) for i in combo_at):,}",
        )
        figure(
            "  later malicious names raised by a run / typosquats / combosquats among them",
            f"{sum(_run(r) for r in burst):,} / {sum(_run(burst[i]) for i in typo_at):,}"
            f" / {sum(_run(burst[i]) for i in combo_at):,}",
        )
        figure(
            "  later malicious names raised by a grid / typosquats / combosquats among them",
            f"{sum(_grid(r) for r in burst):,} / {sum(_grid(burst[i]) for i in typo_at):,}"
            f" / {sum(_grid(burst[i]) for i in combo_at):,}",
        )
        figure(
            "  later malicious names raised by a pair / typosquats / combosquats among them",
            f"{sum(_pair(r) for r in burst):,} / {sum(_pair(burst[i]) for i in typo_at):,}"
            f" / {sum(_pair(burst[i]) for i in combo_at):,}",
        )
        figure(
            "  later malicious names raised by an echo / typosquats / combosquats among them",
            f"{sum(_echo(r) for r in burst):,} / {sum(_echo(burst[i]) for i in typo_at):,}"
            f" / {sum(_echo(burst[i]) for i in combo_at):,}",
        )
        figure(
            "  later malicious names raised by a recent attack / typosquats / combosquats"
            " among them",
            f"{sum(_attack(r) for r in burst):,} / {sum(_attack(burst[i]) for i in typo_at):,}"
            f" / {sum(_attack(burst[i]) for i in combo_at):,}",
        )
        neg = [r.score for r in live]
        orders: list[tuple[str, list[float]]] = []
        for factor in (1, 3):
            rng = np.random.default_rng(14)
            orders.append((f"at random, {factor}x their rate"
                           f" ({len(live) / (span / factor / 86400):,.0f}/day)",
                           (cut_at + rng.uniform(0.0, span / factor, len(live))).tolist()))
        orders.append(("each month sorted by name",
                       _month_times(later_live, month, lambda name: name)))
        orders.append(("each month sorted by reversed name",
                       _month_times(later_live, month,
                                    lambda name: name.replace("-", "")[::-1])))
        # The malicious names in the same windows as the live names at random (1x), as a
        # registry sees them: the live names weigh in every window's size and pieces.
        mixed = apply_sweeps([*mal, *live], [*days, *orders[0][1]], pieces=stats)
        mixed_mal, mixed_neg = mixed[: len(mal)], [r.score for r in mixed[len(mal):]]
        cells = []
        for rate in (0.003, 0.01):
            pair = [ev.recall_at_alert_rate([mixed_mal[i].score for i in subset], mixed_neg,
                                            rate)[0] for subset in (typo_at, combo_at)]
            cells.append(" / ".join(f"{recall:.1%}" for recall in pair))
        line_at_1pct = ev.recall_at_alert_rate([], mixed_neg, 0.01)[1]
        figure("  malicious and live names (at random, 1x) in the same windows: typo / combo"
               " recall with sweeps, bursts, runs, grids, pairs, echoes and recent attacks"
               " @0.3%; @1%",
               "; ".join(cells))
        figure("  the same, live names raised above the 1% line by recent attacks",
               f"{sum(_attack(r) and r.score >= line_at_1pct for r in mixed[len(mal):]):,}"
               f" of {len(live):,}")
        # A feed that lists malicious names later than a day.
        lagged = []
        for lag in (3.0, 7.0):
            again = apply_sweeps([*mal, *live], [*days, *orders[0][1]],
                                 _with_names(attack_lag_days=lag), pieces=stats)
            negative = [r.score for r in again[len(mal):]]
            recalls = [ev.recall_at_alert_rate([again[i].score for i in typo_at], negative,
                                               rate)[0] for rate in (0.003, 0.01)]
            lagged.append(f"{lag:g} days: " + " / ".join(f"{r:.1%}" for r in recalls))
        figure("  the same, typo recall @0.3% / @1% with the attack log's lag at",
               "; ".join(lagged))
        for order, times in orders:
            live_swept = apply_sweeps(live, times, plain)
            live_burst = apply_sweeps(live, times, pieces=stats)
            figure(
                f"  live names {order}: raised by sweeps / bursts / runs / grids / pairs /"
                " echoes / attacks;"
                " alerting at the threshold, without -> sweeps -> + bursts, runs, grids,"
                " pairs, echoes and attacks",
                f"{sum(r.sweep is not None for r in live_swept) / len(live):.3%} /"
                f" {sum(_burst(r) for r in live_burst) / len(live):.3%} /"
                f" {sum(_run(r) for r in live_burst) / len(live):.4%} /"
                f" {sum(_grid(r) for r in live_burst) / len(live):.4%} /"
                f" {sum(_pair(r) for r in live_burst) / len(live):.4%} /"
                f" {sum(_echo(r) for r in live_burst) / len(live):.4%} /"
                f" {sum(_attack(r) for r in live_burst) / len(live):.4%};"
                f" {sum(r.flagged for r in live) / len(live):.3%} ->"
                f" {sum(r.flagged for r in live_swept) / len(live):.3%} ->"
                f" {sum(r.flagged for r in live_burst) / len(live):.3%}",
            )
            neg_swept = [r.score for r in live_swept]
            neg_burst = [r.score for r in live_burst]
            for rate, goal in ((0.003, "85%"), (0.01, "95%")):
                cells = []
                for subset in (typo_at, combo_at):
                    was, _ = ev.recall_at_alert_rate([mal[i].score for i in subset], neg, rate)
                    now, _ = ev.recall_at_alert_rate([swept[i].score for i in subset],
                                                     neg_swept, rate)
                    then, _ = ev.recall_at_alert_rate([burst[i].score for i in subset],
                                                      neg_burst, rate)
                    cells.append(f"{was:.1%} -> {now:.1%} -> {then:.1%}")
                figure(
                    f"    typo / combo recall at <= {rate:.1%} of live alerting (goal {goal}),"
                    " without -> sweeps -> + bursts, runs, grids, pairs, echoes and attacks",
                    " / ".join(cells),
                )
            # One generator's week holds 194 of the 497 combosquats: the figures apart.
            for subset, kind in ((typo_at, "typo"), (combo_at, "combo")):
                inside = [i for i in subset if first <= later[i].first_seen[:10] <= last]
                outside = [i for i in subset if i not in set(inside)]
                recalls = [ev.recall_at_alert_rate([burst[i].score for i in part], neg_burst,
                                                   rate)[0]
                           for part in (inside, outside) for rate in (0.003, 0.01)]
                cells = [f"{recall:.1%}" for recall in recalls]
                figure(f"    {kind} recall with sweeps, bursts, runs, grids, pairs, echoes and"
                       " attacks"
                       f" @0.3% / @1%: in the busiest week {first}..{last} ({len(inside)})"
                       f" / outside ({len(outside)})",
                       f"{cells[0]} / {cells[1]}; {cells[2]} / {cells[3]}")
            aucs = [ev.roc_auc([scores[i].score for i in typo_at], negative)
                    for scores, negative in ((mal, neg), (swept, neg_swept),
                                             (burst, neg_burst))]
            figure("    typo ROC-AUC, without -> sweeps -> + bursts, runs, grids, pairs, echoes"
                   " and attacks",
                   " -> ".join(f"{auc:.4f}" for auc in aucs))
    # Speed: the grouping check-name --file adds, on 100,000 live names (O(n)). Without
    # times, as if one window (the worst case for sweeps; bursts stop counting past
    # sweep_batch_names names); with one time for all, the worst case for bursts.
    results = shipped.check_many(later_live[:100_000])
    for label, ts in (("without times", None), ("all at one time", 0.0)):
        start = time.process_time()
        batch = BatchSweeps()
        for position, result in enumerate(results):
            if result.matches:
                batch.add(position, result, ts)
            else:
                batch.note(position, result.normalized, ts)
        changed = batch.resolve(cfg.sweep_batch_names)
        figure(
            f"sweep and burst grouping of 100,000 check results as one window, {label}"
            " (check-name --file): CPU s",
            f"{time.process_time() - start:.3f} ({len(changed):,} raised)",
        )
    bench_hostile_bursts(shipped)


def bench_hostile_bursts(checker: NameChecker) -> None:
    """Red team: names built so that every one is a burst member whose two pieces its
    whole window shares (`zzq` + six random letters + `control`, the popular name glued),
    the worst case of the crossed test, in a timed batch and in a stream. Both must stay
    linear in the names (a scan of a piece's carriers per member was quadratic: 8,000
    such names took 79 CPU-s)."""
    rng = np.random.default_rng(5)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    names = ["zzq" + "".join(rng.choice(letters, 6)) + "control" for _ in range(100_000)]
    results = checker.check_many(names)
    for label, spacing in (("all at one time", 0.0), ("one a second", 1.0)):
        start = time.process_time()
        apply_sweeps(results, [i * spacing for i in range(len(results))])
        figure(f"hostile bursts: 100,000 names sharing their two pieces, {label}, timed batch:"
               " CPU s", f"{time.process_time() - start:.2f}")
    memory = BurstMemory(load_policy().names)
    start = time.process_time()
    for i, name in enumerate(names[:60_000]):
        memory.observe(name, float(i), 0.0)
    figure("hostile bursts: 60,000 such names one a second through the stream's BurstMemory"
           " (window capped at 50,000): CPU s", f"{time.process_time() - start:.2f}")


def _burst(result: Any) -> bool:
    return result.sweep is not None and "burst" in result.sweep


def _run(result: Any) -> bool:
    return result.sweep is not None and "run" in result.sweep


def _attack(result: Any) -> bool:
    return result.sweep is not None and "attack" in result.sweep


def _echo(result: Any) -> bool:
    return bool(result.sweep and "echo" in result.sweep)


def _pair(result: Any) -> bool:
    return bool(result.sweep and "pair" in result.sweep)


def _grid(result: Any) -> bool:
    return result.sweep is not None and "grid" in result.sweep


def plot_roc(scores: dict[str, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    negative = np.sort(np.asarray(scores["later live unpopular names"]))[::-1]
    fig, ax = plt.subplots(figsize=(6, 4))
    rates = np.geomspace(1e-4, 0.1, 60)
    for label in ("later typosquats", "later combosquats"):
        recalls = [ev.recall_at_alert_rate(scores[label], negative, r)[0] for r in rates]
        ax.plot(rates * 100, np.asarray(recalls) * 100, label=label)
    for rate in (0.3, 1.0):
        ax.axvline(rate, color="grey", linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("later live unpopular names alerting (%)")
    ax.set_ylabel("recall (%)")
    ax.set_title(f"Shipped weights, measured on names from {ev.CUT} on")
    ax.legend(fontsize=8)
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "names_forward.png", dpi=110)
    figure("plot", str(OUT / "names_forward.png"))


def plot(scores: dict[str, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, 1, 41)
    for label, values in scores.items():
        matched = [v for v in values if v > 0]
        ax.hist(
            matched,
            bins=bins,
            alpha=0.6,
            density=True,
            label=f"{label} (score > 0: {len(matched):,})",
        )
    threshold = default_checker().threshold
    ax.axvline(threshold, color="black", linestyle="--", label=f"flag threshold {threshold}")
    ax.set_xlabel("name score")
    ax.set_ylabel("density")
    ax.set_title("Warden name scores")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "names_scores.png", dpi=110)
    figure("plot", str(OUT / "names_scores.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one CLI run, no full-list run")
    parser.add_argument("--accuracy", action="store_true", help="only the accuracy figures")
    parser.add_argument("--speed", action="store_true", help="no forward or anchor figures")
    parser.add_argument("--sweeps", action="store_true", help="only the sweep figures")
    args = parser.parse_args()
    if not (SHARED / "data" / "pypi_names.tsv.gz").is_file():
        print(f"skipped: {SHARED} is not present")
        return
    if args.sweeps:
        bench_sweeps()
        return
    if not args.speed:
        forward = bench_forward()
        plot_roc(forward)
        bench_sweeps()
        bench_typogard()
    if args.accuracy:
        return
    rows = all_names()
    bench_cli(rows, args.quick)
    bench_latency(rows)
    scores = bench_alerts(rows)
    scores.update(bench_malicious())
    bench_not_squats()
    plot(scores)


if __name__ == "__main__":
    main()

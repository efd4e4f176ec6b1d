"""Stream benchmark: detection latency, flag rates, breaker trips, speed and memory.

Runs ``warden simulate``'s generator for several seeds (90 days each by
default), scores every stream with the shipped policy and prints, per seed and
overall:

* detection latency of every campaign of 20+ accounts: minutes from its 10th
  registration (account or project) to its first flagged event, and to its
  first event linked into a campaign;
* share of campaign events flagged (review or block) and of baseline events flagged;
* breaker trips: false trips (most flagged registrations behind them are
  baseline), and whether each fast wave tripped the breaker;
* time to score a 365-day stream (in a child process), its CPU split into the scorer
  itself, the name checks and the code scanner, and the peak memory of both processes.

Usage: ``.venv/bin/python bench/bench_stream.py [--seeds 1 2 3 4 5] [--days 90]
[--year-days 365] [--skip-year] [--plot docs/stream_timeline.png]
[--year-policy FILE | --year-scan-code all|young|none]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from statistics import median
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from detector.replay import replay
from detector.stream.events import parse_ts
from detector.stream.simulate import SimConfig, simulate

console = Console(stderr=True)
FAST = {"typosquat-waves", "sleeper", "account-flood"}


def campaign_figures(
    events: list[dict[str, Any]],
    labels: list[dict[str, Any]],
    scored: list[dict[str, Any]],
    timeline: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Per labelled campaign: size, 10th registration, detection and grouping latency, trips."""
    decisions = {d["id"]: d for d in scored if "id" in d and "decision" in d}
    members: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for event, label in zip(events, labels, strict=True):
        if label["campaign"]:
            members[label["campaign"]].append((event, label))
    owners = trip_owners(events, labels, scored, timeline)
    rows = []
    for name, items in members.items():
        accounts = {e["account"]["username"] for e, _ in items}
        registrations = [e for e, _ in items if e["type"] in ("account.created", "project.created")]
        t10 = parse_ts(registrations[min(9, len(registrations) - 1)]["ts"])
        flagged = [parse_ts(e["ts"]) for e, _ in items if decisions[e["id"]]["decision"] != "allow"]
        grouped = [parse_ts(e["ts"]) for e, _ in items if decisions[e["id"]]["campaign"]]
        rows.append(
            {
                "campaign": name,
                "kind": items[0][1]["kind"],
                "accounts": len(accounts),
                "events": len(items),
                "flagged": len(flagged),
                "detect_min": None if not flagged else max(0.0, (min(flagged) - t10) / 60),
                "group_min": None if not grouped else max(0.0, (min(grouped) - t10) / 60),
                "tripped": owners.get(name, 0),
            }
        )
    return rows


def trip_owners(
    events: list[dict[str, Any]],
    labels: list[dict[str, Any]],
    scored: list[dict[str, Any]],
    timeline: list[dict[str, Any]],
    lookback: float = 6 * 3600,
) -> Counter[str]:
    """Pauses per labelled campaign: each pause goes to the campaign owning most of the
    flagged registrations of its scope in the lookback before it (none: a false trip)."""
    flagged = {d["id"] for d in scored if d.get("decision") not in (None, "allow")}
    log: dict[str, list[tuple[float, str | None]]] = defaultdict(list)
    for event, label in zip(events, labels, strict=True):
        if event["id"] in flagged:
            log[event["type"]].append((parse_ts(event["ts"]), label["campaign"]))
    owners: Counter[str] = Counter()
    for pause in timeline:
        start = parse_ts(pause["start"])
        recent = Counter(c for ts, c in log[pause["scope"]] if start - lookback <= ts <= start)
        if recent:
            top, _ = recent.most_common(1)[0]
            if top is not None:
                owners[top] += 1
    return owners


def run_seed(seed: int, days: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    events, labels = simulate(SimConfig(days=days, seed=seed))
    sim_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = replay(events, labels=labels, keep_decisions=True)
    score_s = time.perf_counter() - t0
    scored = result["scored"]
    by_id = {d["id"]: d for d in scored if "decision" in d}
    base = [by_id[e["id"]] for e, lab in zip(events, labels, strict=True) if not lab["campaign"]]
    camp = [by_id[e["id"]] for e, lab in zip(events, labels, strict=True) if lab["campaign"]]
    rows = campaign_figures(events, labels, scored, result["timeline"])
    return {
        "seed": seed,
        "events": len(events),
        "sim_s": sim_s,
        "score_s": score_s,
        "baseline_flagged": sum(d["decision"] != "allow" for d in base),
        "baseline": len(base),
        "campaign_flagged": sum(d["decision"] != "allow" for d in camp),
        "campaign": len(camp),
        "false_trips": result["false_trips"],
        "trips": len(result["timeline"]),
        "let_through": result["campaign_events_let_through"],
        "legit_held": result["legitimate_events_held"],
        "rows": rows,
        "timeline": result["timeline"],
        "events_list": events,
        "labels": labels,
        "scored": scored,
    }


def year_child(path: str, policy: str | None) -> None:
    """In a fresh child process: score a stream file as `warden score` does; print
    the time, the CPU split (scorer, name checks, code scanning) and the peak
    resident memory of the scorer process and of its worker."""
    from detector.policy import load_policy
    from detector.stream.scorer import StreamScorer, score_lines

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    scorer = StreamScorer(load_policy(policy))
    with open(path, encoding="utf-8") as handle:
        n = sum(1 for out in score_lines(handle, scorer=scorer) if "decision" in out)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    stats = scorer.stats()
    print(
        json.dumps(
            {
                "events": n,
                "seconds": elapsed,
                "cpu_main": cpu,
                "cpu_worker": children.ru_utime + children.ru_stime,
                "cpu_code_scan": stats["code_scan_cpu_seconds"],
                "code_scans": stats["code_scans"],
                "cpu_names": stats["name_check_cpu_seconds"],
                "name_checks": stats["name_checks"],
                "peak_rss_mb": peak_rss_mb(),
                "worker_peak_rss_mb": children.ru_maxrss / 1024,
            }
        )
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory. From /proc (VmHWM) where there is one:
    Linux carries getrusage's ru_maxrss over exec, so a child started by a parent
    holding the 90-day results would report the parent's size (as earlier runs did)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plot(seed_result: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events, labels, scored = (
        seed_result["events_list"],
        seed_result["labels"],
        seed_result["scored"],
    )
    by_id = {d["id"]: d for d in scored if "decision" in d}
    start = parse_ts(events[0]["ts"])
    hourly: dict[str, Counter[int]] = defaultdict(Counter)
    for event, label in zip(events, labels, strict=True):
        hour = int((parse_ts(event["ts"]) - start) // 3600)
        kind = "campaign" if label["campaign"] else "baseline"
        flagged = by_id[event["id"]]["decision"] != "allow"
        hourly[f"{kind} {'flagged' if flagged else 'allowed'}"][hour] += 1
    hours = range(max(max(c) for c in hourly.values() if c) + 1)
    fig, ax = plt.subplots(figsize=(12, 4))
    for key, colour in (
        ("baseline allowed", "#bbbbbb"),
        ("baseline flagged", "#ff7f0e"),
        ("campaign allowed", "#d62728"),
        ("campaign flagged", "#1f77b4"),
    ):
        ax.plot(
            [h / 24 for h in hours],
            [hourly[key][h] for h in hours],
            label=key,
            color=colour,
            linewidth=0.8,
        )
    for pause in seed_result["timeline"]:
        s = (parse_ts(pause["start"]) - start) / 86400
        e = (parse_ts(pause["end"]) - start) / 86400 if pause["end"] else s + 1
        ax.axvspan(s, e, color="#2ca02c" if pause["true_trip"] else "#9467bd", alpha=0.15)
    ax.set_yscale("symlog")
    ax.set_xlabel("day")
    ax.set_ylabel("events per hour")
    ax.set_title(f"seed {seed_result['seed']}: events per hour; shaded = breaker pauses")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    console.print(f"plot written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="*",
        default=[1, 2, 3, 4, 5],
        help="seeds of the 90-day streams (none: only the 365-day figures)",
    )
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--year-days", type=int, default=365)
    parser.add_argument("--skip-year", action="store_true")
    parser.add_argument("--plot", default=None, help="write a timeline plot of the first seed")
    parser.add_argument("--year-child", default=None, help=argparse.SUPPRESS)
    year = parser.add_mutually_exclusive_group()
    year.add_argument(
        "--year-policy", default=None, help="policy file for the 365-day figures (default: shipped)"
    )
    year.add_argument(
        "--year-scan-code",
        choices=("all", "young", "none"),
        default=None,
        help="the shipped policy with this [stream] scan_code for the 365-day "
        "figures (none: the scorer alone)",
    )
    args = parser.parse_args()
    if args.year_child:
        year_child(args.year_child, args.year_policy)
        return
    label = args.year_policy or "shipped"
    if args.year_scan_code:
        args.year_policy = scan_code_policy(args.year_scan_code)
        label = f"shipped, scan_code = {args.year_scan_code!r}"
    if not args.seeds:
        latency_figures()
        if not args.skip_year:
            year_figures(args.year_days, args.year_policy, label)
        return
    results = []
    with Progress(console=console) as progress:
        task = progress.add_task("scoring simulated streams", total=len(args.seeds))
        for seed in args.seeds:
            results.append(run_seed(seed, args.days))
            progress.advance(task)
    report(results, args.days)
    if args.plot:
        plot(results[0], args.plot)
    latency_figures()
    if not args.skip_year:
        year_figures(args.year_days, args.year_policy, label)


def scan_code_policy(mode: str) -> str:
    """A policy override file setting ``[stream] scan_code`` (removed at exit)."""
    import atexit
    import os
    import tempfile

    handle, path = tempfile.mkstemp(prefix=f"stream_scan_{mode}_", suffix=".toml")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(f'[stream]\nscan_code = "{mode}"\n')
    atexit.register(os.unlink, path)
    return path


def latency_figures(days: int = 20) -> None:
    """``StreamScorer.process`` one event at a time, as the service calls it: per-event
    latency by type for events without files (no batching, no worker)."""
    from detector.stream import StreamScorer

    events, _ = simulate(SimConfig(days=days, seed=99))
    scorer = StreamScorer()
    times: dict[str, list[float]] = defaultdict(list)
    for event in events:
        t0 = time.perf_counter()
        scorer.process(event)
        elapsed = time.perf_counter() - t0
        if not event.get("project", {}).get("files"):
            times[event["type"]].append(elapsed * 1000)
    for kind, values in sorted(times.items()):
        values.sort()
        print(
            f"process() latency, {kind} without files: mean {sum(values) / len(values):.3f} ms, "
            f"p50 {values[len(values) // 2]:.3f} ms, p99 {values[int(len(values) * 0.99)]:.3f} ms"
            f" ({len(values)} events)"
        )


def year_figures(days: int, policy: str | None = None, label: str | None = None) -> None:
    import tempfile

    from detector.stream.simulate import iter_jsonl

    console.print(f"simulating a {days}-day stream ...")
    events, _ = simulate(SimConfig(days=days, seed=365))
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/year.jsonl"
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(iter_jsonl(events))
        del events
        console.print("scoring it in a fresh process ...")
        extra = ["--year-policy", policy] if policy else []
        out = subprocess.run(
            [sys.executable, __file__, "--year-child", path, *extra],
            capture_output=True,
            text=True,
            check=True,
        )
    year = json.loads(out.stdout.strip().splitlines()[-1])
    print(year_text(year, days, label or policy or "shipped"))


def year_text(year: dict[str, Any], days: int, policy: str) -> str:
    """The 365-day figures, with the CPU split into the scorer itself (JSON, accounts,
    cohorts, campaigns, breaker), the name checks and the code scanner."""
    total = year["cpu_main"] + year["cpu_worker"]
    scorer = total - year["cpu_code_scan"] - year["cpu_names"]
    return (
        f"{days}-day stream (policy {policy}): {year['events']} events scored "
        f"in {year['seconds']:.1f} s wall ({year['events'] / year['seconds']:.0f} events/s); "
        f"CPU {total:.1f} s = scorer {scorer:.1f} s + name checks {year['cpu_names']:.1f} s "
        f"({year['name_checks']} names) + code scanning {year['cpu_code_scan']:.1f} s "
        f"({year['code_scans']} file sets); by process: {year['cpu_main']:.1f} s in the "
        f"scorer process, {year['cpu_worker']:.1f} s in its name/code worker; peak RSS "
        f"{year['peak_rss_mb']:.0f} MB (worker {year['worker_peak_rss_mb']:.0f} MB)"
    )


def report(results: list[dict[str, Any]], days: int) -> None:
    table = Table(title="campaigns of 20+ accounts")
    for col in (
        "seed",
        "campaign",
        "kind",
        "accounts",
        "events",
        "flagged %",
        "detect min",
        "group min",
        "breaker",
    ):
        table.add_column(col)
    big = []
    for res in results:
        for row in res["rows"]:
            if row["accounts"] < 20:
                continue
            big.append(row)
            table.add_row(
                str(res["seed"]),
                row["campaign"],
                row["kind"],
                str(row["accounts"]),
                str(row["events"]),
                f"{100 * row['flagged'] / row['events']:.1f}",
                _fmt(row["detect_min"]),
                _fmt(row["group_min"]),
                f"{row['tripped']} pauses" if row["tripped"] else "-",
            )
    console.print(table)
    for res in results:
        print(
            f"seed {res['seed']}: {res['events']} events, scored in {res['score_s']:.1f} s "
            f"({res['events'] / res['score_s']:.0f} events/s); campaign events flagged "
            f"{res['campaign_flagged']}/{res['campaign']} "
            f"({100 * res['campaign_flagged'] / res['campaign']:.2f}%); baseline flagged "
            f"{res['baseline_flagged']}/{res['baseline']} "
            f"({100 * res['baseline_flagged'] / res['baseline']:.3f}%); breaker trips "
            f"{res['trips']}, false {res['false_trips']}; campaign events let through "
            f"{res['let_through']}; legitimate events held {res['legit_held']}"
        )
    detect = [r["detect_min"] for r in big]
    group = [r["group_min"] for r in big]
    within = sum(1 for d in detect if d is not None and d <= 30)
    grouped = sum(1 for g in group if g is not None and g <= 30)
    camp = sum(r["campaign_flagged"] for r in results) / sum(r["campaign"] for r in results)
    base = sum(r["baseline_flagged"] for r in results) / sum(r["baseline"] for r in results)
    false_trips = sum(r["false_trips"] for r in results) / len(results) * 90 / days
    fast = [row for res in results for row in res["rows"] if row["kind"] in FAST]
    print(
        f"campaigns of 20+ accounts detected within 30 min of their 10th registration: "
        f"{within}/{len(big)} (median {_median(detect)} min, max {_max(detect)} min)"
    )
    print(
        f"  ... linked into a campaign within 30 min: {grouped}/{len(big)} "
        f"(median {_median(group)} min, max {_max(group)} min)"
    )
    print(f"campaign events flagged: {100 * camp:.2f}%  (target >= 95%)")
    print(f"baseline events flagged: {100 * base:.3f}%  (target <= 0.5%)")
    print(f"false breaker trips per 90 days: {false_trips:.2f}  (target <= 1)")
    slow = [row for res in results for row in res["rows"] if row["kind"] not in FAST]
    print(
        f"fast waves that tripped the breaker: {sum(bool(r['tripped']) for r in fast)}/"
        f"{len(fast)}; low-and-slow waves that did: {sum(bool(r['tripped']) for r in slow)}/"
        f"{len(slow)}"
    )
    by_kind: dict[str, list[float]] = defaultdict(list)
    for res in results:
        for row in res["rows"]:
            by_kind[row["kind"]].append(row["flagged"] / row["events"])
    for kind, shares in sorted(by_kind.items()):
        print(
            f"  {kind}: {100 * sum(shares) / len(shares):.1f}% of events flagged on average "
            f"over {len(shares)} campaigns"
        )


def _fmt(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f}"


def _median(values: list[float | None]) -> str:
    real = [v for v in values if v is not None]
    return f"{median(real):.0f}" if real else "n/a"


def _max(values: list[float | None]) -> str:
    if any(v is None for v in values):
        return "never"
    return f"{max(values):.0f}" if values else "n/a"


if __name__ == "__main__":
    main()

"""Campaign precision on streams with benign crowds (issue 16).

For each seed: simulate (baseline, benign crowds and campaigns), score with the
shipped policy (and its breaker, as ``warden replay`` runs it) and print, per label
kind (baseline, each crowd type, each campaign shape):

* events and the share flagged (review or block);
* campaigns raised: a campaign the scorer grouped is *raised* when at least one of its
  events was flagged and answered (or relabelled, as the service stores it) as a member
  of it: it is then in front of a moderator. An all-benign raised
  campaign is counted for the crowd kind most of its accounts belong to, a true one for
  each campaign shape among its accounts. Groupings that flagged nothing are counted
  apart ("quiet");
* bystanders: benign accounts inside raised campaigns that hold attackers (per crowd
  kind of the bystander, and per campaign shape of the campaign);
* detection delay of each campaign of 20+ accounts: minutes from its 10th registration
  (account or project) to its first flagged event;
* breaker trips, and false ones (most flagged registrations of the paused scope, an
  event type or one cohort of it, in the lookback before it are benign, as
  ``detector.replay`` judges them).

Then the goals: benign events flagged <= 0.3%, all-benign campaigns <= 1 per 90 days,
bystanders <= 2%, campaign events flagged >= 97%, every 20+-account campaign flagged
within 30 minutes, false trips <= 1 per 90 days.

Usage: ``nice -n 10 .venv/bin/python bench/bench_crowds.py [--seeds 1 2 3 4 5]
[--days 90] [--policy FILE]`` (a policy file laid over the shipped one, for what-ifs).
About 20 s per 90-day seed.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from typing import Any

from detector.breaker_scope import scope_key
from detector.policy import Policy, load_policy
from detector.replay import TRUE_TRIP_SHARE
from detector.stream.events import parse_ts
from detector.stream.scorer import StreamScorer, score_lines
from detector.stream.simulate import SimConfig, iter_jsonl, simulate

REGISTRATIONS = ("account.created", "project.created")


def _kind(label: dict[str, Any]) -> str:
    return label["kind"] if label["campaign"] is None else "campaign:" + label["kind"]


def run(seed: int, days: int, policy: Policy | None = None) -> dict[str, Any]:
    events, labels = simulate(SimConfig(days=days, seed=seed))
    scorer = StreamScorer(policy)
    lookback = scorer.breaker.policy.horizon
    by_id: dict[str, dict[str, Any]] = {}
    label_of = {e["id"]: lab for e, lab in zip(events, labels, strict=True)}
    flagged_log: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    trips = false_trips = 0
    labelled: set[str] = set()  # events whose stored answer names a campaign
    for out in score_lines(iter_jsonl(events), scorer=scorer):
        if "breaker" in out:
            change = out["breaker"]
            if change["state"] == "paused":
                start = parse_ts(change["at"])
                recent = [c for ts, c in flagged_log[change["scope"]]
                          if start - lookback <= ts <= start]
                trips += 1
                false_trips += not recent or sum(recent) / len(recent) < TRUE_TRIP_SHARE
            continue
        if "decision" not in out:
            continue
        by_id[out["id"]] = out
        if out["campaign"] is not None:
            labelled.add(out["id"])
        labelled.update(scorer.relabels()[0])  # earlier events it put in a campaign
        if out["decision"] != "allow":
            kind, ts = scorer.last_event_type, scorer.last_event_ts
            assert kind is not None and ts is not None
            entry = (ts, label_of[out["id"]]["campaign"] is not None)
            # a pause's scope: the event type, or one cohort of it (detector.breaker_scope)
            for scope in (kind, *(scope_key(kind, c) for c in scorer.last_event_cohorts)):
                flagged_log[scope].append(entry)
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    owner: dict[str, tuple[str | None, str]] = {}
    waves: dict[str, list[tuple[dict[str, Any], str]]] = defaultdict(list)
    for event, label in zip(events, labels, strict=True):
        row = kinds[_kind(label)]
        row[0] += 1
        row[1] += by_id[event["id"]]["decision"] != "allow"
        user = event["account"]["username"]
        if event["type"] == "account.created" or user not in owner:
            owner[user] = (label["campaign"], label["kind"])
        if label["campaign"]:
            waves[label["campaign"]].append((event, label["kind"]))
    delays: list[tuple[str, float | None]] = []
    for items in waves.values():
        if len({e["account"]["username"] for e, _ in items}) < 20:
            continue
        registrations = [e for e, _ in items if e["type"] in REGISTRATIONS]
        t10 = parse_ts(registrations[min(9, len(registrations) - 1)]["ts"])
        flagged = [parse_ts(e["ts"]) for e, _ in items
                   if by_id[e["id"]]["decision"] != "allow"]
        delays.append((items[0][1], max(0.0, (min(flagged) - t10) / 60) if flagged else None))
    raised: Counter[str] = Counter()  # per kind: campaigns raised
    quiet = 0
    members = bystanders = 0
    bystander_kinds: Counter[str] = Counter()
    shape_members: Counter[str] = Counter()
    shape_bystanders: Counter[str] = Counter()
    for campaign in scorer.campaigns():
        if not any(by_id[e]["decision"] != "allow" and e in labelled
                   for e in campaign["events"] if e in by_id):
            quiet += 1
            continue
        accounts = campaign["accounts"]
        shapes = {owner[a][1] for a in accounts if owner.get(a, (None, ""))[0]}
        if not shapes:
            crowd = Counter(owner.get(a, (None, "?"))[1] for a in accounts).most_common(1)
            raised[crowd[0][0] if crowd else "?"] += 1
            continue
        benign = [a for a in accounts if not owner.get(a, (None, ""))[0]]
        members += len(accounts)
        bystanders += len(benign)
        bystander_kinds.update(owner.get(a, (None, "?"))[1] for a in benign)
        for shape in shapes:
            raised["campaign:" + shape] += 1
            shape_members["campaign:" + shape] += len(accounts)
            shape_bystanders["campaign:" + shape] += len(benign)
    return {"seed": seed, "days": days, "kinds": dict(kinds), "raised": raised,
            "quiet": quiet, "members": members, "bystanders": bystanders,
            "bystander_kinds": bystander_kinds, "shape_members": shape_members,
            "shape_bystanders": shape_bystanders, "delays": delays, "trips": trips,
            "false_trips": false_trips}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--policy", default=None)
    args = parser.parse_args()
    policy = load_policy(args.policy) if args.policy else None
    total: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    raised: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    shape_members: Counter[str] = Counter()
    shape_bystanders: Counter[str] = Counter()
    delays: dict[str, list[float | None]] = defaultdict(list)
    members = bystanders = trips = false_trips = quiet = 0
    for number, seed in enumerate(args.seeds, 1):
        print(f"[{number}/{len(args.seeds)}] seed {seed}: simulating and scoring "
              f"{args.days} days ...", file=sys.stderr, flush=True)
        res = run(seed, args.days, policy)
        for kind, (n, flagged) in res["kinds"].items():
            total[kind][0] += n
            total[kind][1] += flagged
        raised.update(res["raised"])
        by_kind.update(res["bystander_kinds"])
        shape_members.update(res["shape_members"])
        shape_bystanders.update(res["shape_bystanders"])
        for shape, delay in res["delays"]:
            delays["campaign:" + shape].append(delay)
        members += res["members"]
        bystanders += res["bystanders"]
        trips += res["trips"]
        false_trips += res["false_trips"]
        quiet += res["quiet"]
        benign = {k: v for k, v in res["raised"].items() if not k.startswith("campaign:")}
        print(f"seed {seed}: all-benign campaigns raised {benign}; bystanders "
              f"{res['bystanders']}/{res['members']} {dict(res['bystander_kinds'])}; "
              f"breaker trips {res['trips']}, false {res['false_trips']}", flush=True)
    per90 = 90 / args.days / len(args.seeds)
    print(f"\n{len(args.seeds)} seeds x {args.days} days; campaigns and trips per 90 days")
    print(f"{'kind':26} {'events':>8} {'flagged':>8} {'share':>8} {'raised/90d':>10} "
          f"{'bystanders':>12} {'20+ in 30 min':>14} {'max delay':>10}")
    benign_n = benign_f = 0
    for kind, (n, flagged) in sorted(total.items()):
        if kind.startswith("campaign:"):
            by = f"{shape_bystanders[kind]}/{shape_members[kind]}"
        else:
            by = str(by_kind[kind])
            benign_n += n
            benign_f += flagged
        waits = delays.get(kind, [])
        within = sum(1 for d in waits if d is not None and d <= 30)
        late = [d for d in waits if d is not None]
        longest = ("never" if None in waits else f"{max(late):.0f} min") if waits else "-"
        print(f"{kind:26} {n:8d} {flagged:8d} {100 * flagged / n:7.2f}% "
              f"{raised[kind] * per90:10.2f} {by:>12} "
              f"{(f'{within}/{len(waits)}' if waits else '-'):>14} {longest:>10}")
    camp_n = sum(n for k, (n, _) in total.items() if k.startswith("campaign:"))
    camp_f = sum(f for k, (_, f) in total.items() if k.startswith("campaign:"))
    all_waits = [d for waits in delays.values() for d in waits]
    in_time = sum(1 for d in all_waits if d is not None and d <= 30)
    benign_raised = sum(v for k, v in raised.items() if not k.startswith("campaign:"))
    print(f"benign events (baseline + crowds) flagged: {100 * benign_f / benign_n:.3f}% "
          "(goal <= 0.3%)")
    print(f"all-benign campaigns raised per 90 days: {benign_raised * per90:.2f} (goal <= 1); "
          f"quiet groupings (nothing flagged) per 90 days: {quiet * per90:.1f}")
    print(f"bystanders in raised true campaigns: {bystanders}/{members} "
          f"({100 * bystanders / max(members, 1):.2f}%, goal <= 2%)")
    print(f"campaign events flagged: {100 * camp_f / max(camp_n, 1):.2f}% (goal >= 97%)")
    print(f"campaigns of 20+ accounts flagged within 30 min of their 10th registration: "
          f"{in_time}/{len(all_waits)} (goal all)")
    print(f"breaker trips per 90 days: {trips * per90:.1f}; false: {false_trips * per90:.2f} "
          "(goal <= 1)")


if __name__ == "__main__":
    main()

"""Campaign precision on streams with benign crowds (issue 16).

For each seed: simulate (baseline, benign crowds and campaigns), score with the
shipped policy and print, per label kind (baseline, each crowd type, each campaign
shape): events and the share flagged (review or block). Then, over the campaigns
the scorer raised: how many hold no attacker (all-benign, per 90 days, and which
crowd they came from), and the share of bystanders (benign accounts) among the
accounts of campaigns that do hold attackers.

Usage: ``.venv/bin/python bench/bench_crowds.py [--seeds 1 2 3 4 5] [--days 90]
[--policy FILE]`` (a policy file laid over the shipped one, for what-ifs).
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from typing import Any

from detector.policy import Policy, load_policy
from detector.stream.scorer import StreamScorer, score_lines
from detector.stream.simulate import SimConfig, iter_jsonl, simulate


def run(seed: int, days: int, policy: Policy | None = None) -> dict[str, Any]:
    events, labels = simulate(SimConfig(days=days, seed=seed))
    scorer = StreamScorer(policy)
    decisions = [d for d in score_lines(iter_jsonl(events), scorer=scorer) if "decision" in d]
    by_id = {d["id"]: d for d in decisions}
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    owner: dict[str, tuple[str | None, str]] = {}
    for event, label in zip(events, labels, strict=True):
        row = kinds[label["kind"] if label["campaign"] is None or label["kind"] == "baseline"
                    else "campaign:" + label["kind"]]
        row[0] += 1
        row[1] += by_id[event["id"]]["decision"] != "allow"
        user = event["account"]["username"]
        if event["type"] == "account.created" or user not in owner:
            owner[user] = (label["campaign"], label["kind"])
    benign_campaigns: Counter[str] = Counter()
    members = bystanders = 0
    bystander_kinds: Counter[str] = Counter()
    for campaign in scorer.campaigns():
        accounts = campaign["accounts"]
        attackers = [a for a in accounts if owner.get(a, (None, ""))[0]]
        if not attackers:
            crowd = Counter(owner.get(a, (None, "?"))[1] for a in accounts).most_common(1)
            benign_campaigns[crowd[0][0] if crowd else "?"] += 1
            continue
        members += len(accounts)
        for a in accounts:
            if not owner.get(a, (None, ""))[0]:
                bystanders += 1
                bystander_kinds[owner.get(a, (None, "?"))[1]] += 1
    return {"seed": seed, "days": days, "kinds": dict(kinds),
            "benign_campaigns": benign_campaigns, "members": members,
            "bystanders": bystanders, "bystander_kinds": bystander_kinds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--policy", default=None)
    args = parser.parse_args()
    policy = load_policy(args.policy) if args.policy else None
    total: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    benign = members = bystanders = 0
    for seed in args.seeds:
        res = run(seed, args.days, policy)
        for kind, (n, flagged) in res["kinds"].items():
            total[kind][0] += n
            total[kind][1] += flagged
        benign += sum(res["benign_campaigns"].values())
        members += res["members"]
        bystanders += res["bystanders"]
        print(f"seed {seed}: all-benign campaigns {dict(res['benign_campaigns'])}; bystanders "
              f"{res['bystanders']}/{res['members']} {dict(res['bystander_kinds'])}", flush=True)
    print(f"{'kind':28} {'events':>8} {'flagged':>8} {'share':>8}")
    benign_n = benign_f = 0
    for kind, (n, flagged) in sorted(total.items()):
        print(f"{kind:28} {n:8d} {flagged:8d} {100 * flagged / n:7.2f}%")
        if not kind.startswith("campaign:"):
            benign_n += n
            benign_f += flagged
    print(f"benign events (baseline + crowds) flagged: {100 * benign_f / benign_n:.3f}% "
          "(goal <= 0.3%)")
    per90 = benign / len(args.seeds) * 90 / args.days
    print(f"all-benign campaigns per 90 days: {per90:.2f} (goal <= 1)")
    print(f"bystanders in true campaigns: {bystanders}/{members} "
          f"({100 * bystanders / max(members, 1):.2f}%, goal <= 2%)")


if __name__ == "__main__":
    main()

"""Write the attack history of popular projects (``data/name_attacks.json``) from dated
malicious names (``../shared/corpus/malicious_names.tsv``: name, first_seen).

Each malicious name counts once for the popular project it imitates most plainly (its
closest match, else a popular name at either end of it), decayed by its age at ``--as-of``
(half-life 365 days). The shipped weights give the history no weight yet: it takes effect
after a refit that the forward figure of ``bench/bench_names.py`` accepts (docs/names.md).

It also writes the attack log of recent attacks (``data/name_attack_log.json``, read by
``detector/names/attacks.py``): the day each malicious name was first seen, under each of
the at most three popular projects it comes within reach of (its best matches), as of the
last day the names cover unless ``--log-as-of`` says otherwise.

With ``--affixes-out`` it also writes what those squats added to a popular name kept whole
(`-new`, `-tools`, `py`, `2022-`), decayed the same way (``data/name_affixes.json``, read by
``detector/names/lexicon.py``: the affix odds of a combosquat).

    python scripts/refresh_name_attacks.py [--shared ../shared] [--as-of 2026-12-01]
        [--log-out data/name_attack_log.json] [--log-as-of 2023-12-25]
        [--names removed.tsv] [--log-only]

A registry refreshes the log from its own removals with ``--names FILE --log-only``.
"""

from __future__ import annotations

import argparse
import csv
from datetime import date
from pathlib import Path

from detector.names import NameChecker, default_checker
from detector.names import evaluation as ev
from detector.names.attacks import SHIPPED_ATTACK_LOG, AttackLog
from detector.names.history import EMPTY_HISTORY, HALF_LIFE_DAYS, SHIPPED_ATTACKS, AttackHistory
from detector.names.lexicon import affix_weights, save_affixes
from detector.names.training import affix_events, attack_events, log_events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared"
    )
    parser.add_argument("--as-of", default=date.today().isoformat())
    parser.add_argument("--half-life-days", type=float, default=HALF_LIFE_DAYS)
    parser.add_argument("--out", type=Path, default=SHIPPED_ATTACKS)
    parser.add_argument("--affixes-out", type=Path, default=None)
    parser.add_argument("--log-out", type=Path, default=SHIPPED_ATTACK_LOG)
    parser.add_argument("--log-as-of", default=None,
                        help="the log's last day (default: the last first_seen of the names)")
    parser.add_argument("--names", type=Path, default=None,
                        help="a TSV of dated malicious names (name, first_seen): a registry's"
                             " own removals (default: the shared corpus's)")
    parser.add_argument("--log-only", action="store_true",
                        help="write only the attack log (the history, unshipped, is read by"
                             " the combosquat check when present)")
    args = parser.parse_args()
    source = args.names or args.shared / "corpus" / "malicious_names.tsv"
    if not source.is_file():
        parser.error(f"{source}: no such file")
    try:
        malicious = ev.read_malicious(source)
    except (KeyError, ValueError, csv.Error) as exc:
        parser.error(f"{source}: not a TSV with columns name, first_seen ({exc})")
    if not malicious:
        parser.error(f"{source}: no dated malicious names (columns name, first_seen)")
    dated = log_events(default_checker(), malicious)
    log_as_of = args.log_as_of or max(row.first_seen[:10] for row in malicious)
    try:
        log = AttackLog.build(dated, log_as_of)
    except ValueError as exc:
        parser.error(f"{source} or --log-as-of: a day that is no ISO date ({exc})")
    if not args.log_only:
        write_history(args, malicious)
    args.log_out.write_text(log.to_json() + "\n", encoding="utf-8")
    print(f"{len(dated)} squats of {len(log.days)} targets to {log_as_of} written to"
          f" {args.log_out}")


def write_history(args: argparse.Namespace, malicious: list[ev.Malicious]) -> None:
    checker = NameChecker(history=EMPTY_HISTORY)
    events = attack_events(checker, malicious)
    history = AttackHistory.build(events, args.as_of, args.half_life_days)
    args.out.write_text(history.to_json() + "\n", encoding="utf-8")
    print(f"{len(events)} attacks on {len(history.targets)} targets written to {args.out}")
    if args.affixes_out is not None:
        weights = affix_weights(affix_events(checker, malicious), args.as_of, args.half_life_days)
        save_affixes(args.affixes_out, weights, args.as_of, args.half_life_days)
        print(f"{len(weights)} affixes written to {args.affixes_out}")


if __name__ == "__main__":
    main()

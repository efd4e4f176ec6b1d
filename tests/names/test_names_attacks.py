"""Recent attacks: a look-alike of a popular project that known malicious names squatted in
the days before gains on its logit (detector/names/attacks.py), in a batch, through the
CLI, with the shipped log and its refresh."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from window_names import CFG, STATS, check, check_name_file, policy_with, raised_by

from detector.names import NameResult, default_checker
from detector.names.attacks import (
    EMPTY_LOG,
    SHIPPED_ATTACK_LOG,
    AttackLog,
    AttackLogError,
    RecentAttacks,
    load_attack_log,
)
from detector.names.sweeps import apply_sweeps
from detector.policy import PolicyError
from detector.popular import shipped_corpus

DAY = 86400.0


def at(stamp: str) -> float:
    """An ISO day or time, UTC, as a timestamp."""
    moment = datetime.fromisoformat(stamp)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()



def batch(names: list[str], times: list[float] | None, log: AttackLog,
          policy: object = None) -> dict[str, NameResult]:
    after = apply_sweeps(check(names), times, policy, pieces=STATS,  # type: ignore[arg-type]
                         attacks=log)
    return {r.name: r for r in after}


def attacked(after: dict[str, NameResult]) -> set[str]:
    return raised_by(list(after.values()), "attack")


def expected(score: float, squats: int) -> float:
    """The rule's raise, written out: ``attack_boost * n / (n + attack_half_names)`` on the
    log-odds."""
    z = math.log(score / (1 - score)) + CFG.attack_boost * squats / (
        squats + CFG.attack_half_names)
    return round(1 / (1 + math.exp(-z)), 4)


# `readchar` squatted on 04-04 and 04-06; `requests` long before.
LOG = AttackLog.build([("readchar", "2023-04-04"), ("readchar", "2023-04-06"),
                       ("requests", "2022-01-10")], "2023-12-31")

# (name, when, raised?, squats counted): squats and look-alikes that stay as they are.
CASES = [
    ("readycher", "2023-04-08", True, 2),  # both earlier squats of its target
    ("readycher", "2023-04-06T12:00", True, 1),  # 04-06 is within the day's lag
    ("readycher", "2023-04-05", False, 0),  # 04-04 is exactly a day before: not yet listed
    ("readycher", "2023-07-04", True, 1),  # 91 days after 04-04, 89 after 04-06
    ("readycher", "2023-07-06", False, 0),  # both older than the 90-day window
    ("readycher", "2023-03-01", False, 0),  # before any squat of its target
    ("pyperclipe", "2023-04-08", False, 0),  # a look-alike of a target not attacked
    ("reqeusts", "2022-01-12", False, 1),  # flagged already: nothing to add
    ("flaskkk", "2023-04-08", False, 0),  # no match at all
]


@pytest.mark.parametrize(("name", "when", "raised", "squats"), CASES)
def test_a_look_alike_of_a_target_squatted_days_before_gains(
        name: str, when: str, raised: bool, squats: int) -> None:
    alone = check([name])[0]
    rule = RecentAttacks(CFG, LOG)
    assert rule.squats(alone, at(when)) == squats
    after = batch([name], [at(when)], LOG)[name]
    assert (name in attacked({name: after})) is raised
    if not raised:
        assert after == alone
        return
    assert alone.score < CFG.flag_threshold
    attack = after.sweep["attack"]  # type: ignore[index]
    assert attack["target"] == alone.matches[0].target == "readchar"
    assert attack["squats"] == squats
    assert attack["individual_score"] == alone.score
    assert attack["window_days"] == CFG.attack_window_days
    assert after.score == expected(alone.score, squats) > alone.score
    assert after.flagged is (after.score >= CFG.flag_threshold)
    assert after.reasons[:-1] == alone.reasons
    assert after.reasons[-1].startswith(
        f"attack: 'readchar' was squatted by {squats} known malicious name")


def test_more_squats_gain_more_but_the_gain_is_bounded() -> None:
    name = "readycher"
    alone = check([name])[0].score
    days = [f"2023-04-{day:02d}" for day in range(1, 21)]
    scores = []
    for count in (1, 2, 5, 20):
        log = AttackLog.build([("readchar", day) for day in days[:count]], "2023-12-31")
        scores.append(batch([name], [at("2023-04-25")], log)[name].score)
    assert scores == sorted(scores) and len(set(scores)) == len(scores)
    # However many squats, the log-odds gain no more than attack_boost.
    assert scores[-1] < expected(alone, 10**9) <= round(
        1 / (1 + math.exp(-(math.log(alone / (1 - alone)) + CFG.attack_boost))), 4)


def test_the_rule_raises_what_the_other_rules_left_on_top_of_them() -> None:
    """`readycher` swept with `readycharz` (one target, one hour apart) gains its attack on
    the swept score, as the last rule."""
    times = [at("2023-04-08"), at("2023-04-08T01:00")]
    swept = batch(["readycharz", "readycher"], times, EMPTY_LOG)["readycher"]
    both = batch(["readycharz", "readycher"], times, LOG)["readycher"]
    assert "attack" not in (swept.sweep or {})
    assert check(["readycher"])[0].score < swept.score < CFG.flag_threshold
    assert both.score == expected(swept.score, 2)
    assert both.sweep is not None and both.sweep["attack"]["individual_score"] == swept.score
    assert "sweep" in both.reasons[-2] and both.reasons[-1].startswith("attack:")


def test_a_batch_without_times_is_judged_as_of_the_log_s_last_day() -> None:
    ends_after = AttackLog.build([("readchar", "2023-04-06")], "2023-04-30")
    ends_late = AttackLog.build([("readchar", "2023-04-06")], "2023-09-30")
    assert "readycher" in attacked(batch(["readycher"], None, ends_after))
    got = batch(["readycher"], None, ends_after)["readycher"]
    assert got.sweep is not None and got.sweep["attack"]["until"] == "2023-04-30"
    # A log whose window no longer holds the squat says nothing: stale is silent.
    assert not attacked(batch(["readycher"], None, ends_late))
    # A long list without times gets it too: the rule judges each name alone.
    names = ["readycher", *(f"zq{i:05d}x" for i in range(CFG.sweep_batch_names + 10))]
    assert "readycher" in attacked(batch(names, None, ends_after))


def test_the_answer_does_not_depend_on_the_order_of_the_batch() -> None:
    names = ["readycher", "readycharz", "pyperclipe", "reqeusts", "flaskkk", "readchar-x"]
    times = [at("2023-04-08") + 3600.0 * i for i in range(len(names))]
    first = batch(names, times, LOG)
    order = list(range(len(names)))
    random.Random(5).shuffle(order)
    again = batch([names[i] for i in order], [times[i] for i in order], LOG)
    assert again == first


def test_off_in_the_policy_or_with_an_empty_log() -> None:
    when = [at("2023-04-08")]
    assert not attacked(batch(["readycher"], when, LOG, policy_with(attack_boost=0.0)))
    assert not attacked(batch(["readycher"], when, EMPTY_LOG))
    assert not RecentAttacks(CFG, EMPTY_LOG).on


@pytest.mark.parametrize(("key", "value"), [("attack_window_days", 0.0),
                                            ("attack_lag_days", -1.0),
                                            ("attack_boost", -0.5),
                                            ("attack_half_names", 0.0)])
def test_bad_policy_values_are_refused(key: str, value: float) -> None:
    with pytest.raises(PolicyError, match=key):
        policy_with(**{key: value})


def test_a_log_round_trips_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    assert AttackLog.from_json(LOG.to_json()) == LOG
    assert LOG.count("readchar", at("2023-04-08"), 90, 1) == 2
    # Events after the log's last day are left out when it is built.
    assert AttackLog.build([("x", "2024-01-01")], "2023-12-31").days == {}
    for text in ("{", '{"as_of": "2023-13-01", "targets": {}}', '{"targets": {}}',
                 '{"as_of": "2023-12-31", "targets": {"readchar": ["soon"]}}',
                 '{"as_of": "2023-12-31", "targets": ["readchar"]}'):
        with pytest.raises(AttackLogError, match="damaged attack log"):
            AttackLog.from_json(text)
    assert load_attack_log(str(tmp_path / "absent.json")) == EMPTY_LOG
    damaged = tmp_path / "log.json"
    damaged.write_text('{"as_of": "2023-12-31"}')
    with pytest.raises(AttackLogError, match=f"{damaged}: damaged attack log"):
        load_attack_log(str(damaged))


def test_the_shipped_log_names_popular_projects_and_days_only() -> None:
    log = load_attack_log()
    ranks = shipped_corpus().ranks
    assert log.days and all(target in ranks for target in log.days)
    last = at(log.as_of)
    assert all(days == tuple(sorted(days)) and days[-1] <= last for days in log.days.values())
    raw = json.loads(SHIPPED_ATTACK_LOG.read_text(encoding="utf-8"))
    assert set(raw) == {"note", "as_of", "targets"}


def test_check_name_file_reports_recent_attacks(tmp_path: Path) -> None:
    """The shipped log through `warden check-name --file --json`: a look-alike of a target
    it lists, a few days after a squat of it, and the same name a year later."""
    log = load_attack_log()
    checker = default_checker()
    target, day = next((t, days[-1]) for t, days in sorted(log.days.items())
                       if len(t) >= 6 and _low_look_alike(checker, t) is not None)
    name = _low_look_alike(checker, target)
    assert name is not None
    soon = datetime.fromtimestamp(day + 3 * DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    late = datetime.fromtimestamp(day + 400 * DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = check_name_file(tmp_path, [name, name], [soon, late])
    first, second = lines
    assert first["sweep"]["attack"]["target"] == target
    assert first["score"] > second["score"] == check([name])[0].score
    assert "attack" not in (second.get("sweep") or {})


def _low_look_alike(checker: object, target: str) -> str | None:
    """A look-alike of ``target`` (a letter doubled, changed or added inside it) whose best
    match is ``target`` and which scores below the flag line alone."""
    middle = len(target) // 2
    for name in (target[:middle] + "x" + target[middle:],
                 target[:middle] + "q" + target[middle + 1:],
                 target + "zx", target[:middle] + target[middle] + target[middle:]):
        result = checker.check(name)  # type: ignore[attr-defined]
        if result.matches and result.matches[0].target == target \
                and 0.01 < result.score < CFG.flag_threshold * 0.6:
            return name
    return None


def test_a_registry_refreshes_the_log_from_its_own_removals(tmp_path: Path) -> None:
    """`scripts/refresh_name_attacks.py --names FILE --log-only`: the log of a registry's
    own dated removals, nothing else written; a file that is no such TSV is refused."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "refresh_name_attacks.py"
    removed = tmp_path / "removed.tsv"
    removed.write_text("name\tfirst_seen\nreadycher\t2026-11-30\nreqeusts\t2026-12-01\n")
    out, history = tmp_path / "log.json", tmp_path / "history.json"
    done = subprocess.run([sys.executable, str(script), "--names", str(removed), "--log-only",
                           "--log-out", str(out), "--out", str(history)],
                          capture_output=True, text=True, check=True)
    assert "to 2026-12-01 written" in done.stdout
    log = load_attack_log(str(out))
    assert log.as_of == "2026-12-01" and not history.exists()
    assert log.days["readchar"] == (at("2026-11-30"),)
    assert log.days["requests"] == (at("2026-12-01"),)
    for text, said in (("x\ty\n1\t2\n", "not a TSV with columns name, first_seen"),
                       ("name\tfirst_seen\nreqeusts\tsoon\n", "no ISO date"),
                       ("name\tfirst_seen\n", "no dated malicious names")):
        removed.write_text(text)
        failed = subprocess.run([sys.executable, str(script), "--names", str(removed),
                                 "--log-only", "--log-out", str(out)],
                                capture_output=True, text=True)
        assert failed.returncode == 2 and said in failed.stderr
        assert load_attack_log(str(out)).as_of == "2026-12-01"  # the last log is kept

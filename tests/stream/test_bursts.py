"""Generator bursts in a stream (`warden score`, the service's scorer): names of one window
glued from the same rare pieces raise the later ones; the window is stream state
(detector/names/burst_memory.py)."""

from __future__ import annotations

import json
import re
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from score_cli import warden_score

from detector.names import check_names
from detector.names.sweeps import apply_sweeps
from detector.policy import build_policy, load_policy
from detector.stream import StreamScorer
from detector.stream.checkpoint import VERSION, decode, dump, encode, restore
from detector.stream.events import parse_ts

CFG = load_policy().names
SQUAT = load_policy().stream.name_squat
# A generator's grid (tests/names/test_names_bursts.py): six starts glued to seven ends;
# the names near a popular name of their own (members) come last, so they see the rest.
STARTS = ["pyw", "tp", "grand", "rand", "cc", "visa"]
ENDS = ["url", "info", "kill", "lib", "vm", "int", "ver"]
RAISED = ["pywurl", "pywint", "tpinfo", "tpint", "randkill", "visainfo"]
GRID = [s + e for s in STARTS for e in ENDS if s + e not in RAISED] + RAISED
# An organisation's family: a shared start, ordinary ends.
WORDS = ["core", "cli", "utils", "api", "sdk", "client", "server", "docs", "tools", "auth",
         "requests", "numpy", "flask", "django"]
ACME = [f"acme-{word}" for word in WORDS]
ZQV = [f"zqv-{word}" for word in WORDS]
START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def stamp(hours: float) -> str:
    return (START + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(i: int, name: str, hours: float, kind: str = "project.created") -> dict[str, Any]:
    return {"id": f"s{i}", "ts": stamp(hours), "type": kind,
            "account": {"username": f"user{i}"}, "project": {"name": name}}


def stream(names: list[str], step_hours: float = 1 / 60) -> list[dict[str, Any]]:
    """One project a step; with steps over an hour, unrelated accounts every half hour
    between (a stream's clock does not leap ahead on one event)."""
    events = []
    for i, name in enumerate(names):
        hours = i * step_hours
        if i and step_hours > 1.0:
            events += [{"id": f"t{i}-{k}", "type": "account.created",
                        "ts": stamp(hours - step_hours + 0.5 * (k + 1)),
                        "account": {"username": f"tick{i}-{k}"}}
                       for k in range(int((step_hours - 0.01) / 0.5))]
        events.append(event(i, name, hours))
    return events


def score_all(events: list[dict[str, Any]], scorer: StreamScorer | None = None
              ) -> list[dict[str, Any]]:
    scorer = scorer or StreamScorer()
    return [scorer.process(e)[0] for e in events]


def scored_to(events: list[dict[str, Any]]) -> StreamScorer:
    """A scorer after ``events``."""
    scorer = StreamScorer()
    score_all(events, scorer)
    return scorer


def scorer_with(**names: Any) -> StreamScorer:
    """A scorer under the shipped policy with these ``[names]`` keys changed."""
    tables = load_policy().to_dict()
    tables["names"].update(names)
    return StreamScorer(build_policy(tables))


def name_reason(decision: dict[str, Any]) -> str:
    signal = next((s for s in decision["signals"] if s["signal"] == "name"), None)
    return "" if signal is None else str(signal["reason"])


def bursts_of(events: list[dict[str, Any]], decisions: list[dict[str, Any]]
              ) -> dict[str, str]:
    """Project name -> its name reason, for the events a burst raised."""
    return {e["project"]["name"]: name_reason(d) for e, d in zip(events, decisions, strict=True)
            if "burst:" in name_reason(d)}


ALONE = {r.name: r for r in check_names(GRID + ACME + ZQV)}


def batch_flagged(projects: list[dict[str, Any]]) -> set[str]:
    """The names a timed batch (`check-name --file` with times) flags through a burst."""
    names = [e["project"]["name"] for e in projects]
    after = apply_sweeps(check_names(names), [parse_ts(e["ts"]) for e in projects])
    return {r.name for r in after
            if r.flagged and r.sweep is not None and "burst" in r.sweep}


@pytest.mark.parametrize(
    ("label", "names", "step_hours", "raised"),
    [
        ("a generator's grid, a name a minute", GRID, 1 / 60, True),
        ("the grid interleaved with a family", [n for pair in zip(GRID, ACME * 3, strict=False)
                                                 for n in pair] + GRID[len(ACME) * 3:],
         1 / 60, True),
        ("an organisation's family: shared start, ordinary ends", ACME, 1 / 60, False),
        ("a rare family: shared start, ordinary ends", ZQV, 1 / 60, False),
        ("the grid, each name a window after the one before", GRID[-12:],
         CFG.sweep_window_hours + 1, False),
    ],
)
def test_later_names_of_a_burst_are_raised_and_name_the_earlier_ones(
    label: str, names: list[str], step_hours: float, raised: bool
) -> None:
    events = stream(names, step_hours)
    projects = [e for e in events if e["type"] == "project.created"]
    decisions = [d for d in score_all(events) if d["id"].startswith("s")]
    got = bursts_of(projects, decisions)
    # What the timed batch flags through a burst, and only names near a popular one.
    assert set(got) == batch_flagged(projects), label
    assert bool(got) == raised and set(got) <= set(RAISED), label
    order = [e["project"]["name"] for e in projects]
    for name, reason in got.items():
        before = order[: order.index(name)]
        listing = re.search(r"burst: .* live names \(([^)]*)\)", reason)
        assert listing is not None, reason
        quoted = set(re.findall(r"'([^']+)'", listing.group(1)))
        assert quoted and quoted <= set(before), (name, reason)
        assert not any(f"'{later}'" in reason for later in order[order.index(name) + 1:])
        assert f"in the {CFG.sweep_window_hours:g} h before it" in reason
    for name, decision in zip(order, decisions, strict=True):
        if name in got:
            signal = next(s for s in decision["signals"] if s["signal"] == "name")
            assert signal["score"] > round(SQUAT * ALONE[name].score, 4)


def test_the_family_members_are_burst_candidates_that_are_not_raised() -> None:
    """The family rows mean something: some of their names score as burst members."""
    assert any(ALONE[n].matches and ALONE[n].matches[0].score >= CFG.burst_min_score
               for n in ACME + ZQV)


def test_releases_are_raised_by_a_burst_but_do_not_join_it() -> None:
    events = stream(GRID[:-1])
    member = GRID[-1]
    release = event(len(GRID), member, len(GRID) / 60, "release.uploaded")
    scorer = StreamScorer()
    score_all(events, scorer)
    assert scorer.bursts is not None
    held = scorer.bursts.dump()
    decision = scorer.process(release)[0]
    assert "burst:" in name_reason(decision)
    assert scorer.bursts.dump()[1] == held[1]  # the release's name did not join
    # Releases of other names neither join nor count.
    other = event(len(GRID) + 1, "pywfoo", (len(GRID) + 1) / 60, "release.uploaded")
    scorer.process(other)
    assert scorer.bursts.dump()[1] == held[1]


def test_bursts_come_on_top_of_the_name_score_and_turn_off() -> None:
    events = stream(GRID)
    off = scorer_with(burst_boost=0.0)
    assert off.bursts is None
    assert not bursts_of(events, score_all(events, off))
    assert bursts_of(events, score_all(events))


def test_the_burst_window_is_checkpointed_and_a_replay_rebuilds_it() -> None:
    events = stream(ACME[:4] + GRID)
    whole = score_all(events)
    assert bursts_of(events, whole)
    cut = len(events) - len(RAISED) + 2  # inside the burst
    scorer = StreamScorer()
    score_all(events[:cut], scorer)
    data = dump(scorer)
    assert data["version"] == VERSION and len(data["bursts"][1]) == cut
    restored = decode(encode(scorer))
    assert restored.bursts is not None and scorer.bursts is not None
    assert restored.bursts.dump() == scorer.bursts.dump()
    assert restored.bursts.inside == scorer.bursts.inside
    assert score_all(events[cut:], restored) == whole[cut:]
    # A replay of the same events rebuilds the same window.
    replayed = StreamScorer()
    score_all(events[:cut], replayed)
    assert dump(replayed)["bursts"] == data["bursts"]


def test_an_older_checkpoint_is_read_with_an_empty_burst_window() -> None:
    scorer = StreamScorer()
    score_all(stream(GRID[:10]), scorer)
    data = dump(scorer)
    assert data["bursts"][1]
    data["version"] = 3
    del data["bursts"]
    old = restore(json.loads(json.dumps(data)))
    assert old.bursts is not None and len(old.bursts) == 0
    assert old.clock.now == scorer.clock.now
    assert json.loads(zlib.decompress(encode(old)))["version"] == VERSION


def test_warden_score_reports_the_burst(tmp_path) -> None:
    events = stream(ACME[:5] + GRID)
    decisions = warden_score(events, tmp_path)
    assert decisions == score_all(events)
    raised = {e["project"]["name"] for e, d in zip(events, decisions, strict=True)
              if any("burst:" in r for r in d["reasons"])}
    assert raised == batch_flagged(events) and raised


# The generator's combosquats: its starts glued to the popular `control`, most of which no
# name check matches (tests/names/test_names_bursts.py); they come after the grid.
COMBOS = [s + "control" for s in STARTS]


def test_a_generators_glued_combosquats_are_raised_in_the_stream() -> None:
    events = stream(GRID + COMBOS)
    projects = [e for e in events if e["type"] == "project.created"]
    decisions = [d for d in score_all(events) if d["id"].startswith("s")]
    got = bursts_of(projects, decisions)
    assert set(got) == batch_flagged(projects)
    unmatched = {name for name, result in
                 zip(COMBOS, check_names(COMBOS), strict=True) if not result.matches}
    raised = set(got) & unmatched
    assert "visacontrol" in raised  # the last, no match alone: the five before it share
    for name in raised:
        assert "holds the popular name 'control' glued to other letters" in got[name]
    # Without the floor, names without a match are no members and nothing raises them.
    off = [d for d in score_all(events, scorer_with(burst_glued_floor=0.0))
           if d["id"].startswith("s")]
    assert not set(bursts_of(projects, off)) & unmatched


# An attacker back at one popular name every two days (detector/names/runs.py): no sweep
# or burst window holds more than one of them; the runs' window of weeks does.
HTTPX_RUN = ["httpxgetterz", "httpxmodifierz", "httpxrequesterz", "httpxontopz", "httpxboostz"]


def test_a_slow_run_is_raised_in_the_stream_as_in_a_timed_batch_and_checkpointed() -> None:
    events = stream(HTTPX_RUN, step_hours=48.0)
    projects = [e for e in events if e["type"] == "project.created"]
    whole = score_all(events)
    decisions = [d for d in whole if d["id"].startswith("s")]
    got = {e["project"]["name"]: name_reason(d)
           for e, d in zip(projects, decisions, strict=True) if "run:" in name_reason(d)}
    after = apply_sweeps(check_names(HTTPX_RUN), [parse_ts(e["ts"]) for e in projects])
    # What the batch raises to a flag (the stream reports a name signal only then): from
    # the fourth on; the third, two earlier ones, stays just below the threshold.
    assert set(got) == {r.name for r in after if r.flagged and "run" in (r.sweep or {})}
    assert set(got) == set(HTTPX_RUN[3:])
    assert "run" in (after[2].sweep or {}) and not after[2].flagged
    assert "'httpx' glued to other letters" in got[HTTPX_RUN[-1]]
    # The runs' window is stream state: a checkpoint between two of them carries it on.
    cut = events.index(projects[3])
    scorer = StreamScorer()
    score_all(events[:cut], scorer)
    assert len(dump(scorer)["bursts"][2]) == 3
    restored = decode(encode(scorer))
    assert score_all(events[cut:], restored) == whole[cut:]


# A generator's words crossed two by two, too few for any end to be a burst piece
# (detector/names/grids.py): `getlib` (near `geolib`) comes last.
SMALL_CROSSING = [a + b for a in ("get", "post", "ram") for b in ("game", "mc", "lib")
                  if a + b != "getlib"] + ["getlib"]


def test_warden_score_reports_a_grid_as_a_timed_batch_does(tmp_path) -> None:
    events = stream(SMALL_CROSSING)
    decisions = warden_score(events, tmp_path)
    assert decisions == score_all(events)
    raised = {e["project"]["name"]: name_reason(d)
              for e, d in zip(events, decisions, strict=True) if "grid:" in name_reason(d)}
    assert "getlib" in raised and "squares" in raised["getlib"]
    after = apply_sweeps(check_names(SMALL_CROSSING), [parse_ts(e["ts"]) for e in events])
    assert set(raised) == {r.name for r in after if r.sweep and "grid" in r.sweep}
    # Off in the policy, nothing raises it.
    off = score_all(events, scorer_with(grid_min_squares=0))
    assert not any("grid:" in name_reason(d) for d in off)


# A generator crossing popular names with hyphens (detector/names/pairs.py): each word at
# both ends, and one word of its own (`zork`) joined to popular names three times.
PAIRS = ["boto3-click", "click-jinja2", "jinja2-attrs", "attrs-boto3", "pillow-httpx",
         "httpx-redis", "redis-pillow", "celery-click", "zork-redis", "attrs-zork",
         "boto3-celery", "zork-httpx"]


def test_warden_score_reports_pairs_as_a_timed_batch_does(tmp_path) -> None:
    events = stream(ACME[:3] + PAIRS)
    decisions = warden_score(events, tmp_path)
    assert decisions == score_all(events)
    raised = {e["project"]["name"]: name_reason(d)
              for e, d in zip(events, decisions, strict=True) if "pairs:" in name_reason(d)}
    after = apply_sweeps(check_names([e["project"]["name"] for e in events]),
                         [parse_ts(e["ts"]) for e in events])
    assert set(raised) == {r.name for r in after if r.flagged and "pair" in (r.sweep or {})}
    # From the sixth pair on (five before it), and `zork-httpx` for its shared word.
    assert {"celery-click", "boto3-celery", "zork-httpx"} <= set(raised)
    assert not {"boto3-click", "attrs-boto3"} & set(raised)
    assert "its word 'zork' joins a popular name in 2" in raised["zork-httpx"]
    # A checkpoint in the middle carries the window on.
    cut = events.index(next(e for e in events if e["project"]["name"] == "redis-pillow"))
    scorer = scored_to(events[:cut])
    assert score_all(events[cut:], decode(encode(scorer))) == score_all(events)[cut:]
    # Off in the policy, nothing raises them.
    off = score_all(events, scorer_with(pair_min_names=0))
    assert not any("pairs:" in name_reason(d) for d in off)


# A squat, then its variants an hour apart (detector/names/echoes.py), among a family.
ECHOES = ["tgrequests", "acme-core", "tgrequest", "tg-requests", "acme-cli", "http3client",
          "http3-client", "seleniumm", "seleniumx"]


def test_warden_score_reports_echoes_as_a_timed_batch_does(tmp_path) -> None:
    events = stream(ECHOES, step_hours=1.0)
    decisions = warden_score(events, tmp_path)
    assert decisions == score_all(events)
    raised = {e["project"]["name"]: name_reason(d) for e, d in zip(events, decisions,
                                                                   strict=True)
              if "echo:" in name_reason(d)}
    projects = [e for e in events if e["type"] == "project.created"]
    after = apply_sweeps(check_names([e["project"]["name"] for e in projects]),
                         [parse_ts(e["ts"]) for e in projects])
    assert set(raised) == {r.name for r in after if "echo" in (r.sweep or {})}
    # `http3client` (0.39 alone) is no twin; `seleniumx`, one edit from `seleniumm`, is
    # flagged by its sweep already.
    assert set(raised) == {"tgrequest", "tg-requests"}
    assert "one edit from 'tgrequests'" in raised["tg-requests"]
    # A checkpoint in the middle carries the twins on.
    cut = events.index(next(e for e in events if e["project"]["name"] == "tgrequest"))
    scorer = scored_to(events[:cut])
    assert score_all(events[cut:], decode(encode(scorer))) == score_all(events)[cut:]
    # A checkpoint written before echoes (no "echoes" key) restores none.
    older = dump(scorer)
    del older["echoes"]
    assert not any("echo:" in name_reason(d)
                   for d in score_all(events[cut:cut + 4], restore(older)))
    # Off in the policy, nothing raises them.
    off = score_all(events, scorer_with(echo_min_score=0.0))
    assert not any("echo:" in name_reason(d) for d in off)


def test_warden_score_reports_recent_attacks_as_a_timed_batch_does(tmp_path) -> None:
    """`readchar` was squatted on 2023-04-04 and 04-06 (the shipped attack log,
    detector/names/attacks.py): its look-alikes of the next days gain, through the
    stream as through a timed batch; a stream years later sees none of it."""
    names = ["readycher", "acme-core", "pyperclipe", "readycharx"]
    def events_at(start: datetime) -> list[dict[str, Any]]:
        return [{"id": f"r{i}", "ts": (start + timedelta(hours=5 * i)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"), "type": "project.created",
                 "account": {"username": f"user{i}"}, "project": {"name": name}}
                for i, name in enumerate(names)]
    events = events_at(datetime(2023, 4, 8, tzinfo=UTC))
    decisions = warden_score(events, tmp_path)
    assert decisions == score_all(events)
    raised = {e["project"]["name"]: name_reason(d)
              for e, d in zip(events, decisions, strict=True) if "attack:" in name_reason(d)}
    after = apply_sweeps(check_names(names), [parse_ts(e["ts"]) for e in events])
    assert set(raised) == {r.name for r in after if "attack" in (r.sweep or {})}
    assert set(raised) == {"readycher", "readycharx"}
    assert "'readchar' was squatted by 2 known malicious names" in raised["readycher"]
    later = events_at(START)
    assert not any("attack:" in name_reason(d) for d in score_all(later))
    # Off in the policy, nothing raises them.
    assert not any("attack:" in name_reason(d)
                   for d in score_all(events, scorer_with(attack_boost=0.0)))

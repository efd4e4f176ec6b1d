"""Generator bursts through the real service: a name near a popular one, glued from the
same rare pieces as many names before it in the window, is raised, naming them; a
restarted service (which restores a checkpoint and replays its stream) remembers the
window. Likewise a run (names gluing one popular name, detector/names/runs.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from svc_helpers import post_project, running, service_database

# A generator's grid (tests/stream/test_bursts.py): six starts glued to seven ends; the
# members (names near a popular one) come after the rest.
STARTS = ["pyw", "tp", "grand", "rand", "cc", "visa"]
ENDS = ["url", "info", "kill", "lib", "vm", "int", "ver"]
MEMBER = "pywurl"  # by `pycurl`
GRID = [s + e for s in STARTS for e in ENDS if s + e != MEMBER]


def _burst_reason(body: dict) -> str | None:
    return next((reason for reason in body["reasons"] if "also start with" in reason), None)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_service_scores_a_burst_and_remembers_its_window_across_a_restart(
        kind: str, tmp_path: Path) -> None:
    # A checkpoint every 4 events: the restart restores one, then replays the rest.
    with service_database(kind, tmp_path, "[service]\ncheckpoint_events = 4\n") as server:
        with running(server) as first:
            answers = [post_project(first, name) for name in GRID]
        assert all(_burst_reason(a) is None for a in answers)  # no member among them

        with running(first) as again:
            member = post_project(again, MEMBER)
        reason = _burst_reason(member)
        assert reason is not None, member["reasons"]
        hours = server.settings.policy.names.sweep_window_hours
        assert f"burst: 5 other names in the {hours:g} h before it" in reason
        listing = re.search(r"live names \(([^)]*)\)", reason)
        assert listing is not None
        listed = re.findall(r"'([^']+)'", listing.group(1))
        assert listed and set(listed) <= set(GRID)
        assert all(name.startswith("pyw") or name.endswith("rl") for name in listed)


def test_the_service_raises_a_generators_glued_combosquat(tmp_path: Path) -> None:
    """`visacontrol` holds the popular `control` glued to a piece of the generator's grid;
    no name check matches it alone, and after the grid and five more `*control` names it
    is raised with the popular name in its reason. The stream weighs it as any name
    signal (`[stream] name_squat`), with the other evidence."""
    combos = [s + "control" for s in STARTS]
    with service_database("sqlite", tmp_path, "") as server, running(server) as live:
        for name in [*GRID, *combos[:-1]]:
            post_project(live, name)
        answer = post_project(live, combos[-1])
    reason = _burst_reason(answer)
    assert reason is not None, answer["reasons"]
    assert "holds the popular name 'control' glued to other letters" in reason
    assert answer["score"] > 0.0


def test_the_service_raises_a_run_and_remembers_it_across_a_restart(tmp_path: Path) -> None:
    """Five names gluing the popular `httpx` to different letters (a run,
    detector/names/runs.py): the last, after a restart between them, sees the four
    before it, and is raised with the popular name and the earlier names in its reason."""
    names = ["httpxgetterq", "httpxmodifierq", "httpxrequesterq", "httpxontopq", "httpxboostq"]
    with service_database("sqlite", tmp_path, "[service]\ncheckpoint_events = 2\n") as server:
        with running(server) as first:
            answers = [post_project(first, name) for name in names[:3]]
        # Two before it are not yet beyond chance enough to flag the third.
        assert not any("run: " in r for a in answers for r in a["reasons"])
        with running(first) as again:
            post_project(again, names[3])
            last = post_project(again, names[4])
    reason = next((r for r in last["reasons"] if "run: " in r), None)
    assert reason is not None, last["reasons"]
    assert "also hold the popular name 'httpx' glued to other letters" in reason
    days = server.settings.policy.names.run_window_days
    assert f"run: 4 other names in the {days:g} days before it" in reason
    assert all(f"'{name}'" in reason for name in names[:4])

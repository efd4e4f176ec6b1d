"""Run `warden score --json` on events, as a user would (a real process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def warden_score(events: list[dict[str, Any]], tmp_path: Path) -> list[dict[str, Any]]:
    """The decisions `warden score --json` prints for ``events`` (written as JSON Lines);
    the command must succeed."""
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    done = subprocess.run([sys.executable, "-m", "warden", "score", str(path), "--json"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return [d for d in map(json.loads, done.stdout.splitlines()) if "decision" in d]

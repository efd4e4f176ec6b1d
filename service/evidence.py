"""Finds the evidence in a decision and marks it in the event's files for the item page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_LINES_SHOWN = 400


@dataclass
class Line:
    number: int
    text: str
    hit: bool
    notes: list[str]


def collect_findings(detail: Any) -> list[dict[str, Any]]:
    """Every finding-like object (one carrying `evidence` or `rule`) anywhere in the decision."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "evidence" in node or ("rule" in node and "file" in node):
                found.append(node)
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(detail)
    return found


def annotate_files(files: dict[str, str], findings: list[dict[str, Any]]
                   ) -> list[tuple[str, list[Line], int]]:
    """Each file as numbered lines, the lines a finding points at marked; long files are cut
    to the region around the hits. Returns (path, lines, total line count)."""
    out = []
    for path, text in sorted(files.items()):
        lines = text.splitlines()
        notes: dict[int, list[str]] = {}
        for f in findings:
            if f.get("file") not in (path, None):
                continue
            line = f.get("line")
            where = line if isinstance(line, int) and line > 0 else _locate(lines, f)
            if where:
                notes.setdefault(where, []).append(
                    f"{f.get('rule', 'finding')} ({f.get('severity', '?')})")
        shown = _window(len(lines), sorted(notes))
        out.append((path, [Line(n, lines[n - 1], n in notes, notes.get(n, [])) for n in shown],
                    len(lines)))
    return out


def _locate(lines: list[str], finding: dict[str, Any]) -> int | None:
    evidence = str(finding.get("evidence") or "").strip()[:60]
    if not evidence:
        return None
    for number, text in enumerate(lines, 1):
        if evidence in text:
            return number
    return None


def _window(total: int, hits: list[int]) -> list[int]:
    if total <= MAX_LINES_SHOWN or not hits:
        return list(range(1, min(total, MAX_LINES_SHOWN) + 1))
    keep: set[int] = set()
    for hit in hits:
        keep.update(range(max(1, hit - 8), min(total, hit + 8) + 1))
    return sorted(keep)[:MAX_LINES_SHOWN]

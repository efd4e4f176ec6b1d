"""`warden serve --workers 2`: one answer for /metrics, whichever worker is scraped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from svc_helpers import free_port
from svc_procs import REPO, wait_ready


def _healthz_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (sample.name == "warden_http_requests_total"
                    and sample.labels.get("route") == "/healthz"):
                return sample.value
    return 0.0


def test_metrics_count_every_worker_s_requests(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "warden", "serve", "--port", str(port),
                             "--workers", "2", "--database-url", url], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # its workers die with it (killpg)
    try:
        wait_ready(base, proc, seconds=180)  # type: ignore[arg-type]
        for _ in range(31):  # a new connection each: the kernel spreads them over workers
            assert httpx.get(f"{base}/healthz", headers={"Connection": "close"}).is_success
        scrapes = {_healthz_count(httpx.get(f"{base}/metrics",
                                            headers={"Connection": "close"}).text)
                   for _ in range(10)}
        assert scrapes == {31.0}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the supervisor and both workers
            proc.wait()

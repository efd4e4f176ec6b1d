"""`warden send` against a real server: batches, a summary of decisions, retries of the
same ids through a proxy that loses an answer and rate-limits, refusals and bad files."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from svc_helpers import Server, account_event, free_port, project_event


def _warden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warden", *args], capture_output=True,
                          text=True, timeout=300)


def _write(tmp: Path, events: list[dict[str, Any]], name: str = "events.jsonl") -> Path:
    path = tmp / name
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def _token(tmp: Path, server: Server) -> Path:
    path = tmp / "registry.token"
    path.write_text(server.tokens["registry"] + "\n", encoding="utf-8")
    return path


def _stored(server: Server, ids: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    with server.client("analyst") as c:
        for event_id in ids:
            r = c.get(f"/v1/events/{event_id}")
            if r.status_code == 200:
                out[event_id] = r.json()
    return out


class Flaky(http.server.BaseHTTPRequestHandler):
    """A proxy to the service that loses the answer of the first POST (after the service
    stored it) with a 503, and answers the second with 429 before forwarding it."""

    target = ""
    posts = 0

    def do_POST(self) -> None:
        type(self).posts += 1
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if type(self).posts == 2:
            self._answer(429, b'{"detail":"slow down"}', {"Retry-After": "0"})
            return
        answer = httpx.post(self.target + self.path, content=body, timeout=60,
                            headers={"Authorization": self.headers["Authorization"],
                                     "Content-Type": "application/json"})
        if type(self).posts == 1:
            self._answer(503, b'{"detail":"answer lost"}')
            return
        self._answer(answer.status_code, answer.content)

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def flaky(server: Server) -> Iterator[str]:
    Flaky.target, Flaky.posts = server.url, 0
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Flaky)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}"
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_send_batches_and_summarises(server: Server, tmp_path: Path) -> None:
    events = [account_event(server) for _ in range(17)] + [project_event(server, "reqeusts")]
    path, token = _write(tmp_path, events), _token(tmp_path, server)
    out = tmp_path / "decisions.jsonl"
    run = _warden("send", str(path), "--url", server.url, "--token-file", str(token),
                  "--batch-size", "5", "--quiet", "--out", str(out))
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    stored = _stored(server, [e["id"] for e in events])
    assert summary["sent"] == len(stored) == len(events) and summary["batches"] == 4
    assert summary["decisions"] == dict(Counter(s["decision"] for s in stored.values()))
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == \
        [e["id"] for e in events]
    again = _warden("send", str(path), "--url", server.url, "--token-file", str(token),
                    "--quiet")  # the same ids again: answered from what is stored
    assert again.returncode == 0 and json.loads(again.stdout)["decisions"] == \
        summary["decisions"]


def test_send_retries_the_same_ids(server: Server, flaky: str, tmp_path: Path) -> None:
    events = [account_event(server) for _ in range(6)]
    path, token = _write(tmp_path, events), _token(tmp_path, server)
    run = _warden("send", str(path), "--url", flaky, "--token-file", str(token),
                  "--batch-size", "3", "--quiet")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["retries"] == 2 and summary["sent"] == 6
    assert "answer lost" in run.stderr and "slow down" in run.stderr
    stored = _stored(server, [e["id"] for e in events])
    assert len(stored) == 6
    assert summary["decisions"] == dict(Counter(s["decision"] for s in stored.values()))


def test_send_refusals_and_bad_input(server: Server, tmp_path: Path) -> None:
    token = _token(tmp_path, server)
    good = [account_event(server) for _ in range(4)]
    bad = {**account_event(server), "type": "account.exploded"}
    path = _write(tmp_path, [*good, bad])
    run = _warden("send", str(path), "--url", server.url, "--token-file", str(token),
                  "--batch-size", "4", "--quiet")
    assert run.returncode == 1
    assert "lines 5-5 not stored" in run.stderr and "4 events before it" in run.stderr
    assert len(_stored(server, [e["id"] for e in good])) == 4

    first = account_event(server)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(first) + "\n\n{not json\n", encoding="utf-8")
    run = _warden("send", str(broken), "--url", server.url, "--token-file", str(token))
    assert run.returncode == 2 and "broken.jsonl:3" in run.stderr
    assert _stored(server, [first["id"]]) == {}  # nothing sent from a bad file

    empty = tmp_path / "empty.token"
    empty.write_text("", encoding="utf-8")
    run = _warden("send", str(path), "--url", server.url, "--token-file", str(empty))
    assert run.returncode == 2 and "empty" in run.stderr

"""The open-loop (fixed offered rate) load of bench/bench_service.py: its arithmetic, and
that both generators (wrk with the Lua schedule, and the Python fallback) hold the offered
rate and time each request from when it was due, so a slow server's queue is counted."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_service


def test_open_loop_summary_arithmetic() -> None:
    # 10 requests due 0.1 s apart over 1 s; latencies 1..10 ms; one answer was a 500
    lines = ["sent 10", "answered 10", "errors 1"]
    lines += [f"{k * 100_000} {(k + 1) * 1000}" for k in range(10)]
    out = bench_service.open_loop_summary("\n".join(lines) + "\n", rate=10, seconds=1.0)
    assert (out["offered"], out["sent_rate"], out["rate"], out["errors"]) == (10, 10, 10, 1)
    assert out["p50"] == pytest.approx(0.006) and out["p90"] == pytest.approx(0.010)
    assert out["max"] == pytest.approx(0.010) and out["timed"] == 10
    assert out["timeline"][0] == (0.0, 0.001)
    # two lines per counter (two wrk threads) add up; an unanswered request has no latency
    two = bench_service.open_loop_summary("sent 3\nsent 2\nanswered 4\n0 5000\n", 5, 1.0)
    assert (two["sent_rate"], two["rate"], two["timed"]) == (5, 4, 1)


class _Echo(BaseHTTPRequestHandler):
    """Answers `{"id": …}` with the event id of the body, after `delay` seconds, one
    request at a time (so the server's capacity is 1 / delay requests per second)."""

    protocol_version = "HTTP/1.1"
    delay = 0.0
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        found = re.search(rb'"id":\s*"([^"]+)"', body)
        with self.lock:
            time.sleep(self.delay)
        out = json.dumps({"id": found.group(1).decode() if found else None}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # wrk drops its connections when its time is up


@pytest.fixture
def echo() -> Iterator[tuple[str, type[_Echo]]]:
    handler = type("Echo", (_Echo,), {"lock": threading.Lock()})
    server = _Quiet(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _python(url: str, rate: float, seconds: float, workers: int) -> dict:
    bodies = [json.dumps(e).encode()
              for e in bench_service.make_events("t", int(rate * seconds), time.time())]
    return bench_service.python_open_loop(url, "token", bodies, rate, workers)


def _wrk(url: str, rate: float, seconds: int, connections: int, tmp: Path) -> dict:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (Debian package wrk)")
    return bench_service.open_loop_events(url, "token", rate, connections, seconds, tmp,
                                          f"t{rate:g}", int(time.time()))


@pytest.mark.parametrize("generator", ["wrk", "python"])
def test_open_loop_holds_the_offered_rate(generator: str, echo: tuple[str, type[_Echo]],
                                          tmp_path: Path) -> None:
    url, _ = echo
    out = (_wrk(url, 100, 3, 8, tmp_path) if generator == "wrk"
           else _python(url, 100, 3, 8))
    assert 90 <= out["sent_rate"] <= 110 and 90 <= out["rate"] <= 110
    assert out["errors"] == 0 and out["timed"] >= 0.95 * out["answered"]
    # due times are 10 ms apart: the schedule, not the answers, sets the pace
    dues = [due for due, _ in out["timeline"]]
    gaps = sorted(b - a for a, b in itertools.pairwise(dues))
    assert gaps[len(gaps) // 2] == pytest.approx(0.010, abs=0.002)


@pytest.mark.parametrize("generator", ["wrk", "python"])
def test_open_loop_counts_the_queue_of_a_slow_server(generator: str,
                                                     echo: tuple[str, type[_Echo]],
                                                     tmp_path: Path) -> None:
    """100/s offered to a server that answers 40/s: a closed-loop generator would report
    about 25 ms per request; timed from the due time, the wait in the queue shows."""
    url, handler = echo
    handler.delay = 0.025
    out = (_wrk(url, 100, 3, 4, tmp_path) if generator == "wrk"
           else _python(url, 100, 3, 4))
    assert out["rate"] < 55  # the server's capacity, not the offered rate
    assert out["p50"] > 0.2 and out["max"] > 0.5
    timeline = out["timeline"]
    fifth = len(timeline) // 5
    early = [latency for _, latency in timeline[:fifth]]
    late = [latency for _, latency in timeline[-fifth:]]
    assert min(late) > max(early)  # the backlog grows for as long as the overload lasts
    # the generator could not send at the offered rate either (every connection waited)
    assert out["sent_rate"] < 60

"""Ordinary events while files crafted to spend the whole scan budget stream in (issue 18
item 5: "a scan that hits its budget can't block other requests").

A real `uvicorn` server process on a fresh SQLite database, the shipped policy. Two
phases of --seconds each: ordinary events alone, then the same ordinary load while one
client sends hostile events back to back (each a distinct ~110 KB setup.py of 200
compressed payloads the scanner decompresses and re-parses: the whole 1.5 s CPU budget;
text only, never executed), pausing --hostile-pause s between them. Ordinary events
(half new accounts, half new projects with a small setup.py) are sent open loop at
--rate/s over 8 connections; latency runs from each request's due time.

Printed: ordinary p50/p99/max per phase, the hostile answers (how many pending, their
p50), and how long after the load the last hostile event was decided. ``--server-repo``
runs the server from another checkout (the figure before a change), with this
interpreter.

    .venv/bin/python bench/bench_scanload.py [--seconds 15] [--rate 20] [--server-repo DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detector.stream.events import format_ts  # noqa: E402

TOKENS = """
import json, sys
from service.db import make_engine, migrate, session_factory
from service.tokens import create_token
engine = make_engine(sys.argv[1]); migrate(engine)
with session_factory(engine)() as s:
    print(json.dumps({r: create_token(s, r, "bench-" + r) for r in ("registry", "analyst")}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hostile_files(n: int) -> dict[str, str]:
    """As tests/service/test_service_prescan.py: ~110 KB, the whole scan budget."""
    blobs = "".join(f"exec(zlib.decompress({_packed(f'import os;os.system({n}{i});')!r}))\n"
                    for i in range(200))
    return {"setup.py": "import zlib\n" + blobs}


def _packed(statement: str) -> bytes:
    return zlib.compress(statement.encode() * 2000)


def ordinary(n: int, tag: str) -> dict[str, Any]:
    event: dict[str, Any] = {"id": f"{tag}-{n}", "ts": format_ts(time.time() - 2),
                             "account": {"username": f"{tag}-user{n}"}}
    if n % 2:
        return {**event, "type": "account.created"}
    setup = f"from setuptools import setup\nsetup(name='tidy{n}', version='1.0')\n"
    return {**event, "type": "project.created",
            "project": {"name": f"{tag}-tidy-{n}", "files": {"setup.py": setup}}}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def open_loop(url: str, token: str, rate: float, seconds: float, tag: str,
              connections: int = 8) -> list[tuple[bool, float]]:
    """Event k is due at start + k / rate; returns (with files, latency from its due time)
    of each answer."""
    count = int(rate * seconds)
    start = time.monotonic() + 0.2
    latencies: list[tuple[bool, float]] = []
    lock = threading.Lock()

    def lane(first: int) -> None:
        with httpx.Client(base_url=url, timeout=120,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            for k in range(first, count, connections):
                due = start + k / rate
                time.sleep(max(0.0, due - time.monotonic()))
                event = ordinary(k, tag)
                answer = client.post("/v1/events", json=event)
                took = time.monotonic() - due
                if answer.status_code != 200:
                    raise SystemExit(f"ordinary event answered {answer.status_code}")
                with lock:
                    latencies.append(("project" in event, took))

    threads = [threading.Thread(target=lane, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=20.0, help="ordinary events per second")
    parser.add_argument("--hostile-pause", type=float, default=0.25)
    parser.add_argument("--server-repo", type=Path, default=REPO)
    args = parser.parse_args()
    repo = args.server_repo.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        url_db = f"sqlite:///{tmp}/scanload.db"
        tokens = json.loads(subprocess.run([sys.executable, "-c", TOKENS, url_db], cwd=repo,
                                           check=True, capture_output=True, text=True).stdout)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "WARDEN_DATABASE_URL": url_db}
        env.pop("WARDEN_POLICY", None)
        with open(Path(tmp) / "server.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "service.app:app_from_env",
                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                 "--no-access-log"], env=env, cwd=repo, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not become ready")
                time.sleep(0.2)
            return _run(args, url, tokens)
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def _run(args: argparse.Namespace, url: str, tokens: dict[str, str]) -> int:
    registry = tokens["registry"]
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"server from {args.server_repo}; load average {load}")
    alone = open_loop(url, registry, args.rate, args.seconds, "alone")
    hostile: list[tuple[float, dict[str, Any]]] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=url, timeout=600,
                          headers={"Authorization": f"Bearer {registry}"}) as client:
            n = 0
            while not stop.is_set():
                event = {"id": f"hostile-{n}", "ts": format_ts(time.time() - 2),
                         "type": "project.created", "account": {"username": f"crafter{n}"},
                         "project": {"name": f"widgets-{n}", "files": hostile_files(n)}}
                start = time.monotonic()
                answer = client.post("/v1/events", json=event)
                hostile.append((time.monotonic() - start, answer.json()))
                n += 1
                stop.wait(args.hostile_pause)

    sender = threading.Thread(target=stream)
    sender.start()
    loaded = open_loop(url, registry, args.rate, args.seconds, "loaded")
    stop.set()
    sender.join()
    ended = time.monotonic()
    for phase, answers in (("alone", alone), ("with a hostile stream", loaded)):
        for kind, chosen in (("all", (True, False)), ("with files", (True,)),
                             ("without files", (False,))):
            values = [took for files, took in answers if files in chosen]
            print(f"ordinary events {phase}, {kind}: n={len(values)} "
                  f"p50={_pct(values, .5) * 1000:.0f} ms p99={_pct(values, .99) * 1000:.0f} "
                  f"ms max={max(values) * 1000:.0f} ms")
    pending = sum(1 for _, a in hostile if a.get("pending"))
    print(f"hostile events: {len(hostile)} answered, {pending} pending, answer "
          f"p50={_pct([t for t, _ in hostile], .5) * 1000:.0f} ms")
    with httpx.Client(base_url=url, timeout=60,
                      headers={"Authorization": f"Bearer {tokens['analyst']}"}) as client:
        for _, answer in hostile:
            while client.get(f"/v1/events/{answer['id']}").json().get("pending"):
                time.sleep(0.5)
        decisions = [client.get(f"/v1/events/{a['id']}").json()["decision"] for _, a in hostile]
    print(f"hostile events decided {time.monotonic() - ended:.1f} s after the load: "
          f"{sorted(set(decisions))}; load average "
          f"{Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

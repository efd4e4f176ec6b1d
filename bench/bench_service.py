"""Service benchmark: sustained event load, registration-status checks, peak memory,
SIGKILL durability and a schemathesis run, each against a real `uvicorn` server process.

Figures printed (stdout), one per line:

* events: `wrk` (a separate C process, one thread) sends new account and project events
  (each request a new event id; projects without files) over 8 and then 32 keep-alive
  connections for --seconds each: rate, p50 and p99 latency, non-200 answers;
* registration-status checks: `wrk` over 32 connections: rate, p99;
* server peak RSS (VmHWM of the server process over the whole run);
* schemathesis: cases sent to every operation of the OpenAPI schema, and 5xx answers;
* durability: 8 senders, SIGKILL after 5 s, restart; acknowledged vs stored vs lost.

Without wrk, a threaded Python generator is used instead (and says so).

Usage: ``.venv/bin/python bench/bench_service.py [--database-url URL] [--seconds 20]
[--status-seconds 10] [--examples 60] [--skip-fuzz] [--skip-kill]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.config import ROLES  # noqa: E402
from service.db import make_engine, migrate, session_factory  # noqa: E402
from service.tokens import create_token  # noqa: E402

console = Console(stderr=True)
DOMAINS = ["gmail.com", "example.org", "proton.me", "outlook.com"]
WORDS = ["data", "cloud", "fast", "py", "json", "http", "text", "graph", "auth", "cache",
         "async", "tool", "kit", "lite", "flow", "core", "utils", "client", "server", "parse"]


def figure(name: str, value: str) -> None:
    print(f"{name}: {value}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tokens_for(url: str) -> dict[str, str]:
    engine = make_engine(url)
    migrate(engine)
    with session_factory(engine)() as session:
        tokens = {role: create_token(session, role, f"bench-{role}") for role in ROLES}
    engine.dispose()
    return tokens


class ServerProcess:
    """The service as a deployment runs it: uvicorn with the app factory, one process."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "WARDEN_DATABASE_URL": database_url}
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "service.app:app_from_env",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
             "--no-access-log"], env=env, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=REPO)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; see {log}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not become ready")
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", text)
        return int(match.group(1)) / 1024 if match else float("nan")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)
        self._log.close()


def make_events(prefix: str, count: int, start: float) -> list[dict[str, Any]]:
    """A plausible mix: half new accounts, half new projects (metadata, no files)."""
    rng = random.Random(prefix)
    events = []
    for i in range(count):
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i * 0.5))
        user = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 10))) + str(i)
        if i % 2 == 0:
            events.append({"id": f"{prefix}-{i}", "ts": ts, "type": "account.created",
                           "account": {"username": user,
                                       "email": f"{user}@{rng.choice(DOMAINS)}",
                                       "ip": f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                                       "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"}})
        else:
            name = "-".join(rng.sample(WORDS, 2)) + f"-{i}"
            events.append({"id": f"{prefix}-{i}", "ts": ts, "type": "project.created",
                           "account": {"username": user},
                           "project": {"name": name, "summary": f"{name} helpers",
                                       "version": "0.1.0"}})
    return events


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def python_load(url: str, token: str, bodies: list[bytes], workers: int, path: str,
                method: str) -> dict[str, Any]:
    """Closed-loop load from threads in this process (used only when wrk is missing)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    pending = list(reversed(bodies))

    def worker() -> None:
        nonlocal errors
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            while True:
                with lock:
                    if not pending:
                        return
                    body = pending.pop()
                t = time.perf_counter()
                try:
                    ok = client.request(method, path, content=body or None).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies.append(time.perf_counter() - t)
                    errors += not ok

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"rate": len(bodies) / elapsed, "p50": _percentile(latencies, 0.5),
            "p99": _percentile(latencies, 0.99), "errors": errors}


# wrk script: every request is a new event (half new accounts, half new projects
# without files), with unique ids and increasing timestamps.
EVENTS_LUA = """
token = "%(token)s"
local counter = 0
local prefix = "%(prefix)s" .. tostring(math.random(1, 1e9))
local words = {"data", "cloud", "fast", "json", "http", "graph", "auth", "cache", "flow", "kit"}
local base = %(base)d
request = function()
  counter = counter + 1
  local ts = os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", base + counter)
  local user = "u" .. prefix .. "x" .. math.floor(counter / 2)
  local body
  if counter %% 2 == 1 then
    body = string.format('{"id":"%%s-%%d","ts":"%%s","type":"account.created","account":'
      .. '{"username":"%%s","email":"%%s@example.org","ip":"198.51.100.%%d",'
      .. '"user_agent":"Mozilla/5.0"}}', prefix, counter, ts, user, user, counter %% 250)
  else
    local name = words[counter %% 10 + 1] .. "-" .. words[(counter * 7) %% 10 + 1] .. "-" .. counter
    body = string.format('{"id":"%%s-%%d","ts":"%%s","type":"project.created","account":'
      .. '{"username":"%%s"},"project":{"name":"%%s","summary":"helpers for %%s",'
      .. '"version":"0.1.0"}}', prefix, counter, ts, user, name, name)
  end
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token}, body)
end
"""


def _wrk(args: list[str], seconds: int) -> dict[str, Any]:
    done = subprocess.run(["wrk", "-t1", f"-d{seconds}s", "--latency", *args],
                          capture_output=True, text=True, timeout=seconds + 60)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}

    def pct(q: str) -> float:
        m = re.search(rf"{q}%\s+([\d.]+)(us|ms|s)", done.stdout)
        return float(m.group(1)) * scale[m.group(2)] if m else float("nan")

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    errors = re.search(r"Socket errors: (.*)", done.stdout)
    return {"rate": float(rate.group(1)) if rate else float("nan"), "p50": pct("50"),
            "p99": pct("99"), "errors": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(1) if errors else "none"}


def wrk_events(url: str, token: str, connections: int, seconds: int, tmp: Path,
               prefix: str, base: int) -> dict[str, Any]:
    script = tmp / f"{prefix}.lua"
    script.write_text(EVENTS_LUA % {"token": token, "prefix": prefix, "base": base})
    return _wrk([f"-c{connections}", "-s", str(script), url + "/"], seconds)


def wrk_status(url: str, token: str, connections: int, seconds: int) -> dict[str, Any]:
    return _wrk([f"-c{connections}", "-H", f"Authorization: Bearer {token}",
                 url + "/v1/registration-status"], seconds)


def durability(database_url: str, tmp: Path) -> None:
    """Load, SIGKILL, restart, compare acknowledged ids with stored ids."""
    from sqlalchemy import select

    from service.models import Event

    tokens = tokens_for(database_url)  # fresh: the fuzzer may have revoked the first ones

    server = ServerProcess(database_url, tmp / "kill.log")
    acked: list[str] = []
    stop = threading.Event()

    batches = {f"kill{i}": make_events(f"kill{i}", 20_000, time.time()) for i in range(8)}

    def sender(prefix: str) -> None:
        events = batches[prefix]
        headers = {"Authorization": f"Bearer {tokens['registry']}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            for event in events:
                if stop.is_set():
                    return
                try:
                    r = client.post("/v1/events", json=event)
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acked.append(event["id"])

    threads = [threading.Thread(target=sender, args=(prefix,)) for prefix in batches]
    for t in threads:
        t.start()
    time.sleep(5)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    server.stop()
    restarted = ServerProcess(database_url, tmp / "kill.log")
    engine = make_engine(database_url)
    with session_factory(engine)() as session:
        stored = set(session.scalars(select(Event.id).where(Event.id.like("kill%"))))
    engine.dispose()
    lost = set(acked) - stored
    figure("durability: acknowledged before SIGKILL", str(len(acked)))
    figure("durability: stored after restart", str(len(stored)))
    figure("durability: acknowledged but lost", str(len(lost)))
    if not acked:
        figure("durability: WARNING", "no event was acknowledged; the figure means nothing")
    restarted.stop()


def fuzz(url: str, tokens: dict[str, str], examples: int) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    api = schemathesis.openapi.from_url(url + "/openapi.json")
    counts = {"sent": 0, "5xx": 0}

    def run(operation: Any, headers: dict[str, str]) -> None:
        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            response = case.call(base_url=url, headers=headers)
            counts["sent"] += 1
            if response.status_code >= 500:
                counts["5xx"] += 1
                console.print(f"[red]5xx[/red] {case.method} {case.formatted_path}")

        check()

    operations = [result.ok() for result in api.get_all_operations()]
    for operation in operations:
        role = ("admin" if operation.path.startswith("/v1/tokens") else
                "registry" if operation.path == "/v1/events" and operation.method == "post"
                else "moderator")
        run(operation, {"Authorization": f"Bearer {tokens[role]}"})
    figure("schemathesis: operations", str(len(operations)))
    figure("schemathesis: cases sent", str(counts["sent"]))
    figure("schemathesis: 5xx responses", str(counts["5xx"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--seconds", type=int, default=20, help="length of each event load")
    parser.add_argument("--status-seconds", type=int, default=10)
    parser.add_argument("--examples", type=int, default=60, help="schemathesis cases per op")
    parser.add_argument("--skip-fuzz", action="store_true")
    parser.add_argument("--skip-kill", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    database_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    console.print(f"[bold]warden service bench[/bold] database={database_url.split('@')[-1]}")
    has_wrk = shutil.which("wrk") is not None
    figure("load generator", "wrk -t1 (separate process)" if has_wrk else
           "python threads (wrk not installed)")
    figure("machine load average at start", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    tokens = tokens_for(database_url)
    server = ServerProcess(database_url, tmp / "server.log")
    try:
        base = int(time.time()) - 30 * 86_400
        console.print("warm-up …")
        warm = [json.dumps(e).encode() for e in make_events("warm", 400, base)]
        python_load(server.url, tokens["registry"], warm, 4, "/v1/events", "POST")
        for connections in (8, 32):
            console.print(f"events: {args.seconds} s, {connections} connections …")
            base += 200_000
            cpu = server.cpu_seconds()
            if has_wrk:
                r = wrk_events(server.url, tokens["registry"], connections, args.seconds, tmp,
                               f"c{connections}", base)
            else:
                bodies = [json.dumps(e).encode()
                          for e in make_events(f"c{connections}", 300 * args.seconds, base)]
                r = python_load(server.url, tokens["registry"], bodies, connections,
                                "/v1/events", "POST")
            tag = f"events ({connections} connections)"
            served = r["rate"] * args.seconds
            cpu_ms = (server.cpu_seconds() - cpu) * 1000 / served
            figure(f"{tag}: rate (/s)", f"{r['rate']:.0f}")
            figure(f"{tag}: server CPU per event (ms)", f"{cpu_ms:.2f}")
            figure(f"{tag}: latency p50 (ms)", f"{r['p50'] * 1000:.1f}")
            figure(f"{tag}: latency p99 (ms)", f"{r['p99'] * 1000:.1f}")
            figure(f"{tag}: errors", str(r["errors"]))

        console.print(f"registration status: {args.status_seconds} s …")
        cpu = server.cpu_seconds()
        if has_wrk:
            w = wrk_status(server.url, tokens["registry"], 32, args.status_seconds)
        else:
            w = python_load(server.url, tokens["registry"], [b""] * 20_000, 32,
                            "/v1/registration-status", "GET")
        figure("status checks: rate (/s)", f"{w['rate']:.0f}")
        figure("status checks: server CPU per check (ms)",
               f"{(server.cpu_seconds() - cpu) * 1000 / (w['rate'] * args.status_seconds):.3f}")
        figure("status checks: latency p99 (ms)", f"{w['p99'] * 1000:.1f}")
        figure("status checks: errors", str(w["errors"]))

        if not args.skip_fuzz:
            console.print("schemathesis …")
            fuzz(server.url, tokens, args.examples)
        figure("server peak RSS (MiB)", f"{server.peak_rss_mb():.0f}")
    finally:
        server.stop()
    if not args.skip_kill:
        console.print("durability: load, SIGKILL, restart …")
        durability(database_url, tmp)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Service benchmark: sustained event load, registration-status checks, peak memory,
SIGKILL durability and a schemathesis run, each against a real `uvicorn` server process.

Figures printed (stdout), one per line:

* events, open loop (the figure the target is about): `wrk` (a separate C process, one
  thread) offers new account and project events (each request a new event id; projects
  without files) at a fixed rate (--rates, default 500 and 750/s; request k is due at
  start + k / rate) over up to --open-connections keep-alive connections for --seconds;
  latency is timed from each request's due time, so waiting for a connection counts.
  Printed: sent and answered rate, server CPU, p50/p90/p99/p99.9/max, non-200 answers;
* events, saturation (closed loop): `wrk` over 8 and then 32 connections, each sending
  its next request as soon as the last one is answered: the most the server answers, and
  wrk's own p50/p99 (at saturation latency is about connections / rate, so these p99s
  describe the queue wrk builds, not the service at a given load);
* registration-status checks: `wrk` over 32 connections: rate, p99;
* server RSS after the event loads, and peak RSS (VmHWM) over the whole run;
* schemathesis: cases sent to every operation of the OpenAPI schema, and 5xx answers;
* durability: 8 senders, SIGKILL after 5 s, restart; acknowledged vs stored vs lost;
* scale (``--scale``, PostgreSQL): the open loop at --scale-rate (500/s) over 1 and then
  3 replicas on one database (one wrk per replica, each offered its share: a round-robin
  balancer), answered rate and p99 of each and their ratio; then failover: one replica
  under load is killed (SIGKILL) and the time to the next decision answered by another
  replica, and the time a restarted replica takes to be ready (checkpoint + replay).

Without wrk (Debian package `wrk`), threaded Python generators, closed and open loop, are
used instead (and the output says so).

Usage: ``.venv/bin/python bench/bench_service.py [--database-url URL] [--seconds 20]
[--rates 500,750] [--open-connections 64] [--status-seconds 10] [--examples 60]
[--skip-fuzz] [--skip-kill] [--scale [--scale-rate 500] [--replicas 1,3]]``
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

from service.db import make_engine, migrate, session_factory  # noqa: E402
from service.tokens import create_token  # noqa: E402
from service.vocab import Role  # noqa: E402

console = Console(stderr=True)
DOMAINS = ["gmail.com", "example.org", "proton.me", "outlook.com"]
WORDS = [
    "data",
    "cloud",
    "fast",
    "py",
    "json",
    "http",
    "text",
    "graph",
    "auth",
    "cache",
    "async",
    "tool",
    "kit",
    "lite",
    "flow",
    "core",
    "utils",
    "client",
    "server",
    "parse",
]


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
        tokens = {role: create_token(session, role, f"bench-{role}") for role in Role}
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
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "service.app:app_from_env",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
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

    def peak_rss_mb(self, field: str = "VmHWM") -> float:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(rf"{field}:\s+(\d+) kB", text)
        return int(match.group(1)) / 1024 if match else float("nan")

    def rss_mb(self) -> float:
        return self.peak_rss_mb("VmRSS")

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
            events.append(
                {
                    "id": f"{prefix}-{i}",
                    "ts": ts,
                    "type": "account.created",
                    "account": {
                        "username": user,
                        "email": f"{user}@{rng.choice(DOMAINS)}",
                        "ip": f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
                    },
                }
            )
        else:
            name = "-".join(rng.sample(WORDS, 2)) + f"-{i}"
            events.append(
                {
                    "id": f"{prefix}-{i}",
                    "ts": ts,
                    "type": "project.created",
                    "account": {"username": user},
                    "project": {"name": name, "summary": f"{name} helpers", "version": "0.1.0"},
                }
            )
    return events


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def python_load(
    url: str, token: str, bodies: list[bytes], workers: int, path: str, method: str
) -> dict[str, Any]:
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
    return {
        "rate": len(bodies) / elapsed,
        "p50": _percentile(latencies, 0.5),
        "p99": _percentile(latencies, 0.99),
        "errors": errors,
    }


def python_open_loop(
    url: str, token: str, bodies: list[bytes], rate: float, workers: int
) -> dict[str, Any]:
    """Open-loop load from threads in this process (used only when wrk is missing): body k
    is due at start + k / rate; its latency runs from that due time to its answer."""
    latencies: list[tuple[float, float]] = []
    errors = 0
    lock = threading.Lock()
    jobs = iter(enumerate(bodies))
    start = time.perf_counter() + 0.1

    def worker() -> None:
        nonlocal errors
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            while True:
                with lock:
                    k, body = next(jobs, (-1, b""))
                if k < 0:
                    return
                due = start + k / rate
                time.sleep(max(0.0, due - time.perf_counter()))
                try:
                    ok = client.post("/v1/events", content=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies.append((due - start, time.perf_counter() - due))
                    errors += not ok

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # every body is sent, however late: the rates are over the time to the last answer
    seconds = max((due + latency for due, latency in latencies), default=len(bodies) / rate)
    text = "".join(f"{round(t * 1e6)} {round(x * 1e6)}\n" for t, x in latencies)
    return open_loop_summary(
        f"sent {len(bodies)}\nanswered {len(latencies)}\nerrors {errors}\n{text}", rate, seconds
    )


# wrk script: every request is a new event (half new accounts, half new projects
# without files), with unique ids and increasing timestamps.
EVENTS_LUA = """
token = "%(token)s"
local counter = 0
local prefix = "%(prefix)s" .. tostring(math.random(1, 1e9))
local words = {"data", "cloud", "fast", "json", "http", "graph", "auth", "cache", "flow", "kit"}
local base = %(base)d
next_event = function()
  counter = counter + 1
  local id = prefix .. "-" .. counter
  local ts = os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", base + counter)
  local user = "u" .. prefix .. "x" .. math.floor(counter / 2)
  local body
  if counter %% 2 == 1 then
    body = string.format('{"id":"%%s","ts":"%%s","type":"account.created","account":'
      .. '{"username":"%%s","email":"%%s@example.org","ip":"198.51.100.%%d",'
      .. '"user_agent":"Mozilla/5.0"}}', id, ts, user, user, counter %% 250)
  else
    local name = words[counter %% 10 + 1] .. "-" .. words[(counter * 7) %% 10 + 1] .. "-" .. counter
    body = string.format('{"id":"%%s","ts":"%%s","type":"project.created","account":'
      .. '{"username":"%%s"},"project":{"name":"%%s","summary":"helpers for %%s",'
      .. '"version":"0.1.0"}}', id, ts, user, name, name)
  end
  return id, wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token}, body)
end
request = function()
  local _, req = next_event()
  return req
end
"""

# Open loop on top of EVENTS_LUA (wrk's own latencies are closed-loop: a request that
# waits for a free connection is timed only from when it is finally sent). Request k is
# due at start + k / rate whatever the server does; `delay()` holds each connection until
# the next due time, and the latency of a request is measured from its *due* time to its
# answer (matched by the event id in the answer), so time spent waiting for a connection
# counts (no coordinated omission). Latencies (microseconds) and the count of non-200
# answers go to a file that `open_loop_summary` reads.
OPEN_LOOP_LUA = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } warden_timespec;
int clock_gettime(int clk_id, warden_timespec *tp);
]]
local tspec = ffi.new("warden_timespec")
local function now_us()
  ffi.C.clock_gettime(1, tspec)  -- CLOCK_MONOTONIC
  return tonumber(tspec.tv_sec) * 1e6 + tonumber(tspec.tv_nsec) / 1e3
end
local interval = 1e6 / %(rate)f
local next_due, first_due = nil, nil
local dues, head, tail = {}, 1, 0
local due_of = {}
sent, answered, errors = 0, 0, 0
latencies = {}
delay = function()
  local t = now_us()
  if next_due == nil then
    next_due = t
    first_due = t
  end
  local due = next_due
  next_due = next_due + interval
  tail = tail + 1
  dues[tail] = due
  if due <= t then return 0 end
  return math.ceil((due - t) / 1000)  -- wrk's timers have 1 ms resolution: never early
end
request = function()
  local due = now_us()
  if head <= tail then
    due = dues[head]
    dues[head] = nil
    head = head + 1
  end
  local id, req = next_event()
  due_of[id] = due
  sent = sent + 1
  return req
end
response = function(status, headers, body)
  answered = answered + 1
  if status ~= 200 then errors = errors + 1 end
  local id = body:match('"id"%%s*:%%s*"([^"]+)"')
  local due = id and due_of[id]
  if due then
    latencies[#latencies + 1] = string.format("%%.0f %%.0f", due - first_due, now_us() - due)
    due_of[id] = nil
  end
end
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
done = function(summary, latency, requests)
  local out = io.open("%(out)s", "w")
  for _, thread in ipairs(threads) do
    out:write(string.format("sent %%d\\nanswered %%d\\nerrors %%d\\n", thread:get("sent"),
      thread:get("answered"), thread:get("errors")))
    for _, line in ipairs(thread:get("latencies")) do out:write(line .. "\\n") end
  end
  out:close()
end
"""


def _wrk(args: list[str], seconds: int) -> dict[str, Any]:
    done = subprocess.run(
        ["wrk", "-t1", f"-d{seconds}s", "--latency", *args],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}

    def pct(q: str) -> float:
        m = re.search(rf"{q}%\s+([\d.]+)(us|ms|s)", done.stdout)
        return float(m.group(1)) * scale[m.group(2)] if m else float("nan")

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    errors = re.search(r"Socket errors: (.*)", done.stdout)
    ran = re.search(r"requests in ([\d.]+)(us|ms|s|m),", done.stdout)
    scale["m"] = 60.0
    return {
        "seconds": float(ran.group(1)) * scale[ran.group(2)] if ran else float(seconds),
        "rate": float(rate.group(1)) if rate else float("nan"),
        "p50": pct("50"),
        "p99": pct("99"),
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "none",
    }


def wrk_events(
    url: str, token: str, connections: int, seconds: int, tmp: Path, prefix: str, base: int
) -> dict[str, Any]:
    script = tmp / f"{prefix}.lua"
    script.write_text(EVENTS_LUA % {"token": token, "prefix": prefix, "base": base})
    return _wrk([f"-c{connections}", "-s", str(script), url + "/"], seconds)


def open_loop_summary(text: str, rate: float, seconds: float) -> dict[str, Any]:
    """Figures of one open-loop run from the file the wrk script wrote: what was offered,
    sent and answered, and latency percentiles measured from each request's due time."""
    counts = {"sent": 0, "answered": 0, "errors": 0}
    timeline: list[tuple[float, float]] = []
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key in counts:
            counts[key] += int(value)
        elif key:
            timeline.append((int(key) / 1e6, int(value) / 1e6))
    latencies = [latency for _, latency in timeline]
    return {
        "offered": rate,
        "sent_rate": counts["sent"] / seconds,
        "rate": counts["answered"] / seconds,
        "answered": counts["answered"],
        "errors": counts["errors"],
        "p50": _percentile(latencies, 0.50),
        "p90": _percentile(latencies, 0.90),
        "p99": _percentile(latencies, 0.99),
        "p999": _percentile(latencies, 0.999),
        "max": max(latencies, default=float("nan")),
        "timed": len(latencies),
        "timeline": sorted(timeline),
    }


def open_loop_events(
    url: str,
    token: str,
    rate: float,
    connections: int,
    seconds: int,
    tmp: Path,
    prefix: str,
    base: int,
) -> dict[str, Any]:
    """`rate` new events per second offered at fixed intervals for `seconds` (wrk)."""
    out = tmp / f"{prefix}.latencies"
    script = tmp / f"{prefix}.lua"
    script.write_text(
        EVENTS_LUA % {"token": token, "prefix": prefix, "base": base}
        + OPEN_LOOP_LUA % {"rate": rate, "out": out}
    )
    ran = _wrk([f"-c{connections}", "-s", str(script), url + "/"], seconds)
    return open_loop_summary(out.read_text(), rate, ran["seconds"])


def wrk_status(url: str, token: str, connections: int, seconds: int) -> dict[str, Any]:
    return _wrk(
        [
            f"-c{connections}",
            "-H",
            f"Authorization: Bearer {token}",
            url + "/v1/registration-status",
        ],
        seconds,
    )


def _merge(runs: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    latencies = sorted(lat for run in runs for _, lat in run["timeline"])
    return {"rate": sum(run["answered"] for run in runs) / seconds,
            "errors": sum(run["errors"] for run in runs),
            "p50": _percentile(latencies, 0.50), "p99": _percentile(latencies, 0.99),
            "max": max(latencies, default=float("nan"))}


def _share(outcome: list[dict[str, Any]], i: int, url: str, token: str, rate: float,
           connections: int, seconds: int, tmp: Path, prefix: str, base: int) -> None:
    """One replica's share of the open loop (run in a thread, one wrk each)."""
    outcome[i] = open_loop_events(url, token, rate, connections, seconds, tmp, prefix, base)


def scale(database_url: str, tmp: Path, rate: float, seconds: int, connections: int,
          counts: list[int]) -> None:
    """Open-loop events over 1 and N replicas on one database; then failover."""
    tokens = tokens_for(database_url)
    base = int(time.time()) - int(6.5 * 86_400)
    results: dict[int, dict[str, Any]] = {}
    for count in counts:
        servers = [ServerProcess(database_url, tmp / f"scale{count}.log") for _ in range(count)]
        try:
            for server in servers:
                warm = [json.dumps(e).encode()
                        for e in make_events(f"sw{count}p{server.port}", 100, base)]
                python_load(server.url, tokens["registry"], warm, 2, "/v1/events", "POST")
            base += 86_400
            cpu = [server.cpu_seconds() for server in servers]
            outcome: list[dict[str, Any]] = [{} for _ in servers]

            threads = [threading.Thread(target=_share, args=(
                outcome, i, server.url, tokens["registry"], rate / count,
                max(1, connections // count), seconds, tmp, f"s{count}r{i}", base + i * 7))
                for i, server in enumerate(servers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            busy = sum(server.cpu_seconds() - c for server, c in zip(servers, cpu, strict=True))
            merged = results[count] = _merge(outcome, seconds)
            tag = f"scale: {count} replica(s), {rate:g}/s offered"
            figure(f"{tag}: answered (/s)", f"{merged['rate']:.0f}")
            figure(f"{tag}: latency p50 / p99 / max (ms)",
                   " / ".join(f"{merged[q] * 1000:.1f}" for q in ("p50", "p99", "max")))
            figure(f"{tag}: server CPU, all replicas (share of one core)",
                   f"{busy / seconds:.0%}")
            figure(f"{tag}: errors", str(merged["errors"]))
            figure(f"{tag}: machine load average at the end", f"{os.getloadavg()[0]:.1f}")
        finally:
            for server in servers:
                server.stop()
    if len(counts) >= 2:
        one, many = results[counts[0]], results[counts[-1]]
        figure(f"scale: {counts[-1]} vs {counts[0]} replica(s): answered ratio / p99 ratio",
               f"{many['rate'] / one['rate']:.2f} / {many['p99'] / one['p99']:.2f}")
    failover(database_url, tmp, tokens)


def failover(database_url: str, tmp: Path, tokens: dict[str, str]) -> None:
    """Two replicas; 4 senders load the first; SIGKILL it; time to the next decision
    answered by the second, then a restart of the first until ready."""
    first = ServerProcess(database_url, tmp / "failover.log")
    second = ServerProcess(database_url, tmp / "failover.log")
    stop = threading.Event()
    headers = {"Authorization": f"Bearer {tokens['registry']}"}

    def sender(prefix: str) -> None:
        with httpx.Client(base_url=first.url, headers=headers, timeout=10) as client:
            for event in make_events(prefix, 20_000, time.time() - 10_500):
                if stop.is_set():
                    return
                try:
                    client.post("/v1/events", json=event)
                except httpx.HTTPError:
                    return

    threads = [threading.Thread(target=sender, args=(f"fo{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    probe = make_events("probe", 2, time.time() - 60)[0]
    os.kill(first.proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    answer = httpx.post(second.url + "/v1/events", json=probe, headers=headers, timeout=60)
    took = time.monotonic() - killed
    first.proc.wait()
    stop.set()
    for thread in threads:
        thread.join()
    figure("failover: SIGKILL of a loaded replica to the next decision by another (ms)",
           f"{took * 1000:.0f} (status {answer.status_code})")
    started = time.monotonic()
    restarted = ServerProcess(database_url, tmp / "failover.log")
    ready = httpx.get(restarted.url + "/readyz", timeout=5).json()
    figure("failover: restart of the killed replica until ready (s)",
           f"{time.monotonic() - started:.1f} ({ready.get('rebuilt_events')} events replayed "
           "after the newest checkpoint)")
    restarted.stop()
    second.stop()
    first.stop()


def durability(database_url: str, tmp: Path) -> None:
    """Load, SIGKILL, restart, compare acknowledged ids with stored ids."""
    from sqlalchemy import select

    from service.models import Event

    tokens = tokens_for(database_url)  # fresh: the fuzzer may have revoked the first ones

    server = ServerProcess(database_url, tmp / "kill.log")
    acked: list[str] = []
    stop = threading.Event()

    # 20,000 events 0.5 s apart span 10,000 s: they end before the server's clock (events
    # more than 5 minutes ahead of it are refused)
    batches = {f"kill{i}": make_events(f"kill{i}", 20_000, time.time() - 10_500) for i in range(8)}

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
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(base_url=url, headers=headers)
            counts["sent"] += 1
            if response.status_code >= 500:
                counts["5xx"] += 1
                console.print(f"[red]5xx[/red] {case.method} {case.formatted_path}")

        check()

    operations = [result.ok() for result in api.get_all_operations()]
    for operation in operations:
        role = (
            "admin"
            if operation.path.startswith("/v1/tokens")
            else "registry"
            if operation.path == "/v1/events" and operation.method == "post"
            else "moderator"
        )
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
    parser.add_argument(
        "--rates",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[500.0, 750.0],
        help="open-loop offered rates, events/s",
    )
    parser.add_argument(
        "--open-connections", type=int, default=64, help="connections the open-loop load may use"
    )
    parser.add_argument("--skip-fuzz", action="store_true")
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument("--scale", action="store_true",
                        help="only the scale figures: 1 vs N replicas, failover")
    parser.add_argument("--scale-rate", type=float, default=500.0)
    parser.add_argument("--replicas", type=lambda v: [int(x) for x in v.split(",")],
                        default=[1, 3])
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    database_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    console.print(f"[bold]warden service bench[/bold] database={database_url.split('@')[-1]}")
    has_wrk = shutil.which("wrk") is not None
    figure(
        "load generator",
        "wrk -t1 (separate process)" if has_wrk else "python threads (wrk not installed)",
    )
    figure("machine load average at start", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.scale:
        scale(database_url, tmp, args.scale_rate, args.seconds, args.open_connections,
              args.replicas)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    tokens = tokens_for(database_url)
    server = ServerProcess(database_url, tmp / "server.log")
    try:
        # each phase's events a day apart in event time (phases span at most ~6 h), all
        # inside the 7-day window of event times the service accepts (`[stream]
        # live_window_hours`)
        base = int(time.time()) - int(6.5 * 86_400)
        console.print("warm-up …")
        warm = [json.dumps(e).encode() for e in make_events("warm", 400, base)]
        python_load(server.url, tokens["registry"], warm, 4, "/v1/events", "POST")
        for rate in args.rates:
            console.print(
                f"events, open loop: {rate:g}/s offered for {args.seconds} s, "
                f"{args.open_connections} connections …"
            )
            base += 86_400
            tag = f"events at {rate:g}/s offered ({args.open_connections} connections)"
            cpu = server.cpu_seconds()
            if has_wrk:
                o = open_loop_events(
                    server.url,
                    tokens["registry"],
                    rate,
                    args.open_connections,
                    args.seconds,
                    tmp,
                    f"r{rate:g}",
                    base,
                )
            else:
                bodies = [
                    json.dumps(e).encode()
                    for e in make_events(f"r{rate:g}", int(rate * args.seconds), base)
                ]
                o = python_open_loop(
                    server.url, tokens["registry"], bodies, rate, args.open_connections
                )
            busy = server.cpu_seconds() - cpu
            figure(f"{tag}: machine load average at the end", f"{os.getloadavg()[0]:.1f}")
            figure(f"{tag}: sent / answered (/s)", f"{o['sent_rate']:.0f} / {o['rate']:.0f}")
            figure(f"{tag}: server CPU (share of one core)", f"{busy / args.seconds:.0%}")
            figure(
                f"{tag}: server CPU per event (ms)", f"{busy * 1000 / max(o['answered'], 1):.2f}"
            )
            figure(
                f"{tag}: latency p50 / p90 / p99 / p99.9 / max (ms)",
                " / ".join(f"{o[q] * 1000:.1f}" for q in ("p50", "p90", "p99", "p999", "max")),
            )
            figure(f"{tag}: errors", str(o["errors"]))
        for connections in (8, 32):
            console.print(f"events, saturation: {args.seconds} s, {connections} connections …")
            base += 86_400
            cpu = server.cpu_seconds()
            if has_wrk:
                r = wrk_events(
                    server.url,
                    tokens["registry"],
                    connections,
                    args.seconds,
                    tmp,
                    f"c{connections}",
                    base,
                )
            else:
                bodies = [
                    json.dumps(e).encode()
                    for e in make_events(f"c{connections}", 300 * args.seconds, base)
                ]
                r = python_load(
                    server.url, tokens["registry"], bodies, connections, "/v1/events", "POST"
                )
            tag = f"events, saturation ({connections} connections)"
            figure(f"{tag}: machine load average at the end", f"{os.getloadavg()[0]:.1f}")
            served = r["rate"] * args.seconds
            cpu_ms = (server.cpu_seconds() - cpu) * 1000 / served
            figure(f"{tag}: rate (/s)", f"{r['rate']:.0f}")
            figure(f"{tag}: server CPU per event (ms)", f"{cpu_ms:.2f}")
            figure(f"{tag}: latency p50 (ms)", f"{r['p50'] * 1000:.1f}")
            figure(f"{tag}: latency p99 (ms)", f"{r['p99'] * 1000:.1f}")
            figure(f"{tag}: errors", str(r["errors"]))

        figure("server RSS after the event loads (MiB)", f"{server.rss_mb():.0f}")
        console.print(f"registration status: {args.status_seconds} s …")
        cpu = server.cpu_seconds()
        if has_wrk:
            w = wrk_status(server.url, tokens["registry"], 32, args.status_seconds)
        else:
            w = python_load(
                server.url, tokens["registry"], [b""] * 20_000, 32, "/v1/registration-status", "GET"
            )
        figure("status checks: rate (/s)", f"{w['rate']:.0f}")
        figure(
            "status checks: server CPU per check (ms)",
            f"{(server.cpu_seconds() - cpu) * 1000 / (w['rate'] * args.status_seconds):.3f}",
        )
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
    figure("machine load average at the end", f"{os.getloadavg()[0]:.1f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

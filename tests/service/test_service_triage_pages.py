"""The triage workflow in a real headless Chromium: waves grouped and expanded, one-key
verdicts, pagination, filters that survive navigation, and a wave verdict with an
exclusion, a confirmation and an undo. Writes a screenshot of the queue
(``WARDEN_SCREENSHOT_DIR``, else a temporary directory) for the README."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from svc_helpers import Server, project_event, wave
from test_service_pages import _login, _submit, browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser

SQUATS = ("reqeusts", "djnago", "nunpy", "pandsa", "flaks", "scipyy", "matplotlb")


def _seed(server: Server) -> dict[str, Any]:
    with server.client("registry") as c:
        answers = c.post("/v1/events", json=wave(server, 12, "brw")).json()
        lone = [project_event(server, name) for name in SQUATS]
        assert c.post("/v1/events", json=lone).status_code == 200
    campaign = next(a["campaign"] for a in answers if a["campaign"])
    return {"campaign": campaign, "lone": [e["id"] for e in lone]}


def _queue_api(server: Server, **params: Any) -> list[dict]:
    with server.client("moderator") as c:
        return c.get("/v1/queue", params={"limit": 1000, **params}).json()


def _press(driver: Any, keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(keys).perform()


def _selected(driver: Any) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, "#queue tr.selected")


def _wait_for_load(driver: Any, marker: str) -> None:
    """Wait until the page that set `window[marker]` has been replaced by a new one."""
    from selenium.webdriver.support.wait import WebDriverWait

    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        f"return window['{marker}'] === undefined && document.readyState === 'complete'"))


def test_queue_groups_waves_and_expands(browser, fresh_server: Server) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    server, driver = fresh_server, browser
    seeded = _seed(server)
    _login(driver, server, "moderator")
    driver.get(server.url + "/ui/queue")
    waves = driver.find_elements(By.CSS_SELECTOR, "#queue tr.wave")
    assert [w.get_attribute("data-campaign") for w in waves] == [seeded["campaign"]]
    members = driver.find_elements(By.CSS_SELECTOR, "#queue tr.member")
    in_wave = [i for i in _queue_api(server) if i["campaign"] == seeded["campaign"]]
    assert members and not any(m.is_displayed() for m in members)
    assert waves[0].find_element(By.CLASS_NAME, "wave-size").text == str(len(in_wave))
    waves[0].find_element(By.CLASS_NAME, "expand").click()
    assert all(m.is_displayed() for m in members)
    lone_rows = driver.find_elements(By.CSS_SELECTOR, "#queue tbody > tr.item:not(.member)")
    sizes = Counter(i["campaign"] for i in _queue_api(server))
    lone_ids = {i["id"] for i in _queue_api(server) if not i["campaign"]
                or sizes[i["campaign"]] == 1}
    assert {r.get_attribute("data-event") for r in lone_rows} == lone_ids
    assert set(seeded["lone"]) & lone_ids
    assert lone_rows and "imitates" not in lone_rows[0].text  # chips, not the jargon
    out = Path(os.environ.get("WARDEN_SCREENSHOT_DIR") or driver.capabilities.get(
        "chrome", {}).get("userDataDir", "/tmp"))
    driver.set_window_size(1280, 900)
    waves[0].find_element(By.CLASS_NAME, "expand").click()  # folded again for the picture
    assert driver.save_screenshot(str(out / "queue.png"))


def test_one_key_verdicts_move_to_the_next_item(browser, fresh_server: Server  # noqa: F811
                                                ) -> None:
    server, driver = fresh_server, browser
    _seed(server)
    _login(driver, server, "moderator")
    driver.get(server.url + "/ui/queue?group=none&sort=score")
    first = _selected(driver).get_attribute("data-event")
    _press(driver, "j")
    second = _selected(driver).get_attribute("data-event")
    _press(driver, "k")
    assert _selected(driver).get_attribute("data-event") == first != second
    driver.execute_script("window.__before = 1")
    _press(driver, "m")  # one key: recorded, the page comes back with the next item
    _wait_for_load(driver, "__before")
    assert _selected(driver).get_attribute("data-event") == second
    assert "group=none" in driver.current_url
    driver.execute_script("window.__before = 1")
    _press(driver, "n")
    _wait_for_load(driver, "__before")
    with server.client("moderator") as c:
        assert c.get(f"/v1/events/{first}").json()["verdict"] == "malicious"
        assert c.get(f"/v1/events/{second}").json()["verdict"] == "needs-info"
    # needs-info stays in the open queue, and has its own filter
    assert second in {i["id"] for i in _queue_api(server)}
    assert [i["id"] for i in _queue_api(server, status="needs-info")] == [second]


def test_pagination_and_filters_that_survive(browser, fresh_server: Server  # noqa: F811
                                             ) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server, driver = fresh_server, browser
    _seed(server)
    _login(driver, server, "moderator")
    driver.get(server.url + "/ui/queue?group=none&per=5")
    total = len(_queue_api(server))
    assert f"({total} rows)" in driver.find_element(By.ID, "pager").text
    page_one = [r.get_attribute("data-event") for r in
                driver.find_elements(By.CSS_SELECTOR, "#queue tr.item")]
    _submit(driver, driver.find_element(By.ID, "next-page"))
    page_two = [r.get_attribute("data-event") for r in
                driver.find_elements(By.CSS_SELECTOR, "#queue tr.item")]
    assert len(page_one) == 5 and page_two and not set(page_one) & set(page_two)
    assert "per=5" in driver.current_url and "page=2" in driver.current_url

    Select(driver.find_element(By.ID, "f-signal")).select_by_value("code")
    _submit(driver, driver.find_element(By.ID, "filter"))
    with_code = {i["id"] for i in _queue_api(server, signal="code")}
    shown = [r.get_attribute("data-event") for r in
             driver.find_elements(By.CSS_SELECTOR, "#queue tr.item")]
    assert shown and set(shown) <= with_code
    driver.find_element(By.CSS_SELECTOR, "#queue tr.item a.item-link").click()
    assert "/ui/items/" in driver.current_url
    assert "signal=code" in driver.find_element(By.ID, "queue-link").get_attribute("href")
    driver.find_element(By.CSS_SELECTOR, "input[name=verdict][value=benign]").click()
    _submit(driver, driver.find_element(By.ID, "record-verdict"))
    # on to the next item of the same filter, with the undo offered
    assert "/ui/items/" in driver.current_url and shown[0] not in driver.current_url
    assert driver.find_element(By.ID, "message").is_displayed()
    _submit(driver, driver.find_element(By.ID, "back-to-queue"))
    assert Select(driver.find_element(By.ID, "f-signal")).first_selected_option \
        .get_attribute("value") == "code"
    driver.get(driver.find_element(By.CSS_SELECTOR, "#queue tr.item a.item-link")
               .get_attribute("href"))
    detail = driver.find_element(By.ID, "detail-json").get_attribute("textContent")
    assert "reason" in detail and "\\u0027" not in detail  # readable JSON


def test_wave_verdict_excludes_confirms_and_undoes(browser, fresh_server: Server  # noqa: F811
                                                  ) -> None:
    from selenium.webdriver.common.by import By

    server, driver = fresh_server, browser
    campaign = _seed(server)["campaign"]
    with server.client("analyst") as c:
        members = [i["id"] for i in c.get(f"/v1/campaigns/{campaign}").json()["items"]]
    with server.client("moderator") as c:  # a member judged on its own: never overwritten
        assert c.post(f"/v1/queue/{members[0]}/verdict",
                      json={"verdict": "benign"}).status_code == 200
    _login(driver, server, "moderator")
    driver.get(f"{server.url}/ui/campaigns/{campaign}")
    assert driver.find_elements(By.CSS_SELECTOR, "#traits li")
    assert all(td.text for td in driver.find_elements(By.CSS_SELECTOR, "td.link-reason"))
    boxes = driver.find_elements(By.CSS_SELECTOR, "input.include")
    assert len(boxes) == len(members) - 1
    for box in boxes[:2]:
        box.click()  # exclude two
    driver.find_element(By.CSS_SELECTOR, "input[name=verdict][value=malicious]").click()
    _submit(driver, driver.find_element(By.ID, "review-campaign-verdict"))
    counts = {k: int(driver.find_element(By.ID, f"count-{k}").text)
              for k in ("apply", "excluded", "kept")}
    assert counts == {"apply": len(members) - 3, "excluded": 2, "kept": 1}
    with server.client("analyst") as c:  # nothing recorded before confirming
        assert c.get(f"/v1/campaigns/{campaign}").json()["verdicts"] == {
            "none": len(members) - 1, "benign": 1}
    _submit(driver, driver.find_element(By.ID, "confirm-wave"))
    assert driver.find_element(By.ID, "recorded-count").text == str(len(members) - 3)
    with server.client("analyst") as c:
        assert c.get(f"/v1/campaigns/{campaign}").json()["verdicts"] == {
            "malicious": len(members) - 3, "none": 2, "benign": 1}
    _submit(driver, driver.find_element(By.ID, "undo"))
    assert "previous verdict back" in driver.find_element(By.ID, "message").text
    with server.client("analyst") as c:
        assert c.get(f"/v1/campaigns/{campaign}").json()["verdicts"] == {
            "none": len(members) - 1, "benign": 1}

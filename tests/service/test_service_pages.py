"""Moderator pages in a real headless Chromium: log in, open an item, record a verdict,
pause and resume, campaign verdict."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime

import pytest
from svc_helpers import BAD_SETUP, Server, project_event, wave

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("chromium and chromedriver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="warden-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _submit(driver, button) -> None:  # type: ignore[no-untyped-def]
    """Click a submit button and wait until the next page has replaced this one."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")
    button.click()

    def replaced(_driver) -> bool:  # type: ignore[no-untyped-def]
        try:
            page.is_enabled()
        except WebDriverException:  # stale, or already detached from the new document
            return True
        return False

    WebDriverWait(driver, 20).until(replaced)
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def _login(driver, server: Server, role: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(server.url + "/ui/queue")
    assert "/ui/login" in driver.current_url  # not logged in: sent to the login page
    driver.find_element(By.ID, "token").send_keys(server.tokens[role])
    _submit(driver, driver.find_element(By.ID, "login"))


def test_moderator_flow(browser, fresh_server: Server) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    server, driver = fresh_server, browser
    event = project_event(server, "reqeusts", files={"setup.py": BAD_SETUP})
    with server.client("registry") as c:
        assert c.post("/v1/events", json=event).status_code == 200

    # a wrong token is refused with a message
    driver.delete_all_cookies()
    driver.get(server.url + "/ui/login")
    driver.find_element(By.ID, "token").send_keys("wdn_wrong")
    _submit(driver, driver.find_element(By.ID, "login"))
    assert "unknown token" in driver.find_element(By.ID, "login-error").text

    _login(driver, server, "moderator")
    assert driver.current_url.endswith("/ui/queue")
    links = driver.find_elements(By.CLASS_NAME, "item-link")
    assert "reqeusts" in [a.text for a in links]  # the project's name links to its page

    # item detail: the evidence is highlighted on the line it came from
    _submit(driver, next(a for a in links if event["id"] in a.get_attribute("href")))
    assert driver.find_element(By.ID, "decision").text.startswith(("review", "block"))
    marks = [m.text for m in driver.find_elements(By.CSS_SELECTOR, "mark.evidence")]
    assert any("payload.example" in m for m in marks)
    hit = driver.find_element(By.CSS_SELECTOR, "pre.code .hit")
    assert "os.system" in hit.text and "shell-download-exec" in hit.text

    # record a verdict
    driver.find_element(By.CSS_SELECTOR, "input[name=verdict][value=malicious]").click()
    driver.find_element(By.ID, "note").send_keys("pipes a download into sh")
    _submit(driver, driver.find_element(By.ID, "record-verdict"))
    assert "/ui/queue" in driver.current_url  # nothing left to judge: back to the queue
    driver.get(f"{server.url}/ui/items/{event['id']}")
    assert driver.find_element(By.ID, "verdict").text == "malicious"
    assert "pipes a download into sh" in driver.find_element(By.ID, "history").text
    with server.client("analyst") as c:
        assert c.get(f"/v1/events/{event['id']}").json()["verdict"] == "malicious"

    # pause new projects from the breaker page; the banner shows on every page
    driver.get(server.url + "/ui/breaker")
    row = driver.find_element(By.ID, "scope-project.created")
    row.find_element(By.CLASS_NAME, "pause-reason").send_keys("browser test pause")
    _submit(driver, row.find_element(By.CLASS_NAME, "pause"))
    banner = driver.find_element(By.ID, "banner-project.created")
    assert "browser test pause" in banner.text
    with server.client("registry") as c:
        status = c.get("/v1/registration-status").json()["project.created"]
    assert status["state"] == "paused" and status["reason"] == "browser test pause"

    # resume from the banner
    driver.get(server.url + "/ui/queue")
    banner = driver.find_element(By.ID, "banner-project.created")
    banner.find_element(By.NAME, "reason").send_keys("done testing")
    _submit(driver, banner.find_element(By.CLASS_NAME, "resume"))
    assert not driver.find_elements(By.ID, "banner-project.created")
    with server.client("registry") as c:
        assert c.get("/v1/registration-status").json()["project.created"]["state"] == "open"
    audit = driver.find_element(By.ID, "audit").text
    assert "browser test pause" in audit and "done testing" in audit


def test_cohort_pause_banner_on_every_page(browser, fresh_server: Server  # type: ignore[no-untyped-def]
                                           ) -> None:
    """A paused cohort shows in the banner of every page (type, cohort, reason, expiry);
    a moderator resumes it from there, an analyst only reads it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server, driver = fresh_server, browser
    scope = "account.created|email_domain:uni.example"
    signup = {"email": "student@uni.example"}
    _login(driver, server, "moderator")
    assert not driver.find_elements(By.CLASS_NAME, "banner")
    driver.get(server.url + "/ui/breaker")
    form = driver.find_elements(By.CLASS_NAME, "pause-cohort")[0]  # account.created
    Select(form.find_element(By.NAME, "cohort_kind")).select_by_visible_text("email_domain")
    form.find_element(By.NAME, "cohort_value").send_keys("uni.example")
    form.find_element(By.NAME, "reason").send_keys("sign-up wave from one campus")
    _submit(driver, form.find_element(By.CLASS_NAME, "pause"))

    driver.get(server.url + "/ui/queue")  # not only the breaker page
    banner = driver.find_element(By.ID, f"banner-{scope}")
    text = banner.text
    assert "account.created paused for email_domain:uni.example" in text
    assert "sign-up wave from one campus" in text and "(manual)" in text
    expiry = banner.find_element(By.TAG_NAME, "time").get_attribute("datetime")
    assert not driver.find_elements(By.ID, "banner-account.created")  # the type is open
    with server.client("registry") as c:
        status = c.get("/v1/registration-status", params=signup).json()["account.created"]
        other = c.get("/v1/registration-status",
                      params={"email": "dev@elsewhere.example"}).json()["account.created"]
    assert status["state"] == "paused" and status["scope"] == scope
    assert datetime.fromisoformat(expiry) == datetime.fromisoformat(status["expires_at"])
    assert other["state"] == "open"

    # an analyst sees the banner but has no resume control
    _login(driver, server, "analyst")
    banner = driver.find_element(By.ID, f"banner-{scope}")
    assert "sign-up wave from one campus" in banner.text
    assert not banner.find_elements(By.TAG_NAME, "form")

    # a moderator resumes from the banner (the form carries the CSRF token and the cohort)
    _login(driver, server, "moderator")
    banner = driver.find_element(By.ID, f"banner-{scope}")
    assert banner.find_element(By.NAME, "csrf_token").get_attribute("value")
    banner.find_element(By.NAME, "reason").send_keys("campus confirmed legitimate")
    _submit(driver, banner.find_element(By.CLASS_NAME, "resume"))
    assert not driver.find_elements(By.ID, f"banner-{scope}")
    with server.client("registry") as c:
        status = c.get("/v1/registration-status", params=signup).json()["account.created"]
    assert status["state"] == "open"
    audit = driver.find_element(By.ID, "audit").text
    assert scope in audit and "campus confirmed legitimate" in audit


def test_campaign_page_gives_one_verdict(browser, fresh_server: Server  # type: ignore[no-untyped-def]
                                         ) -> None:
    from selenium.webdriver.common.by import By

    server, driver = fresh_server, browser
    with server.client("registry") as c:
        c.post("/v1/events", json={"id": "prime", "ts": server.ts(), "type": "account.created",
                                   "account": {"username": "early-bird"}})
        answers = c.post("/v1/events", json=wave(server, 16, "uiw")).json()
    campaign = next(a["campaign"] for a in answers if a["campaign"])
    _login(driver, server, "moderator")
    driver.get(f"{server.url}/ui/campaigns/{campaign}")
    assert "events" in driver.find_element(By.ID, "campaign-summary").text
    driver.find_element(By.CSS_SELECTOR, "input[name=verdict][value=malicious]").click()
    _submit(driver, driver.find_element(By.ID, "review-campaign-verdict"))
    _submit(driver, driver.find_element(By.ID, "confirm-wave"))
    cells = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "td.verdict")]
    assert cells and all(v.startswith("malicious") for v in cells)


def test_analyst_reads_but_cannot_act(browser, fresh_server: Server  # type: ignore[no-untyped-def]
                                      ) -> None:
    from selenium.webdriver.common.by import By

    server, driver = fresh_server, browser
    _login(driver, server, "analyst")
    driver.get(server.url + "/ui/breaker")
    assert not driver.find_elements(By.CLASS_NAME, "pause")
    # a registry token cannot use the pages at all
    driver.delete_all_cookies()
    driver.get(server.url + "/ui/login")
    driver.find_element(By.ID, "token").send_keys(server.tokens["registry"])
    _submit(driver, driver.find_element(By.ID, "login"))
    assert "cannot use" in driver.find_element(By.ID, "login-error").text

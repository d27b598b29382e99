"""The dashboard in a real browser: headless Chromium, driven by Selenium (Debian's ``chromium`` and
``chromium-driver``), against ``asyncjobs dashboard`` served by waitress in its own process, on a
ledger the test fills through the toy provider's sandbox. In CI a missing browser fails the tests.

Set ``ASYNCJOBS_SCREENSHOTS`` to a folder to keep the screenshots (``docs/images`` for the docs
page); otherwise they go to the test's temporary folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from toy_provider import ToyProvider, ToySandbox

import asyncjobs
from asyncjobs import JobInfo, Status
from asyncjobs._ledger import Ledger
from asyncjobs.sandbox import Sandbox

TESTS = Path(__file__).resolve().parent
TOKEN = "browser-token-canary-77aa55cc33"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HOSTILE = "<script>document.title='pwned'</script>\"><img src=x onerror=\"document.title='pwned'\">"

pytestmark = pytest.mark.slow


def _browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing: apt-get install chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is missing: pip install -e '.[test]'"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests need Chromium in CI: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A ledger filled through the toy sandbox, and ``asyncjobs dashboard`` serving it."""
    tmp = tmp_path_factory.mktemp("dashboard")
    asyncjobs.register("toy", ToyProvider, replace=True)
    box = Sandbox(ToySandbox())
    box.__enter__()
    settings = box.app.client_settings(box.url)
    ledger_path = tmp / "ledger.sqlite3"
    client = asyncjobs.connect("toy", ledger=ledger_path, **settings)
    for n in range(12):
        client.submit("upper", text=f"page {n}", duration=0.01).wait(timeout=10, progress=False)
    failed = client.submit("upper", text="fail " + HOSTILE, duration=0.01)
    failed.wait(timeout=10, progress=False)
    # a provider that answers markup in every field it gives: id, kind, status word, error
    with Ledger(ledger_path) as book:
        key = book.begin("toy", HOSTILE, {HOSTILE: HOSTILE})
        book.issued(
            key, JobInfo("toy", "evil" + HOSTILE, HOSTILE, Status.PENDING, raw_status=HOSTILE)
        )
        book.seen(
            JobInfo(
                "toy", "evil" + HOSTILE, HOSTILE, Status.FAILED, raw_status=HOSTILE, error=HOSTILE
            )
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOY_", "ASYNCJOBS_"))}
    env.update(
        PYTHONPATH=str(TESTS),
        ASYNCJOBS_HOME=str(tmp / "home"),
        ASYNCJOBS_PLUGINS="toy=toy_provider:ToyProvider",
        TOY_KEY=ToySandbox.key,
        TOY_BASE_URL=box.url,
        ASYNCJOBS_DASHBOARD_TOKEN=TOKEN,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asyncjobs",
            "dashboard",
            "--port",
            "0",
            "--ledger",
            str(ledger_path),
            "--log-level",  # stderr is read only when it fails to start
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        found = re.search(r"dashboard on (http://\S+)", line)
        assert found, line + (server.stderr.read() if server.stderr else "")
        shots = Path(os.environ.get("ASYNCJOBS_SCREENSHOTS") or tmp / "shots")
        shots.mkdir(parents=True, exist_ok=True)
        yield {
            "url": found.group(1),
            "client": client,
            "failed": failed,
            "box": box,
            "shots": shots,
            "server": server,
        }
    finally:
        server.terminate()
        out, err = server.communicate(timeout=10)
        client.close()
        box.__exit__(None, None, None)
        assert TOKEN not in out + err
        assert ToySandbox.key not in out + err


def _wait_for(condition: Any, timeout: float = 10.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("the page did not change in time")


def _no_csp_violation(browser: Any) -> None:
    logs = [entry["message"] for entry in browser.get_log("browser")]
    assert not [m for m in logs if "Content Security Policy" in m or "Refused" in m], logs


def test_every_page_loads_and_hostile_data_runs_no_script(
    browser: Any, site: dict[str, Any]
) -> None:
    url = site["url"]
    failed = site["failed"]
    for path, shot in (
        ("/?kind=upper", "jobs"),
        (f"/jobs/toy/{failed.id}", "job"),
        ("/providers", "providers"),
        ("/fleet", "fleet"),
    ):
        browser.get(url + path)
        assert browser.title.endswith("asyncjobs"), path
        assert "pwned" not in browser.title
        browser.save_screenshot(str(site["shots"] / f"dashboard-{shot}.png"))
    from selenium.webdriver.common.by import By

    browser.get(url + f"/jobs/toy/{failed.id}")
    assert "<script>document.title" in browser.find_element(By.TAG_NAME, "pre").text
    browser.get(url + "/")
    evil = browser.find_element(By.PARTIAL_LINK_TEXT, "evil<script>")
    assert HOSTILE in evil.text
    evil.click()
    _wait_for(lambda: "evil" in browser.current_url)
    assert browser.find_element(By.ID, "job-id").text == "evil" + HOSTILE
    time.sleep(2.5)  # the page's refresh ran: what it set is text too
    for path in ("/", "/providers", "/?kind=" + "%3Cscript%3E"):
        browser.get(url + path)
        assert "pwned" not in browser.title
        assert not browser.find_elements(By.CSS_SELECTOR, "img[src=x]")
    assert "pwned" not in browser.title
    _no_csp_violation(browser)


def test_filters_narrow_the_jobs_and_are_linkable(browser: Any, site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(site["url"] + "/")
    Select(browser.find_element(By.ID, "status-filter")).select_by_value("failed")
    browser.find_element(By.NAME, "kind").send_keys("upper")
    browser.find_element(By.ID, "apply").click()
    _wait_for(lambda: "status=failed" in browser.current_url)
    assert "kind=upper" in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, "#jobs tbody tr[data-key]")
    assert len(rows) == 1
    assert rows[0].find_element(By.CSS_SELECTOR, ".status").text == "failed"
    rows[0].find_element(By.TAG_NAME, "a").click()
    _wait_for(lambda: "/jobs/toy/" in browser.current_url)
    assert browser.find_element(By.ID, "job-status").text == "failed"


def test_a_job_that_ends_changes_state_on_the_page_without_a_reload(
    browser: Any, site: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    job = site["client"].submit("upper", text="slow one", duration=2.5)
    browser.get(site["url"] + "/")
    browser.execute_script("window.notReloaded = true")
    row = _wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, f'#jobs tr[data-key] a[href$="/{job.id}"]')
    )[0].find_element(By.XPATH, "./ancestor::tr")
    assert row.find_element(By.CSS_SELECTOR, ".status").text == "pending"
    waiter = threading.Thread(target=job.wait, kwargs={"timeout": 20, "progress": False})
    waiter.start()
    waiter.join(25)
    _wait_for(lambda: row.find_element(By.CSS_SELECTOR, ".status").text == "done", timeout=10)
    assert browser.execute_script("return window.notReloaded") is True
    browser.save_screenshot(str(site["shots"] / "dashboard-live.png"))


def test_cancel_is_refused_without_the_token_and_done_with_it(
    browser: Any, site: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    job = site["client"].submit("upper", text="to cancel", duration=120)
    page = f"{site['url']}/jobs/toy/{job.id}"
    browser.delete_all_cookies()
    browser.get(page)
    assert not browser.find_elements(By.ID, "cancel")  # no session: no form
    status = browser.execute_script(
        "const r = await fetch(arguments[0] + '/cancel', {method: 'POST', body: new"
        " URLSearchParams({csrf: 'x'})}); return r.status;",
        page,
    )
    assert status == 403
    browser.get(site["url"] + "/signin")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "signin-submit").click()
    _wait_for(lambda: browser.find_elements(By.ID, "filters"))
    browser.get(page)
    browser.find_element(By.ID, "cancel").click()
    notice = _wait_for(lambda: browser.find_elements(By.ID, "notice"))[0]
    assert "cancelled" in notice.text
    browser.save_screenshot(str(site["shots"] / "dashboard-cancelled.png"))
    box: Sandbox = site["box"]
    app = box.app
    assert isinstance(app, ToySandbox)
    assert job.id not in app.jobs  # the toy service forgets a cancelled job

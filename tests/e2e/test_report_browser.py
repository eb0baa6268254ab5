"""The HTML report and the serve index in a real browser (headless Debian chromium + selenium).

Builds an invalid run from a real Knossos history checked by the real
linearizability checker, hovers the op that cannot be linearized and reads the
model state in the tooltip; then serves the store on loopback and follows a link
from the index. Screenshots are kept in ``$SPLITBRAIN_ARTIFACTS`` (default
``artifacts/`` at the repo root) under ``screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SPLITBRAIN_ARTIFACTS", REPO / "artifacts")) / "screenshots"


def _browser_or_skip():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    if not chromium or not driver:
        reason = "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        if os.environ.get("SPLITBRAIN_REQUIRE_DOCKER") == "1":
            pytest.fail(f"SPLITBRAIN_REQUIRE_DOCKER=1 but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              "--window-size=1400,1000", "--enable-unsafe-swiftshader"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(driver), options=opts)


@pytest.fixture
def browser():
    d = _browser_or_skip()
    d.set_page_load_timeout(120)
    yield d
    d.quit()


def _wait(pred, timeout=90.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _shot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    p = ARTIFACTS / name
    driver.save_screenshot(str(p))
    return p


@pytest.fixture
def store(tmp_path: Path, histories: Path) -> tuple[Path, Path, dict]:
    from splitbrain.checker.linearizability import check
    from splitbrain.history.formats import read_history
    from splitbrain.reports.html import write_report
    from splitbrain.reports.rundata import make_run_dir

    ops = read_history(histories / "knossos/cas-register/bad/cas-failure.edn")
    for i, o in enumerate(ops):  # Knossos histories carry no times: use position, in ms
        o.time = i * 1_000_000
    lin = check(ops, "cas-register").to_dict()
    assert lin["valid"] is False
    st = tmp_path / "store"
    bad = make_run_dir(st, "knossos-cas-failure", ops,
                       {"valid": False, "elapsed_s": 0.6, "checkers": {"linearizability": lin}},
                       {"system": "knossos", "workload": "register", "nemesis": ["partition"]},
                       started=datetime(2026, 2, 1, tzinfo=UTC))
    good_ops = read_history(histories / "knossos/cas-register/good/memstress3-0.edn")
    good = check(good_ops, "cas-register").to_dict()
    make_run_dir(st, "knossos-memstress", good_ops,
                 {"valid": good["valid"], "checkers": {"linearizability": good}},
                 {"system": "knossos", "workload": "register", "nemesis": []},
                 started=datetime(2026, 1, 1, tzinfo=UTC))
    write_report(bad)
    return st, bad, lin


def test_hover_failing_op_shows_model_state(browser, store):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _, bad, lin = store
    f0 = lin["failures"][0]
    browser.get((bad / "report.html").as_uri())
    _wait(lambda: browser.execute_script("return window.__sbRendered === true"), what="render")
    assert browser.execute_script("return window.__sbRenderError || null") is None
    assert browser.find_element(By.ID, "verdict").get_attribute("data-verdict") == "invalid"
    # plotly drew the charts from the local asset (no network)
    assert browser.execute_script(
        "return document.querySelectorAll('#latency-chart .main-svg').length") > 0
    _shot(browser, "report-top.png")

    ops = browser.find_elements(By.CSS_SELECTOR, '.lin-op[data-failing="true"]')
    assert len(ops) == 1
    op = ops[0]
    assert op.get_attribute("data-op-id") == str(f0["failing_op"])
    browser.execute_script("arguments[0].scrollIntoView({block:'center', inline:'center'})", op)
    ActionChains(browser).move_to_element(op).perform()
    tip = browser.find_element(By.ID, "tooltip")
    _wait(lambda: tip.is_displayed(), 10, "tooltip")
    text = tip.text
    assert f"state before: {f0['state_before_failing']}" in text
    assert "cannot be linearized" in text
    _shot(browser, "report-failing-op-tooltip.png")

    # an op of the longest linearizable prefix shows the state after its step
    lin0 = f0["longest"][0]
    step_op = browser.find_element(By.CSS_SELECTOR,
                                   f'.lin-op.in-lin[data-op-id="{lin0["ops"][-1]}"]')
    browser.execute_script("arguments[0].scrollIntoView({block:'center', inline:'center'})",
                           step_op)
    ActionChains(browser).move_to_element(step_op).perform()
    _wait(lambda: f"state after: {lin0['states'][-1]}" in tip.text, 10, f"step tooltip, got {tip.text!r}")
    assert f"step {len(lin0['ops'])} of the longest" in tip.text

    # "jump to first error" scrolls to the failing op and pins its tooltip
    browser.execute_script("window.scrollTo(0, 0)")
    ActionChains(browser).move_by_offset(0, 0).perform()
    browser.find_element(By.ID, "jump-first-error").click()
    _wait(lambda: "hl" in op.get_attribute("class").split(), 10, "pinned failing op")
    assert browser.execute_script(
        "var r = arguments[0].getBoundingClientRect();"
        "return r.top >= 0 && r.bottom <= window.innerHeight", op)
    assert f"state before: {f0['state_before_failing']}" in tip.text
    _shot(browser, "report-jump-first-error.png")


def test_serve_index_filters_and_links(browser, store):
    from selenium.webdriver.common.by import By

    from splitbrain.reports.serve import make_server

    st, bad, _ = store
    server = make_server(st, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        browser.get(f"http://127.0.0.1:{port}/")
        rows = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr.run")
        assert [r.find_element(By.CSS_SELECTOR, "a").text for r in rows] == \
            ["knossos-cas-failure", "knossos-memstress"]  # newest first
        box = browser.find_element(By.ID, "filter")
        box.send_keys("memstress")
        _wait(lambda: not rows[0].is_displayed() and rows[1].is_displayed(), 10, "filter")
        _shot(browser, "index-filtered.png")
        box.clear()
        box.send_keys(" ")  # clear() fires no input event; a key does
        _wait(lambda: rows[0].is_displayed(), 10, "unfilter")
        rows[0].find_element(By.CSS_SELECTOR, "a.report-link").click()
        _wait(lambda: browser.execute_script("return window.__sbRendered === true"),
              what="linked report render")
        assert browser.current_url.endswith(
            bad.relative_to(st).as_posix() + "/report.html")
        assert browser.find_element(By.ID, "verdict").get_attribute("data-verdict") == "invalid"
        _shot(browser, "index-followed-report.png")
        # the other run had no report yet: serve writes it when it is requested
        browser.back()
        other = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr.run a.report-link")[1]
        other.click()
        _wait(lambda: browser.execute_script("return window.__sbRendered === true"),
              what="lazily generated report")
        assert browser.find_element(By.ID, "verdict").get_attribute("data-verdict") == "valid"
    finally:
        server.shutdown()
        server.server_close()

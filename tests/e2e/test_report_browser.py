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


def _open(browser, path: Path) -> None:
    browser.get(path.as_uri())
    _wait(lambda: browser.execute_script("return window.__sbRendered === true"), what="render")
    assert browser.execute_script("return window.__sbRenderError || null") is None


def _hover(browser, el):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    browser.execute_script("arguments[0].scrollIntoView({block:'center', inline:'center'})", el)
    ActionChains(browser).move_to_element(el).perform()
    tip = browser.find_element(By.ID, "tooltip")
    _wait(lambda: tip.is_displayed(), 10, "tooltip")
    return tip


def _in_first_screen(browser, el) -> bool:
    return browser.execute_script(
        "var r = arguments[0].getBoundingClientRect();"
        "return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0", el)


def test_hover_failing_op_shows_model_state(browser, store):
    from selenium.webdriver.common.by import By

    _, bad, lin = store
    f0 = lin["failures"][0]
    _open(browser, bad / "report.html")
    assert browser.find_element(By.ID, "verdict").get_attribute("data-verdict") == "invalid"
    # plotly drew the charts from the local asset (no network)
    assert browser.execute_script(
        "return document.querySelectorAll('#latency-chart .main-svg').length") > 0
    _shot(browser, "report-top.png")

    ops = browser.find_elements(By.CSS_SELECTOR, '.lin-op[data-failing="true"]')
    assert len(ops) == 1
    op = ops[0]
    want = next(o for o in f0["ops"] if o["id"] == f0["failing_op"])
    assert op.get_attribute("data-index") == str(want["index"])
    tip = _hover(browser, op)
    text = tip.text
    assert f"state before: {f0['state_before_failing']}" in text
    assert "cannot be linearized" in text and f"history index {want['index']}" in text
    _shot(browser, "report-failing-op-tooltip.png")

    # an op of the longest linearizable prefix shows the state after its step
    lin0 = f0["longest"][0]
    last = next(o for o in f0["ops"] if o["id"] == lin0["ops"][-1])
    browser.find_element(By.CSS_SELECTOR, ".linview button[data-act='fit']").click()
    step_op = browser.find_element(By.CSS_SELECTOR, f'.lin-op.in-lin[data-index="{last["index"]}"]')
    tip = _hover(browser, step_op)
    _wait(lambda: f"state after: {lin0['states'][-1]}" in tip.text, 10, f"step tooltip, got {tip.text!r}")
    assert f"step {len(lin0['ops'])} of the longest" in tip.text

    # "show the failing op" scrolls to it and selects it
    browser.execute_script("window.scrollTo(0, 0)")
    browser.find_element(By.ID, "jump-first-error").click()
    _wait(lambda: "hl" in browser.find_element(
        By.CSS_SELECTOR, '.lin-op[data-failing="true"]').get_attribute("class").split(), 10,
        "selected failing op")
    op = browser.find_element(By.CSS_SELECTOR, '.lin-op[data-failing="true"]')
    assert _in_first_screen(browser, op)
    panel = browser.find_element(By.ID, "selection")
    assert panel.is_displayed() and f"state before: {f0['state_before_failing']}" in panel.text
    _shot(browser, "report-jump-first-error.png")


def _partitioned_stale_read(tmp_path: Path) -> Path:
    """A small real history: a write acknowledged on n3, then a stale read on n1 while a
    partition isolates n1; checked and explained by the real checker."""
    import json

    from splitbrain.checker.counterexample import explain
    from splitbrain.checker.linearizability import check
    from splitbrain.history.formats import parse_history
    from splitbrain.reports.html import write_report
    from splitbrain.reports.rundata import make_run_dir

    ms = 1_000_000
    lines = []
    for k in range(40):  # padding, so the view has to scroll and zoom
        lines += [{"type": "invoke", "process": k % 3, "f": "write", "key": "k", "value": k,
                   "node": f"n{k % 3 + 1}"},
                  {"type": "ok", "process": k % 3, "f": "write", "key": "k", "value": k,
                   "node": f"n{k % 3 + 1}"}]
    lines += [
        {"type": "invoke", "process": "nemesis", "f": "start-partition",
         "value": {"grudge": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}}},
        {"type": "info", "process": "nemesis", "f": "start-partition",
         "value": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}},
        {"type": "invoke", "process": 1, "f": "write", "key": "k", "value": 100, "node": "n3"},
        {"type": "ok", "process": 1, "f": "write", "key": "k", "value": 100, "node": "n3"},
        {"type": "invoke", "process": 0, "f": "read", "key": "k", "value": None, "node": "n1"},
        {"type": "ok", "process": 0, "f": "read", "key": "k", "value": 39, "node": "n1"},
        {"type": "invoke", "process": "nemesis", "f": "stop-partition", "value": None},
        {"type": "info", "process": "nemesis", "f": "stop-partition", "value": None}]
    for i, d in enumerate(lines):
        d["index"], d["time"] = i, (i + 1) * 50 * ms
    ops = parse_history("\n".join(json.dumps(d) for d in lines), "jsonl")
    res = check(ops, "cas-register")
    explain({"linearizability": res}, ops)
    run = make_run_dir(tmp_path / "store", "stale-small", ops,
                       {"valid": False, "model": "cas-register",
                        "checkers": {"linearizability": res.to_json()}},
                       {"system": "raft", "workload": "register"})
    write_report(run)
    return run


def test_hover_failing_op_reads_node_fault_and_time(browser, tmp_path):
    from selenium.webdriver.common.by import By

    run = _partitioned_stale_read(tmp_path)
    _open(browser, run / "report.html")
    op = browser.find_element(By.CSS_SELECTOR, '.lin-op[data-failing="true"]')
    text = _hover(browser, op).text
    assert "read() → 39" in text and "process 0 · node n1" in text
    assert "call 4.250 s, return 4.300 s" in text
    assert "faults partition n1 | n2 n3 (at call and return)" in text
    _shot(browser, "report-node-fault-time-tooltip.png")
    # the fault is drawn as a band across the view, labelled
    bands = browser.find_elements(By.CSS_SELECTOR, ".linview .lv-band")
    assert bands and "partition n1 | n2 n3" in bands[0].text

    # zoom and pan: only ops in the window are in the page
    browser.find_element(By.CSS_SELECTOR, ".linview button[data-act='fit']").click()
    n_fit = len(browser.find_elements(By.CSS_SELECTOR, ".linview .lin-op"))
    assert n_fit == 42
    for _ in range(4):
        browser.find_element(By.CSS_SELECTOR, ".linview button[data-act='in']").click()
    n_zoomed = len(browser.find_elements(By.CSS_SELECTOR, ".linview .lin-op"))
    assert 0 < n_zoomed < n_fit

    # the failing op, selected, is shown in the op timeline and on the latency chart
    browser.find_element(By.CSS_SELECTOR, ".linview button[data-act='failing']").click()
    op = browser.find_element(By.CSS_SELECTOR, '.lin-op[data-failing="true"]')
    browser.execute_script("arguments[0].click()", op)
    panel = browser.find_element(By.ID, "selection")
    _wait(lambda: panel.is_displayed(), 10, "selection panel")
    row = op.get_attribute("data-row")
    panel.find_element(By.CSS_SELECTOR, 'button[data-go="timeline"]').click()
    tl_op = browser.find_element(By.CSS_SELECTOR, f'#timeline-box .tl-op[data-row="{row}"]')
    assert "is-selected" in tl_op.get_attribute("class") and "failing" in tl_op.get_attribute("class")
    assert browser.execute_script(
        "var b = document.getElementById('timeline-box').getBoundingClientRect(),"
        " r = arguments[0].getBoundingClientRect(); return r.top >= b.top && r.bottom <= b.bottom", tl_op)
    # and back: clicking it in the timeline selects it; the panel jumps to the view
    browser.execute_script("arguments[0].click()", tl_op)
    panel.find_element(By.CSS_SELECTOR, 'button[data-go="chart"]').click()
    _wait(lambda: browser.execute_script(
        "var l = document.getElementById('latency-chart').layout;"
        "return l.shapes.some(function (s) { return s.line && s.line.dash === 'dot'; })"), 10,
        "selected op marked on the latency chart")
    panel.find_element(By.CSS_SELECTOR, 'button[data-go="lin"]').click()
    _wait(lambda: _in_first_screen(browser, browser.find_element(
        By.CSS_SELECTOR, '.lin-op[data-failing="true"]')), 10, "back in the linearizability view")


def test_valid_report_draws_a_linearization(browser, store):
    from selenium.webdriver.common.by import By

    from splitbrain.reports.html import write_report

    st, _, _ = store
    good = next(p for p in (st / "knossos-memstress").iterdir() if p.is_dir())
    write_report(good)
    _open(browser, good / "report.html")
    assert browser.find_element(By.ID, "verdict").get_attribute("data-verdict") == "valid"
    _shot(browser, "report-valid-top.png")
    view = browser.find_element(By.CSS_SELECTOR, ".linview")
    browser.execute_script("arguments[0].scrollIntoView()", view)
    first = browser.find_element(By.CSS_SELECTOR, ".lin-op.in-lin")
    assert first.find_element(By.TAG_NAME, "b").text.strip().isdigit()
    tip = _hover(browser, first)
    assert "of the linearization" in tip.text and "state after:" in tip.text
    _shot(browser, "report-valid-linearization.png")


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


def test_check_report_shows_the_counterexample_first(browser, tmp_path, histories):
    from selenium.webdriver.common.by import By

    from splitbrain.checker.command import run_check
    from splitbrain.reports.checkreport import Checked, write_check_reports

    checked = []
    opts = {"model": "cas-register", "failed_cas_observes": True}
    assert run_check([str(histories / "porcupine-etcd" / "etcd_001.log")], model="cas-register",
                     failed_cas_observes=True, fmt="jepsen-log", console=_quiet(),
                     on_checked=lambda p, o, n, r: checked.append(Checked(p, o, n, r, opts))) == 1
    (out,) = write_check_reports(tmp_path / "r.html", checked)
    _open(browser, out)
    card = browser.find_element(By.CSS_SELECTOR, ".cx-card")
    assert _in_first_screen(browser, card.find_element(By.TAG_NAME, "h2"))
    assert card.find_element(By.TAG_NAME, "h2").text == "These 2 ops cannot be ordered"
    rows = card.find_elements(By.CSS_SELECTOR, "tr.cx-op")
    assert [r.find_element(By.TAG_NAME, "code").text for r in rows] == ["write(1)", "read() → 4"]
    assert all(_in_first_screen(browser, r) for r in rows)
    _shot(browser, "check-report-top.png")
    # no clock in the file: positions, not seconds
    assert rows[0].find_elements(By.TAG_NAME, "td")[3].text == "#69"


def _quiet():
    import io

    from rich.console import Console

    return Console(file=io.StringIO(), width=200)


def test_stale_read_run_report_first_screen(browser, tmp_path, requires_root):
    """The issue's own run: our Raft with the stale-read bug, the leader partitioned away.
    The first screen names the counterexample's ops in words, the node of each, and the
    partition in force; hovering the failing op reads its node, fault and time."""
    import os
    import re
    import subprocess
    import sys

    from selenium.webdriver.common.by import By

    store = tmp_path / "store"
    name = f"e2e-rstale-{os.getpid()}"
    r = subprocess.run([sys.executable, "-m", "splitbrain.cli", "test", "--system", "raft",
                        "-o", "bug=stale-read", "--nemesis", "partition-leader",
                        "--backend", "netns", "--time-limit", "40", "--nemesis-interval", "8",
                        "--quiet", "--name", name, "--store", str(store)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    assert "cannot be ordered" in r.stdout or "cannot take effect" in r.stdout
    run = next(p for p in (store / name).iterdir() if p.is_dir())
    _open(browser, run / "report.html")
    card = browser.find_element(By.CSS_SELECTOR, ".cx-card")
    title = card.find_element(By.TAG_NAME, "h2")
    assert _in_first_screen(browser, title)
    assert re.search(r"(these \d+ ops cannot be ordered|this op cannot take effect)", title.text)
    rows = card.find_elements(By.CSS_SELECTOR, "tr.cx-op")
    assert 1 <= len(rows) <= 10
    for row in rows:
        assert _in_first_screen(browser, row)
        assert re.fullmatch(r"n[1-9]", row.find_element(By.CSS_SELECTOR, ".cx-node").text)
    faults = [row.find_element(By.CSS_SELECTOR, ".cx-faults").text for row in rows]
    assert any("partition" in f for f in faults), faults
    _shot(browser, "stale-read-first-screen.png")
    op = browser.find_element(By.CSS_SELECTOR, '.lin-op[data-failing="true"]')
    text = _hover(browser, op).text
    assert re.search(r"node n[1-9]", text) and re.search(r"call \d+\.\d{3} s", text)
    assert "faults " in text
    _shot(browser, "stale-read-failing-op-tooltip.png")

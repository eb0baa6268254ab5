"""Report of a 100,000-op history: generation time, size, and browser render time.

Render time is measured in headless Chromium (selenium): from navigation start
to the moment the page's script sets ``window.__sbRendered`` (charts drawn,
timeline laid out), as ``performance.now()`` then. Target: under 5 s.

    python benchmarks/report_render.py [--ops 100000] [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from splitbrain.reports.html import write_report
from splitbrain.reports.rundata import make_run_dir


def synthetic_history(n_ops: int, concurrency: int = 20, seed: int = 1) -> list[dict]:
    """A register history of ``n_ops`` ops (invokes + completions) over ~120 s with
    partitions every 10 s: latencies log-normal, slower and failing more under faults."""
    rnd = random.Random(seed)
    ops: list[dict] = []
    clock = [0] * concurrency
    procs = list(range(concurrency))
    duration = 120e9
    pairs = n_ops // 2
    step = duration * concurrency / pairs
    events = []
    for _ in range(pairs):
        w = rnd.randrange(concurrency)
        t0 = clock[w] + int(rnd.expovariate(1 / step) * 0.3)
        faulty = (t0 // 10_000_000_000) % 2 == 1
        lat = int(rnd.lognormvariate(14.5 if not faulty else 16.5, 0.8))
        f = rnd.choice(["read", "write", "cas"])
        r = rnd.random()
        typ = "ok" if r < (0.8 if faulty else 0.97) else "fail" if r < 0.98 else "info"
        events.append((t0, "invoke", procs[w], f, t0 + lat, typ))
        clock[w] = t0 + lat + 1
        if typ == "info":
            procs[w] += concurrency
    flat = []
    for t0, _, p, f, t1, typ in events:
        key = f"k{p % 50}"
        v = rnd.randrange(5)
        flat.append((t0, {"type": "invoke", "process": p, "f": f, "key": key,
                          "value": [v, v + 1] if f == "cas" else v, "time": t0}))
        flat.append((t1, {"type": typ, "process": p, "f": f, "key": key,
                          "value": [v, v + 1] if f == "cas" else v, "time": t1}))
    end = max(t for t, _ in flat)
    for k in range(1, int(end // 10_000_000_000), 2):
        t = k * 10_000_000_000
        flat.append((t, {"type": "invoke", "process": "nemesis", "f": "start-partition",
                         "value": None, "time": t}))
        flat.append((t + 5_000_000, {"type": "info", "process": "nemesis", "f": "start-partition",
                                     "value": {"grudge": {"n1": ["n2", "n3"]}}, "time": t + 5_000_000}))
        t2 = min(t + 10_000_000_000, end - 10_000_000)
        flat.append((t2, {"type": "invoke", "process": "nemesis", "f": "stop-partition",
                          "value": None, "time": t2}))
        flat.append((t2 + 3_000_000, {"type": "info", "process": "nemesis", "f": "stop-partition",
                                      "value": None, "time": t2 + 3_000_000}))
    flat.sort(key=lambda x: x[0])
    for i, (_, o) in enumerate(flat):
        o["index"] = i
        ops.append(o)
    return ops


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              "--window-size=1400,1000", "--enable-unsafe-swiftshader"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or
                                            "/usr/bin/chromedriver"), options=opts)


def render_time(driver, url: str, timeout: float = 60.0) -> float:
    """Seconds from navigation start to ``window.__sbRendered``."""
    driver.get("about:blank")
    driver.get(url)
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if driver.execute_script("return window.__sbRendered === true"):
            err = driver.execute_script("return window.__sbRenderError || null")
            if err:
                raise RuntimeError(f"render error: {err}")
            return driver.execute_script("return window.__sbRenderedAt") / 1000.0
        time.sleep(0.05)
    raise TimeoutError("report did not finish rendering")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="keep the store here")
    a = ap.parse_args()
    tmp = Path(a.keep or tempfile.mkdtemp(prefix="sb-bench-"))
    ops = synthetic_history(a.ops)
    results = {"valid": True, "elapsed_s": 130.0,
               "checkers": {"linearizability": {"checker": "linearizability", "valid": True,
                                                "model": "cas-register", "failures": []}}}
    run = make_run_dir(tmp / "store", "bench-100k", ops, results,
                       {"system": "raft", "workload": "register", "nemesis": ["partition"],
                        "concurrency": 20, "time_limit": 120})
    gen = []
    for _ in range(a.runs):
        t = time.perf_counter()
        out = write_report(run)
        gen.append(time.perf_counter() - t)
    size = out.stat().st_size
    plotly = (run / "assets" / "plotly.min.js").stat().st_size
    print(f"history: {len(ops)} ops ({sum(1 for o in ops if o['type'] == 'invoke')} invocations)")
    print(f"generate: median {statistics.median(gen):.2f} s over {a.runs} (min {min(gen):.2f})")
    print(f"report.html: {size / 1e6:.2f} MB (+ plotly.min.js {plotly / 1e6:.2f} MB, "
          "hard-linked once per store)")
    d = browser()
    times, marks = [], []
    try:
        for _ in range(a.runs):
            times.append(render_time(d, out.as_uri()))
            marks.append(d.execute_script("return window.__sbMarks"))
    finally:
        d.quit()
    for t, m in zip(times, marks, strict=True):
        print(f"  run: plotly.js loaded+parsed at {m['script'] / 1000:.2f} s, "
              f"charts resolved at {m.get('latency', 0) / 1000:.2f} s, painted at {t:.2f} s")
    med = statistics.median(times)
    print(f"browser render (navigation start -> __sbRendered): median {med:.2f} s, "
          f"runs {', '.join(f'{x:.2f}' for x in times)}  target < 5 s: "
          f"{'met' if med < 5 else 'MISSED'}")
    if a.keep is None:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept: {out}")


if __name__ == "__main__":
    main()

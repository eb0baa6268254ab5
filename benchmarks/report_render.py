"""Report of a 100,000-op history: generation time, size, and browser render time.

Render time is measured in headless Chromium (selenium): from navigation start
to the moment the page's script sets ``window.__sbRendered`` (charts drawn,
linearizability view drawn), as ``performance.now()`` then. Target: under 3 s.

    python benchmarks/report_render.py [--ops 100000] [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from splitbrain.checker.linearizability import check
from splitbrain.history.formats import parse_history
from splitbrain.reports.html import write_report
from splitbrain.reports.rundata import make_run_dir


def synthetic_history(n_ops: int, concurrency: int = 20, seed: int = 1) -> list[dict]:
    """A linearizable register history of ``n_ops`` ops (invokes + completions) over ~120 s,
    50 keys, with partitions every 10 s: latencies log-normal, slower and failing more
    under faults. Each op takes effect at a random moment inside its call-return window
    (reads see the value then, a cas succeeds only on a match), so every key has a
    linearization for the report to draw, as a real valid run does."""
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
        events.append([t0, procs[w], f, t0 + lat, typ, f"k{rnd.randrange(50)}",
                       rnd.randrange(5), t0 + rnd.random() * lat])
        clock[w] = t0 + lat + 1
        if typ == "info":
            procs[w] += concurrency
    state: dict[str, int | None] = {}
    for e in sorted(events, key=lambda e: e[7]):  # apply at each op's moment of effect
        _, _, f, _, typ, key, v, _ = e
        cur = state.get(key)
        if f == "read":
            e.append(cur if typ == "ok" else None)
        elif f == "write":
            if typ != "fail":
                state[key] = v
            e.append(v)
        else:  # cas cur -> v: only an ok cas whose expected value matched
            if typ == "ok" and cur is not None and rnd.random() < 0.7:
                state[key] = v
                e.append([cur, v])
            else:
                e[4] = typ if typ != "ok" else "fail"
                e.append([(cur or 0) + 1, v])
    flat = []
    for t0, p, f, t1, typ, key, _, _, val in events:
        inv = None if f == "read" else val
        flat.append((t0, {"type": "invoke", "process": p, "f": f, "key": key, "value": inv,
                          "time": t0, "node": f"n{p % 5 + 1}"}))
        flat.append((t1, {"type": typ, "process": p, "f": f, "key": key, "value": val,
                          "time": t1, "node": f"n{p % 5 + 1}"}))
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
    lin = check(parse_history("\n".join(json.dumps(o) for o in ops), "jsonl"), "cas-register")
    results = {"valid": lin.valid, "elapsed_s": 130.0, "model": "cas-register",
               "checkers": {"linearizability": lin.to_json()}}
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
    times, marks, tl = [], [], []
    try:
        for _ in range(a.runs):
            times.append(render_time(d, out.as_uri()))
            marks.append(d.execute_script("return window.__sbMarks"))
            # the op timeline is laid out when it nears the viewport: all ops, drawn lazily
            tl.append(d.execute_script(
                "var t = performance.now(); window.sbDrawTimeline();"
                "return [performance.now() - t, window.sbTimeline.drawn,"
                " document.querySelectorAll('#timeline-box .tl-op').length]"))
        keys = d.execute_script(
            "var v = JSON.parse(document.getElementById('sb-data').textContent).lin[0].keys;"
            "return [v.length, v.filter(function (k) { return k.lins.length; }).length,"
            " document.querySelectorAll('.linview .lin-op').length]")
    finally:
        d.quit()
    for t, m, x in zip(times, marks, tl, strict=True):
        print(f"  run: script parsed its data at {m['parsed'] / 1000:.2f} s, linearizability "
              f"view at {m['lin'] / 1000:.2f} s, charts resolved at "
              f"{m.get('latency', 0) / 1000:.2f} s, painted at {t:.2f} s; op timeline built in "
              f"{x[0] / 1000:.2f} s ({x[2]} boxes in the page)")
    print(f"linearizability view: {keys[0]} keys, {keys[1]} with a linearization drawn; "
          f"{keys[2]} op boxes in the page")
    med = statistics.median(times)
    print(f"browser render (navigation start -> __sbRendered): median {med:.2f} s, "
          f"runs {', '.join(f'{x:.2f}' for x in times)}  target < 3 s: "
          f"{'met' if med < 3 else 'MISSED'}")
    if a.keep is None:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept: {out}")


if __name__ == "__main__":
    main()

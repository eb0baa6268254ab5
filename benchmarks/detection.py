"""The detection matrix: how often each planted bug is caught, and whether correct systems
ever get a false alarm.

Runs a campaign file (default ``campaigns/detection.toml``; more with ``--campaign``)
``--repetitions`` times per row and prints, per row: what was expected, runs, how
many gave the expected verdict (for ``expect = invalid`` rows: caught; for ``valid``
rows: the opposite count is the false alarms), unknown / error counts, and the
median seconds from the test start to the first op a checker blamed.

    python benchmarks/detection.py --repetitions 5 [--campaign campaigns/textbook.toml]
        [--time-limit 60] [--backend netns] [--jobs 1] [--only raft] [--expect invalid]

``--jobs N`` runs N tests at once (each its own cluster); keep it at 1 for the rows
that expect invalid when you quote detection rates on a small machine (timing decides
whether a race is hit), more is fine for rows that expect valid.

Not a test: it prints figures. Needs root for netns (the default backend there).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from splitbrain.harness.campaign import expand, load_toml  # noqa: E402
from splitbrain.harness.runner import run_test  # noqa: E402
from splitbrain.reports.rundata import first_bad_seconds  # noqa: E402
from splitbrain.verdict import word  # noqa: E402


def row_key(spec) -> str:
    opts = ",".join(f"{k}={v}" for k, v in sorted(spec.options.items()))
    wopts = ",".join(f"{k}={v}" for k, v in sorted(spec.workload_options.items()))
    nopts = ",".join(f"{k}={v}" for k, v in sorted(spec.nemesis_options.items()))
    return " ".join(x for x in (spec.system, f"[{opts}]" if opts else "", spec.workload,
                                f"-w {wopts}" if wopts else "", "+".join(spec.nemesis) or "none",
                                f"-O {nopts}" if nopts else "") if x)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaign", action="append", type=Path,
                    help="campaign file(s) (default: campaigns/detection.toml)")
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--time-limit", type=float, help="override every run's time limit")
    ap.add_argument("--backend", help="override every run's backend")
    ap.add_argument("--only", help="only rows whose description contains this text")
    ap.add_argument("--expect", choices=("valid", "invalid"), help="only rows expecting this")
    ap.add_argument("--jobs", type=int, default=1, help="tests run at once")
    ap.add_argument("--store", default="/tmp/splitbrain-detection/store")
    a = ap.parse_args()
    files = a.campaign or [REPO / "campaigns" / "detection.toml"]
    runs = []
    for f in files:
        runs += expand(load_toml(f), str(f), repetitions=a.repetitions)
    table: dict[str, dict] = {}
    lock = threading.Lock()
    t0 = time.monotonic()
    todo = []
    for i, run in enumerate(runs):
        key = row_key(run.spec)
        if (a.only and a.only not in key) or (a.expect and run.expect != a.expect):
            continue
        changes = {"store": a.store, "name": f"det-{i}-{re.sub(r'[^A-Za-z0-9]+', '-', key)}"[:60]}
        if a.time_limit:
            changes["time_limit"] = a.time_limit
        if a.backend:
            changes["backend"] = a.backend
        todo.append((key, run.expect, dataclasses.replace(run.spec, **changes)))
    print(f"# {len(todo)} runs from {', '.join(map(str, files))}, {a.jobs} at a time; load "
          f"average {os.getloadavg()[0]:.1f}", flush=True)

    def one(item: tuple[str, str, object]) -> None:
        key, expect, spec = item
        try:
            res = run_test(spec, report=False)
            verdict = "error" if res.error else word(res.valid)
            fb = first_bad_seconds(res.run_dir) \
                if res.run_dir and verdict == "invalid" else None
            err = res.error
        except Exception as e:  # noqa: BLE001 - a refused spec is an error row, not a crash
            verdict, fb, err = "error", None, f"{type(e).__name__}: {e}"
        with lock:
            row = table.setdefault(key, {"expect": expect, "runs": 0, "as_expected": 0,
                                         "unknown": 0, "error": 0, "first_bad": []})
            row["runs"] += 1
            row["as_expected"] += verdict == expect
            row["unknown"] += verdict == "unknown"
            row["error"] += verdict == "error"
            if fb is not None:
                row["first_bad"].append(fb)
            done = sum(r["runs"] for r in table.values())
            print(f"[{done}/{len(todo)}] {key}: {verdict} (expected {expect})"
                  + (f", first bad op at {fb:.1f}s" if fb is not None else "")
                  + (f" — {err}" if err else ""), flush=True)

    with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        list(pool.map(one, todo))
    print(f"\n# detection matrix: {time.monotonic() - t0:.0f}s, load average "
          f"{os.getloadavg()[0]:.1f}")
    print("| row | expect | runs | caught / valid | unknown | error | median first bad op |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    false_alarms = 0
    for key, r in table.items():
        if r["expect"] == "valid":
            false_alarms += r["runs"] - r["as_expected"] - r["unknown"] - r["error"]
        med = f"{statistics.median(r['first_bad']):.1f} s" if r["first_bad"] else "-"
        label = "caught" if r["expect"] == "invalid" else "valid"
        print(f"| {key} | {r['expect']} | {r['runs']} | {r['as_expected']}/{r['runs']} {label} "
              f"| {r['unknown']} | {r['error']} | {med} |")
    valid_runs = sum(r["runs"] for r in table.values() if r["expect"] == "valid")
    print(f"\nfalse alarms (invalid verdicts on rows expecting valid): {false_alarms} of "
          f"{valid_runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What plotly costs splitbrain: install size and time, import time, the asset's size,
and a report's render time in Chromium with the charts (plotly.min.js beside it) and
without (the asset removed: the page shows its no-charts notice).

    python benchmarks/plotly_cost.py [--ops 20000] [--runs 3] [--no-install]

The install timing makes a fresh virtualenv and installs plotly (and narwhals, its
one dependency) from pip's cache or the package index; ``--no-install`` skips it.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata as md
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_render import browser, render_time, synthetic_history  # noqa: E402

from splitbrain.reports.html import plotly_source, write_report  # noqa: E402
from splitbrain.reports.rundata import make_run_dir  # noqa: E402


def installed_mb(dist: str) -> float:
    """Bytes of a distribution's installed files, in MB."""
    files = md.distribution(dist).files or []
    return sum(f.locate().stat().st_size for f in files if f.locate().exists()) / 1e6


def import_s(module: str, runs: int = 5) -> float:
    """Median wall time of ``python -c 'import module'`` minus a bare interpreter start."""
    def t(code: str) -> float:
        out = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            out.append(time.perf_counter() - t0)
        return statistics.median(out)
    return t(f"import {module}") - t("pass")


def install_s(tmp: Path) -> float:
    env = tmp / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env)
    v = md.version("plotly")
    t0 = time.perf_counter()
    subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", f"plotly=={v}"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-install", action="store_true")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sb-plotly-"))
    try:
        js = plotly_source()
        raw = js.read_bytes()
        print(f"plotly {md.version('plotly')}: installed {installed_mb('plotly'):.1f} MB, "
              f"narwhals {md.version('narwhals')}: {installed_mb('narwhals'):.1f} MB")
        print(f"the one file we use, plotly.min.js: {len(raw) / 1e6:.2f} MB "
              f"({len(gzip.compress(raw)) / 1e6:.2f} MB gzipped)")
        print(f"import plotly (to find that file): {import_s('plotly') * 1000:.0f} ms")
        if not a.no_install:
            print(f"pip install plotly into a fresh venv: {install_s(tmp):.1f} s")
        ops = synthetic_history(a.ops)
        results = {"valid": True, "checkers": {"linearizability": {
            "checker": "linearizability", "valid": True, "model": "cas-register", "failures": []}}}
        run = make_run_dir(tmp / "store", "bench", ops, results,
                           {"system": "raft", "workload": "register", "nemesis": ["partition"]})
        out = write_report(run)
        print(f"report.html ({a.ops} ops): {out.stat().st_size / 1e6:.2f} MB, plus the "
              f"shared plotly.min.js (hard-linked once per store)")
        d = browser()
        try:
            with_js = [render_time(d, out.as_uri()) for _ in range(a.runs)]
            (run / "assets" / "plotly.min.js").unlink()
            without = [render_time(d, out.as_uri()) for _ in range(a.runs)]
        finally:
            d.quit()
        print(f"render in Chromium, with charts: median {statistics.median(with_js):.2f} s "
              f"({', '.join(f'{x:.2f}' for x in with_js)})")
        print(f"render without plotly.min.js (no charts): median {statistics.median(without):.2f} s "
              f"({', '.join(f'{x:.2f}' for x in without)})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""``splitbrain check --report`` and ``splitbrain analyze`` as a user runs them."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splitbrain.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def counterexample_jsonl(page: str) -> str:
    """The counterexample's ops as the report prints them (a history of their own)."""
    m = re.search(r'<details class="cx-jsonl">.*?<pre>(.*?)</pre>', page, re.S)
    assert m, "no counterexample history in the report"
    return html.unescape(m.group(1))


def test_check_report_of_porcupine_etcd_001(tmp_path: Path, histories: Path) -> None:
    src = histories / "porcupine-etcd" / "etcd_001.log"
    r = cli("check", str(src), "--format", "jepsen-log", "--model", "cas-register",
            "--failed-cas-observes", "--report", "r.html", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "these 2 ops cannot be ordered: write(1) by process 5 (history index 69); " \
           "read() → 4 by process 7 (history index 72)" in r.stdout
    assert "report: r.html" in r.stdout
    page = (tmp_path / "r.html").read_text()
    assert 'data-verdict="invalid"' in page and "These 2 ops cannot be ordered" in page
    # the minimal counterexample, on its own, is invalid for the checker
    (tmp_path / "cx.jsonl").write_text(counterexample_jsonl(page) + "\n")
    again = cli("check", "cx.jsonl", "--model", "cas-register", "--failed-cas-observes",
                cwd=tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "4 ops" in again.stdout and "INVALID" in again.stdout
    # no clock in a Jepsen log: no chart, so no plotly beside the report
    assert not (tmp_path / "assets").exists()


def test_check_report_of_several_files_and_of_a_run_dir(tmp_path: Path, histories: Path) -> None:
    files = [histories / "porcupine-etcd" / f"etcd_00{i}.log" for i in (1, 2)]
    r = cli("check", *map(str, files), "--model", "cas-register", "--failed-cas-observes",
            "--report", str(tmp_path / "all.html"))
    assert r.returncode == 1, r.stderr
    index = (tmp_path / "all.html").read_text()
    links = re.findall(r'class="report-link" href="([^"]+)"', index)
    assert links == ["all_files/001-etcd_001.html", "all_files/002-etcd_002.html"]
    assert all((tmp_path / h).exists() for h in links)
    assert 'data-verdict="valid"' in (tmp_path / links[1]).read_text()

    # a run directory: its model is recorded, and the report goes beside its history
    from splitbrain.history.formats import read_history
    from splitbrain.reports.rundata import make_run_dir

    ops = read_history(files[0])
    for i, o in enumerate(ops):
        o.time = (i + 1) * 1_000_000
    run = make_run_dir(tmp_path / "store", "etcd", ops, {"valid": "unknown", "model": "cas-register"},
                       {"system": "etcd", "workload": "register"})
    r = cli("check", str(run))
    assert r.returncode == 1 and f"report: {run / 'check-report.html'}" in r.stdout, r.stderr
    assert not (run / "report.html").exists()   # the run's own report is left alone

    r = cli("analyze", str(run))
    assert r.returncode == 1, r.stderr
    assert "INVALID" in r.stdout and f"report: {run / 'report.html'}" in r.stdout
    assert (run / "report.html").exists() and (run / "results.previous.json").exists()
    bad = cli("analyze", str(tmp_path / "nope"))
    assert bad.returncode == 3 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr

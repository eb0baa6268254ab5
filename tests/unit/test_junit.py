"""JUnit XML written by a campaign, read back with xml.etree: counts and messages."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from splitbrain.reports.junit import write_junit


def _row(name, verdict, error=None, summary="", status="done"):
    return {"name": name, "classname": "splitbrain.etcd.register", "verdict": verdict,
            "summary": summary, "error": error, "elapsed_s": 1.5, "status": status,
            "report": f"/s/{name}/report.html", "run_dir": f"/s/{name}",
            "spec": {"system": "etcd", "nemesis": ["partition", "kill"], "seed": 7}}


def test_junit_counts_and_failure_message(tmp_path: Path):
    rows = [_row("a #1", "valid"), _row("b #1", "invalid",
                                        summary="linearizability: key 3 op 12 cannot be linearized"),
            _row("c #1", "unknown", summary="time limit ran out"),
            _row("d #1", "unknown", error="etcd would not start"),
            _row("e #1", "unknown", status="not-run")]
    p = write_junit(tmp_path / "j.xml", "nightly", rows, 12.0)
    root = ET.parse(p).getroot()
    suite = root.find("testsuite")
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "5", "failures": "1", "errors": "1", "skipped": "2"}
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert len(cases) == 5
    fail = cases["b #1"].find("failure")
    assert fail.get("message") == "linearizability: key 3 op 12 cannot be linearized"
    assert "/s/b #1/report.html" in fail.text
    assert cases["a #1"].find("failure") is None and cases["a #1"].find("skipped") is None
    assert cases["c #1"].find("skipped") is not None
    assert cases["d #1"].find("error").get("message") == "etcd would not start"
    props = {x.get("name"): x.get("value") for x in cases["a #1"].iter("property")}
    assert props["nemesis"] == "partition,kill" and props["seed"] == "7"

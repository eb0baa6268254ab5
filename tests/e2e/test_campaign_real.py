"""A campaign of 4 runs on real Raft clusters (local processes, kill nemesis):
campaign.html, JSON and a JUnit file whose counts agree with the runs' own results."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

CAMPAIGN = """
[campaign]
name = "e2e"

[defaults]
system = "raft"
backend = "local"
workload = "register"
time_limit = 8
nemesis_interval = 2
recovery_time = 1
rate = 200
store = "{store}"

[matrix]
nemesis = ["kill"]
options = [{{}}, {{bug = "stale-read"}}]
repetitions = 2
"""


def test_campaign_of_four_real_runs(tmp_path: Path) -> None:
    store = tmp_path / "store"
    toml = tmp_path / "c.toml"
    toml.write_text(CAMPAIGN.format(store=store))
    junit = tmp_path / "out.xml"
    r = subprocess.run([sys.executable, "-m", "splitbrain.cli", "campaign", str(toml),
                        "--junit", str(junit), "--json"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode in (0, 1), r.stderr[-3000:]
    suite = ET.parse(junit).getroot()
    if suite.tag == "testsuites":
        suite = suite.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 4 and int(suite.get("tests")) == 4
    runs = [json.loads(p.read_text()) | {"spec": json.loads((p.parent / "test.json").read_text())}
            for p in store.glob("*/*/results.json")]
    assert len(runs) == 4
    invalid = sum(1 for x in runs if x["valid"] is False)
    assert int(suite.get("failures")) == invalid == sum(1 for c in cases if c.find("failure") is not None)
    assert int(suite.get("errors", 0)) == 0
    assert r.returncode == (1 if invalid else 0)
    # the bug-free runs are valid: only stale-read runs may fail
    for x in runs:
        if x["spec"]["options"].get("bug") != "stale-read":
            assert x["valid"] is True, x["test"]
    assert {x["test"] for x in runs} == {"raft-register-kill", "raft-register-kill-bug-stale-read"}
    html = list(store.glob("_campaigns/*/campaign.html"))
    assert len(html) == 1 and "report.html" in html[0].read_text()

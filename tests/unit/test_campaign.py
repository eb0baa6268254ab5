"""Campaign matrix expansion from TOML, outputs and exit codes, with a fake run_test.

The fake stands in for the harness's runner only (plumbing); no system under test is faked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from splitbrain.errors import HarnessError
from splitbrain.harness.campaign import expand, load_toml, run_campaign
from splitbrain.reports.rundata import make_run_dir

TOML = """
[campaign]
name = "nightly"
[defaults]
time_limit = 30
concurrency = 5
seed = 100
store = "{store}"
[matrix]
system = ["etcd", "raft"]
workload = ["register"]
nemesis = ["partition", "partition,kill", "none"]
repetitions = 2
"""


@dataclass
class FakeResult:
    valid: Any
    run_dir: Path | None
    results: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 0
    error: str | None = None


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text.replace("{store}", str(tmp_path / "store")))
    return p


def test_matrix_expansion(tmp_path: Path):
    runs = expand(load_toml(_write(tmp_path, TOML)))
    assert len(runs) == 2 * 1 * 3 * 2
    combos = [(s.system, s.workload, tuple(s.nemesis), rep) for s, rep in runs]
    assert combos[:4] == [("etcd", "register", ("partition",), 0),
                          ("etcd", "register", ("partition",), 1),
                          ("etcd", "register", ("partition", "kill"), 0),
                          ("etcd", "register", ("partition", "kill"), 1)]
    assert ("raft", "register", (), 1) in combos
    assert all(s.time_limit == 30 and s.concurrency == 5 for s, _ in runs)
    assert [s.seed for s, _ in runs[:2]] == [100, 101]  # repetitions differ, reproducibly


@pytest.mark.parametrize("text,msg", [
    ("[matrix\nsystem=1", "not valid TOML"),
    ("[matrix]\nsytem = ['etcd']", "unknown setting"),
    ("[defaults]\nconcurrency = 0", "concurrency must be at least 1"),
    ("[matrix]\nrepetitions = 0", "repetitions must be a positive integer"),
    ("[matrix]\nsystem = []", "empty list"),
    ("[tests]\nx = 1", "unknown table"),
])
def test_bad_campaign_files_are_one_line_errors(tmp_path: Path, text: str, msg: str):
    with pytest.raises(HarnessError, match=msg) as e:
        run_campaign(_write(tmp_path, text), run_test=lambda s: pytest.fail("ran"))
    assert "\n" not in str(e.value)
    with pytest.raises(HarnessError, match="no such campaign file"):
        run_campaign(tmp_path / "missing.toml")


_N = [0]


def _fake_runner(store: Path, verdicts: dict[str, Any]):
    calls = []

    def run_test(spec):
        calls.append(spec)
        faults = "+".join(spec.nemesis) or "none"
        v = verdicts.get(f"{spec.system}/{faults}", True)
        if v == "error":
            return FakeResult("unknown", None, {}, 3, "cluster would not start")
        checkers = {"linearizability": {"checker": "linearizability", "valid": v,
                                        "reason": "key 3 not linearizable"}}
        res = {"valid": v, "checkers": checkers}
        _N[0] += 1
        d = make_run_dir(store, f"{spec.system}-{faults}-{_N[0]}", [], res,
                         spec.to_dict())
        (d / "report.html").write_text("<html></html>")
        return FakeResult(v, d, res, {True: 0, False: 1}.get(v, 2))
    return run_test, calls


def test_campaign_outputs_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture):
    path = _write(tmp_path, TOML)
    store = tmp_path / "store"
    fake, calls = _fake_runner(store, {"raft/partition+kill": False, "etcd/none": "unknown",
                                       "raft/none": "error"})
    junit = tmp_path / "out" / "junit.xml"
    code = run_campaign(path, junit=junit, json_out=True, run_test=fake)
    assert code == 1 and len(calls) == 12
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"] == {"valid": 6, "invalid": 2, "unknown": 4}
    html = Path(summary["html"]).read_text()
    assert html.count('data-verdict="invalid"') == 2  # one grid badge per invalid run
    assert 'href="../../raft-partition+kill-' in html  # relative link to the run's report
    import xml.etree.ElementTree as ET

    suite = ET.parse(junit).getroot().find("testsuite")
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "12", "failures": "2", "errors": "2", "skipped": "2"}
    # without the invalid ones: unknown -> 2; all valid -> 0
    fake2, _ = _fake_runner(store, {"etcd/none": "unknown"})
    assert run_campaign(path, run_test=fake2) == 2
    fake3, _ = _fake_runner(store, {})
    assert run_campaign(path, run_test=fake3) == 0


def test_other_varying_settings_get_their_own_grid_columns(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture):
    text = """
[defaults]
store = "{store}"
[matrix]
system = ["raft"]
nemesis = ["kill"]
options = [{}, {bug = "stale-read"}]
"""
    fake, calls = _fake_runner(tmp_path / "store", {})
    assert run_campaign(_write(tmp_path, text), json_out=True, run_test=fake) == 0
    assert [c.options for c in calls] == [{}, {"bug": "stale-read"}]
    html = Path(json.loads(capsys.readouterr().out)["html"]).read_text()
    assert "<th>kill · options: none</th>" in html and "<th>kill · bug=stale-read</th>" in html

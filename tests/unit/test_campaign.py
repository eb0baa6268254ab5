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
    combos = [(r.spec.system, r.spec.workload, tuple(r.spec.nemesis), r.repetition)
              for r in runs]
    assert combos[:4] == [("etcd", "register", ("partition",), 0),
                          ("etcd", "register", ("partition",), 1),
                          ("etcd", "register", ("partition", "kill"), 0),
                          ("etcd", "register", ("partition", "kill"), 1)]
    assert ("raft", "register", (), 1) in combos
    assert all(r.spec.time_limit == 30 and r.spec.concurrency == 5 for r in runs)
    assert [r.spec.seed for r in runs[:2]] == [100, 101]  # repetitions differ, reproducibly
    assert {r.expect for r in runs} == {"valid"}
    assert len(expand(load_toml(_write(tmp_path, TOML)), repetitions=1)) == 2 * 3


def test_single_runs_with_expected_verdicts(tmp_path: Path):
    text = TOML + """
[[run]]
system = "raft"
options = { bug = "stale-read" }
nemesis = "partition-leader"
expect = "invalid"
repetitions = 3
"""
    runs = expand(load_toml(_write(tmp_path, text)))
    assert len(runs) == 12 + 3
    bug = runs[-3:]
    assert [r.expect for r in bug] == ["invalid"] * 3
    assert bug[0].spec.options == {"bug": "stale-read"}
    assert bug[0].spec.nemesis == ["partition-leader"] and bug[0].spec.time_limit == 30
    assert [r.spec.seed for r in bug] == [100, 101, 102]
    assert len(expand(load_toml(_write(tmp_path, text)), repetitions=1)) == 6 + 1


@pytest.mark.parametrize("text,msg", [
    ("[matrix\nsystem=1", "not valid TOML"),
    ("[matrix]\nsytem = ['etcd']", "unknown setting"),
    ("[defaults]\nconcurrency = 0", "--concurrency 0: expected a whole number"),
    ("[[run]]\nsystem = 'raft'\nexpect = 'maybe'", "expect = 'maybe': use"),
    ("[[run]]\nsytem = 'raft'", "unknown setting"),
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
            return FakeResult("error", None, {}, 3, "cluster would not start")
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
    assert summary["counts"] == {"valid": 6, "invalid": 2, "unknown": 2, "error": 2}
    assert summary["passed"] == 6
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


def test_expected_invalid_passes_and_an_uncaught_bug_fails(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture):
    text = """
[defaults]
store = "{store}"
[matrix]
system = ["etcd"]
nemesis = ["kill"]
[[run]]
system = "raft"
nemesis = "partition"
expect = "invalid"
"""
    path = _write(tmp_path, text)
    caught, _ = _fake_runner(tmp_path / "store", {"raft/partition": False})
    junit = tmp_path / "j.xml"
    assert run_campaign(path, junit=junit, run_test=caught) == 0   # the known bug stayed red
    import xml.etree.ElementTree as ET

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "0" and suite.get("tests") == "2"
    case = suite.findall("testcase")[1]
    assert [c.tag for c in case][:1] == ["properties"]          # properties come first
    props = {p.get("name"): p.get("value") for p in case.find("properties")}
    assert props["expect"] == "invalid" and props["seed"] != "None" and "options" in props
    missed, _ = _fake_runner(tmp_path / "store", {})           # the bug was not caught
    assert run_campaign(path, junit=junit, run_test=missed) == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "1"
    assert suite.findall("testcase")[1].find("failure").get("type") == "not-caught"


def test_shards_cover_the_runs_once_and_jobs_run_them_all(tmp_path: Path):
    path = _write(tmp_path, TOML)
    seen: list[tuple] = []
    for i in (1, 2, 3):
        fake, calls = _fake_runner(tmp_path / "store", {})
        assert run_campaign(path, shard=f"{i}/3", run_test=fake) == 0
        seen += [(c.system, tuple(c.nemesis), c.seed) for c in calls]
    every = [(r.spec.system, tuple(r.spec.nemesis), r.spec.seed)
             for r in expand(load_toml(path))]
    assert sorted(seen) == sorted(every)
    with pytest.raises(HarnessError, match="--shard 4/3"):
        run_campaign(path, shard="4/3", run_test=fake)
    fake, calls = _fake_runner(tmp_path / "store", {"etcd/none": False})
    assert run_campaign(path, jobs=3, run_test=fake) == 1
    assert len(calls) == 12


def test_merge_joins_shards_moved_elsewhere_in_the_campaigns_order(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture):
    import shutil
    import xml.etree.ElementTree as ET

    from splitbrain.harness.campaign import merge_campaigns

    # three CI runners, each its own store; then their artifacts are unpacked elsewhere
    shards = []
    for i in (1, 2, 3):
        runner_dir = tmp_path / f"runner{i}"
        runner_dir.mkdir()
        path = _write(runner_dir, TOML)
        fake, _ = _fake_runner(runner_dir / "store", {"raft/partition+kill": False})
        run_campaign(path, shard=f"{i}/3", run_test=fake)
        shards.append(tmp_path / "artifacts" / f"shard-{i}")
        shutil.copytree(runner_dir / "store", shards[-1])
        shutil.rmtree(runner_dir)                       # the runner is gone
    capsys.readouterr()
    out = tmp_path / "merged"
    junit = tmp_path / "merged.xml"
    code = merge_campaigns(out, shards, junit=junit, json_out=True)
    summary = json.loads(capsys.readouterr().out.split("\ncampaign ")[0])
    assert code == 1 and summary["campaign"] == "nightly"
    assert summary["counts"] == {"valid": 10, "invalid": 2, "unknown": 0, "error": 0}
    every = [(r.spec.system, "+".join(r.spec.nemesis) or "none", r.repetition + 1)
             for r in expand(load_toml(_write(tmp_path, TOML)))]
    assert [(r["system"], r["faults"], r["repetition"]) for r in summary["runs"]] == every
    assert all(Path(r["run_dir"]).is_relative_to(tmp_path / "artifacts")
               for r in summary["runs"])                # found again after the move
    html = (out / "campaign.html").read_text()
    assert 'href="../artifacts/shard-' in html
    assert json.loads((out / "campaign.json").read_text())["missing_shards"] == []
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "12" and suite.get("failures") == "2"
    # a missing shard is said, and the merge cannot pass
    for s in shards:
        for f in s.rglob("campaign.json"):
            d = json.loads(f.read_text())
            d["runs"] = [dict(r, verdict="valid", passed=True) for r in d["runs"]]
            f.write_text(json.dumps(d))
    assert merge_campaigns(tmp_path / "m2", shards[:2]) == 2
    assert "shard(s) missing: nightly 3/3" in capsys.readouterr().err
    with pytest.raises(HarnessError, match="given twice"):
        merge_campaigns(tmp_path / "m3", [shards[0], shards[0]])
    with pytest.raises(HarnessError, match="merged.xml: not a campaign summary"):
        merge_campaigns(tmp_path / "m4", [tmp_path / "merged.xml"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="empty: no campaign.json in it"):
        merge_campaigns(tmp_path / "m5", [tmp_path / "empty"])


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).resolve().parents[2]
                                                         / "campaigns").glob("*.toml")))
def test_the_shipped_campaign_files_are_valid(name: str):
    from splitbrain.harness.runner import preflight

    path = Path(__file__).resolve().parents[2] / "campaigns" / name
    runs = expand(load_toml(path), str(path))
    assert runs and all(r.expect in ("valid", "invalid") for r in runs)
    for r in runs:   # names, options and faults as the runner would check them
        s = r.spec.resolved()
        s.backend = "netns" if s.backend == "docker" else s.backend   # no engine needed
        preflight(s)

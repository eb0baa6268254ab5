"""`splitbrain test` as a user runs it, against real clusters with real faults.

The default test (raft, 3 nodes, register, partition) on Docker; a known bug
(raft's stale-read switch) found under partition-leader; etcd's linearizable
register staying valid. Each leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain.clusters.backends.netns import netns_name


def run_cli(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splitbrain.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def leftovers(name: str) -> list[str]:
    """Containers and namespaces left by the run named ``name`` — only ours: other runs
    (a campaign, another CI job) may share the host."""
    out = []
    ps = subprocess.run(["docker", "ps", "-aq", "--filter", "label=splitbrain=1", "--filter",
                         f"label=splitbrain.test={name}"], capture_output=True, text=True)
    out += [f"container {c}" for c in ps.stdout.split()]
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    out += [f"netns {n}" for n in ns.stdout.split() if n.startswith(netns_name(name, ""))]
    return out


def nemesis_ops(run: Path) -> list[dict]:
    ops = [json.loads(ln) for ln in (run / "history.jsonl").read_text().splitlines()]
    return [o for o in ops if o["process"] == "nemesis"]


@pytest.mark.slow
def test_default_test_on_docker(tmp_path: Path, requires_docker: None) -> None:
    name = f"e2e-default-{os.getpid()}"   # the defaults, under a name only this run uses
    r = run_cli("test", "--backend", "docker", "--time-limit", "20", "--nemesis-interval", "5",
                "--name", name, "--store", str(tmp_path), "--quiet", "--seed", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    run = (tmp_path / "latest").resolve()
    spec = json.loads((run / "test.json").read_text())
    assert (spec["system"], spec["nodes"], spec["workload"], spec["nemesis"]) == \
        ("raft", 3, "register", ["partition"])
    assert any(o["f"] == "start-partition" for o in nemesis_ops(run))
    assert any(o["f"] == "stop-partition" for o in nemesis_ops(run))
    assert (run / "report.html").stat().st_size > 10_000
    assert list((run / "nodes").glob("n*/raft.log")), "node logs were not collected"
    assert not leftovers(name)


@pytest.mark.slow
def test_raft_stale_read_bug_is_found(tmp_path: Path, requires_root: None) -> None:
    name = f"e2e-stale-{os.getpid()}"   # other runs may share the host: judge only ours
    r = run_cli("test", "--system", "raft", "--backend", "netns", "-o", "bug=stale-read",
                "--name", name,
                "--nemesis", "partition-leader", "--nemesis-interval", "5", "--time-limit", "30",
                "--rate", "200", "--store", str(tmp_path), "--quiet", "--seed", "3")
    assert r.returncode == 1, r.stderr[-3000:]
    results = json.loads((tmp_path / "latest" / "results.json").read_text())
    lin = results["checkers"]["linearizability"]
    assert lin["valid"] is False and lin["failures"][0]["failing_op"] is not None
    assert not leftovers(name)


@pytest.mark.slow
def test_etcd_register_under_partition_leader_is_valid(tmp_path: Path,
                                                       requires_root: None) -> None:
    r = run_cli("test", "--system", "etcd", "--backend", "netns", "--nemesis", "partition-leader",
                "--nemesis-interval", "5", "--time-limit", "20", "--rate", "200",
                "--store", str(tmp_path), "--quiet", "--seed", "5")
    assert r.returncode == 0, r.stderr[-3000:]
    run = (tmp_path / "latest").resolve()
    assert any(o["f"] == "start-partition" for o in nemesis_ops(run))
    results = json.loads((run / "results.json").read_text())
    assert results["stats"]["ops"] > 100

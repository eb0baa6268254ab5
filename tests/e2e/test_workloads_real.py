"""Every workload end to end against real Raft nodes (local processes) under kill:
the harness, the workload's client calls and its checkers on a real history.
Our Raft is correct, so every verdict must be valid, with real ok ops recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["register", "counter", "set", "append", "lock", "bank"])
def test_workload_on_raft_under_kill_is_valid(tmp_path: Path, workload: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "splitbrain.cli", "test", "--system", "raft", "--backend", "local",
         "--workload", workload, "--nemesis", "kill", "--nemesis-interval", "3",
         "--time-limit", "10", "--concurrency", "4", "--rate", "100", "--recovery-time", "2",
         "--quiet", "--store", str(tmp_path), "--seed", "11"],
        capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    run = (tmp_path / "latest").resolve()
    results = json.loads((run / "results.json").read_text())
    assert results["valid"] is True
    assert all(c["valid"] is True for c in results["checkers"].values())
    ok = sum(d["ok"] for d in results["stats"]["by_f"].values())
    assert ok >= 20, results["stats"]
    ops = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    assert any(o["process"] == "nemesis" and o["f"] == "kill" for o in ops)


@pytest.mark.slow
def test_lock_with_short_leases_and_no_faults_is_valid(tmp_path: Path) -> None:
    """A correct lease lock (3 s leases, no faults) is valid: every holder releases
    inside its phase and its lease, so neither checker kind fires."""
    r = subprocess.run(
        [sys.executable, "-m", "splitbrain.cli", "test", "--system", "raft", "--backend", "local",
         "--workload", "lock", "-w", "lease-s=3", "--nemesis", "none", "--time-limit", "8",
         "--concurrency", "4", "--rate", "50", "--recovery-time", "1", "--quiet",
         "--store", str(tmp_path), "--seed", "5"],
        capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    run = (tmp_path / "latest").resolve()
    lock = json.loads((run / "results.json").read_text())["checkers"]["lock"]
    assert lock["valid"] is True and lock["acquired"] >= 5, lock
    assert lock["two-holders-count"] == 0 and lock["lease-expired-count"] == 0
    assert lock["strict-mutex"]["linearizable"] is True
    ops = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    last: dict[int, str] = {}
    for o in ops:
        if o["type"] == "ok" and o["process"] != "nemesis":
            last[o["process"]] = o["f"]
    assert "acquire" not in last.values()      # nobody was left holding the lock

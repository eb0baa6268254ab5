"""The quorum store for real: ``splitbrain test --system quorum`` on the netns backend.

Correct mode (ABD: majority quorums, read write-back) stays linearizable under
partitions and kills; each switch shows its textbook anomaly to the existing
checkers: ``W + R <= N`` stale reads under a partition, no read write-back under
packet loss (adds stuck on some replicas: an element seen, then unseen), last-writer-
wins under clock skew (acknowledged writes lost). The set workload runs with
``-w set-mode=add`` (a grow-only set merged by union). Needs root; each run is short.
The failure runs use the schedules measured to catch the anomaly (see the report of
issue 18); a run that misses one is retried once with the next seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from backend_checks import require

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.timeout(900)]
CLI = [sys.executable, "-c", "import sys; from splitbrain.cli import main; sys.exit(main())"]
REGISTER = ["--workload", "register", "-w", "cas=false"]
SET = ["--workload", "set", "-w", "set-mode=add"]
PATIENT = ["-o", "peer_timeout=3", "-o", "timeout=10"]
#: 30% packet loss on every node for 20 s, and coordinators that give up on a replica
#: after 0.2 s: many writes time out after reaching fewer than W replicas (honestly
#: reported indeterminate) — the seed of the no-write-back anomaly
LOSSY = ["--nemesis", "packet-loss", "-O", "loss=0.3", "--nemesis-targets", "all",
         "--nemesis-interval", "20", "--concurrency", "5", "-o", "peer_timeout=0.2"]


def run(tmp: Path, name: str, args: list[str], seed: int, time_limit: int = 20
        ) -> tuple[int, str]:
    """One ``splitbrain test`` run; its exit code and the verdict line."""
    name = f"pyt-quorum-{name}-{os.getpid() % 10000}-{seed}"
    r = subprocess.run([*CLI, "test", "--system", "quorum", "--backend", "netns", "--nodes",
                        "3", "--time-limit", str(time_limit), "--seed", str(seed), "--name",
                        name, "--store", str(tmp / "store"), "--quiet", *args],
                       capture_output=True, text=True, timeout=600)
    verdict = next((ln for ln in r.stdout.splitlines()
                    if ln.startswith(("VALID", "INVALID", "UNKNOWN"))), r.stdout[-800:])
    assert r.returncode in (0, 1), f"exit {r.returncode}: {r.stderr[-1500:]}"
    return r.returncode, verdict


def invalid_within(tmp: Path, name: str, args: list[str], seeds: tuple[int, ...] = (1, 2),
                   time_limit: int = 25) -> str:
    """The verdict of the first INVALID run among ``seeds`` (fails if none is)."""
    seen = []
    for seed in seeds:
        rc, verdict = run(tmp, name, args, seed, time_limit)
        if rc == 1:
            return verdict
        seen.append(verdict)
    raise AssertionError(f"{name}: no run invalid: {seen}")


@pytest.fixture(autouse=True)
def _root() -> None:
    require("root")


@pytest.mark.parametrize("faults", [["--nemesis", "partition"], ["--nemesis", "kill"], LOSSY,
                                    ["--nemesis", "clock", *PATIENT]],
                         ids=["partition", "kill", "packet-loss", "clock"])
def test_correct_mode_is_linearizable(tmp_path: Path, faults: list[str]) -> None:
    rc, verdict = run(tmp_path, "ok", [*REGISTER, *faults], seed=7)
    assert rc == 0 and verdict.startswith("VALID"), verdict
    results = json.loads(next((tmp_path / "store").glob("*/*/results.json")).read_text())
    assert results["valid"] is True


def test_correct_mode_set_with_adds(tmp_path: Path) -> None:
    rc, verdict = run(tmp_path, "set-ok", [*SET, "--nemesis", "partition"], seed=7)
    assert rc == 0 and verdict.startswith("VALID"), verdict


def test_small_quorums_read_stale(tmp_path: Path) -> None:
    verdict = invalid_within(tmp_path, "wr", [*REGISTER, "--nemesis", "partition",
                                              "-o", "w=1", "-o", "r=1"])
    assert "linearizability" in verdict, verdict


def test_small_quorums_set_shows_stale_elements(tmp_path: Path) -> None:
    verdict = invalid_within(tmp_path, "wr-set", [*SET, "--nemesis", "partition",
                                                  "-o", "w=1", "-o", "r=1"])
    assert "stale" in verdict or "lost" in verdict, verdict


def test_no_write_back_shows_elements_seen_then_unseen(tmp_path: Path) -> None:
    # the set workload shows it every time (each element is unique and never
    # overwritten); the register workload in about 3 runs of 5 (small values, many
    # concurrent writes that could explain a read)
    verdict = invalid_within(tmp_path, "nowb", [*SET, *LOSSY, "-o", "write_back=false"],
                             seeds=(1, 2), time_limit=30)
    assert "stale" in verdict or "lost" in verdict, verdict


def test_lww_loses_writes_under_clock_skew(tmp_path: Path) -> None:
    # under libfaketime the threaded python node is several times slower (it fakes the
    # pthread timed waits that thread hand-offs use): patient coordinators, so writes
    # are acknowledged rather than timing out
    verdict = invalid_within(tmp_path, "lww", [*REGISTER, "--nemesis", "clock",
                                               "-o", "lww=true", *PATIENT])
    assert "linearizability" in verdict, verdict

"""Two- and three-phase commit on real nodes (netns backend, root): `splitbrain test`
runs end to end, checked by the bank checker (``bank-mode=txn``).

Correct 2PC stays valid under kills and partitions (it blocks instead); correct 3PC
stays valid under kills. Each failure must be caught: 2PC ``commit-on-timeout`` and
``forget-decision`` under kills, 3PC under partitions (split brain). Catching one
needs a fault to land while a transaction is in flight, so a failure run is tried up
to ``ATTEMPTS`` times and must come out invalid at least once (measured: see the
report of the commit that added this file).
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
BANK = ["--workload", "bank", "-w", "bank-mode=txn"]
ATTEMPTS = 3


def run(tmp_path: Path, name: str, *args: str) -> tuple[int, dict]:
    """One `splitbrain test` on 3 netns nodes; (exit code, results.json)."""
    store = tmp_path / "store"
    name = f"{name}-{os.getpid() % 100000}"
    r = subprocess.run([*CLI, "test", "--backend", "netns", "--nodes", "3", "--time-limit", "20",
                        "--rate", "200", "--concurrency", "15", "--store", str(store),
                        "--name", name, "--quiet", *args],
                       capture_output=True, text=True, timeout=400)
    found = sorted(store.glob(f"{name}/*/results.json"))
    assert found, f"no results (exit {r.returncode}): {r.stdout[-800:]} {r.stderr[-1500:]}"
    return r.returncode, json.loads(found[-1].read_text())


def assert_valid_and_tested(rc: int, res: dict) -> None:
    bank = res["checkers"]["bank"]
    assert rc == 0 and res["valid"] is True, json.dumps(res["checkers"])[:1500]
    assert bank["ok-transfers"] > 20 and bank["final-reads"], "too little was tested"


def assert_caught(tmp_path: Path, name: str, *args: str, attempts: int = ATTEMPTS) -> None:
    verdicts = []
    for i in range(attempts):
        rc, res = run(tmp_path / str(i), name, *args)
        verdicts.append((rc, res["valid"]))
        if rc == 1:
            bank = res["checkers"]["bank"]
            assert bank["valid"] is False and bank["errors"], bank
            return
    pytest.fail(f"{name}: never invalid in {attempts} runs: {verdicts}")


@pytest.fixture(autouse=True)
def _root() -> None:
    require("root")


def test_2pc_correct_is_valid_under_kill(tmp_path: Path) -> None:
    assert_valid_and_tested(*run(tmp_path, "pytest-2pc-kill", "--system", "2pc", *BANK,
                                 "--nemesis", "kill", "--nemesis-interval", "2"))


def test_2pc_correct_is_valid_under_partition(tmp_path: Path) -> None:
    assert_valid_and_tested(*run(tmp_path, "pytest-2pc-part", "--system", "2pc", *BANK,
                                 "--nemesis", "partition", "--nemesis-interval", "1"))


def test_2pc_commit_on_timeout_is_caught(tmp_path: Path) -> None:
    assert_caught(tmp_path, "pytest-2pc-cot", "--system", "2pc", "-o", "bug=commit-on-timeout",
                  *BANK, "--nemesis", "kill", "--nemesis-interval", "2")


def test_2pc_forget_decision_is_caught(tmp_path: Path) -> None:
    assert_caught(tmp_path, "pytest-2pc-forget", "--system", "2pc", "-o", "bug=forget-decision",
                  *BANK, "--nemesis", "kill", "--nemesis-interval", "2")


def test_3pc_is_valid_under_kill(tmp_path: Path) -> None:
    assert_valid_and_tested(*run(tmp_path, "pytest-3pc-kill", "--system", "3pc", *BANK,
                                 "--nemesis", "kill", "--nemesis-interval", "2"))


def test_3pc_splits_under_partition(tmp_path: Path) -> None:
    # participants that give up on the coordinator sooner split more often; still only
    # 3 runs in 5 catch a split (2PC's failures: 5 in 5), hence more attempts
    assert_caught(tmp_path, "pytest-3pc-part", "--system", "3pc", "-o", "decision_timeout=0.3",
                  *BANK, "--nemesis", "partition", "--nemesis-interval", "1", attempts=5)

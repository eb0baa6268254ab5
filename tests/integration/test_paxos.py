"""Multi-Paxos (``--system paxos``) on real nodes (netns backend, root), end to end.

Correct mode stays linearizable under partitions and under kills of every node at
once (the acceptors' promises and accepts are on disk); each failure switch is caught
by the register workload's linearizability checker:

* ``no-adopt`` with ``leader=false`` (every command runs phase 1, so proposers often
  find a value already accepted in the slot they want), no fault needed;
* ``acceptor-forgets`` with ``--nemesis kill --nemesis-targets all``: every acceptor
  comes back having promised and accepted nothing, the log starts over, and the set
  workload's reads miss the elements whose adds were acknowledged before the kill
  (the register workload shows it too, in about 3 runs of 5: a key must be read
  before it is written again after the restart).

Correct mode under kill-all runs with ``--ops-per-key 1000`` so that one register key
lives across the restarts: the replayed acceptor logs must bring its value back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from backend_checks import require

pytestmark = [pytest.mark.root, pytest.mark.slow]
CLI = [sys.executable, "-c", "import sys; from splitbrain.cli import main; sys.exit(main())"]


def run(tmp_path: Path, name: str, *args: str, workload: str = "register"
        ) -> tuple[int, dict]:
    """One short ``splitbrain test`` on netns; its exit code and results.json."""
    require("root")
    store = tmp_path / "store"
    unique = f"pytest-paxos-{name}-{os.getpid() % 100000}"
    r = subprocess.run(
        [*CLI, "test", "--system", "paxos", "--backend", "netns", "--nodes", "3",
         "--workload", workload, "--nemesis-interval", "5", "--time-limit", "20",
         "--recovery-time", "2", "--name", unique, "--store", str(store), "--quiet", *args],
        capture_output=True, text=True, timeout=300)
    found = list(store.glob(f"{unique}/*/results.json"))
    assert found, f"no results (exit {r.returncode}): {r.stdout[-800:]} {r.stderr[-1500:]}"
    return r.returncode, json.loads(found[0].read_text())


@pytest.mark.parametrize("nemesis", [
    ["--nemesis", "partition"],
    ["--nemesis", "kill", "--nemesis-targets", "all", "--ops-per-key", "1000"],
], ids=["partition", "kill-all"])
def test_correct_mode_is_linearizable(tmp_path: Path, nemesis: list[str]) -> None:
    rc, res = run(tmp_path, "ok", "--seed", "1", *nemesis)
    lin = res["checkers"]["linearizability"]
    assert rc == 0 and res["valid"] is True and lin["valid"] is True, lin
    assert res["stats"]["by_f"]["write"]["ok"] > 50       # it did work, not just fail


def test_no_adopt_chooses_two_values_for_one_slot(tmp_path: Path) -> None:
    # caught 5/5 either way when measured alone, but a race decides each run: on a
    # loaded host one run can miss, so up to three (the first invalid one is judged)
    tries = [("--nemesis", "none", "-o", "leader=false"), ("--nemesis", "partition"),
             ("--nemesis", "partition")]
    seen = []
    for i, args in enumerate(tries):
        rc, res = run(tmp_path, f"noadopt{i}", "-o", "bug=no-adopt", *args)
        lin = res["checkers"]["linearizability"]
        if rc == 1:
            assert lin["valid"] is False and lin["keys_invalid"] >= 1, lin
            return
        seen.append((args, rc, lin.get("valid")))
    raise AssertionError(f"no-adopt never caught: {seen}")


def test_acceptor_forgets_loses_chosen_values_on_kill(tmp_path: Path) -> None:
    rc, res = run(tmp_path, "forgets", "-o", "bug=acceptor-forgets", "--nemesis", "kill",
                  "--nemesis-targets", "all", workload="set")
    st = res["checkers"]["set"]
    assert rc == 1 and st["valid"] is False and st["lost-count"] > 0, st

"""SIGKILL of a real `splitbrain test` run during a partition, then `splitbrain cluster
heal`: no iptables rule of ours survives in any node (netns backend, raft, root)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from backend_checks import require

from splitbrain.nemesis.journal import read_entries, unhealed
from splitbrain.nemesis.partition import our_rules

pytestmark = [pytest.mark.root, pytest.mark.slow]
# unique per run: a destroyed namespace can linger in the kernel while orphaned TCP
# sockets time out, and its veth name would collide with an immediate re-run
NAME = f"pytest-nem-kill9-{os.getpid() % 100000}"
CLI = [sys.executable, "-c", "import sys; from splitbrain.cli import main; sys.exit(main())"]


def test_killed_run_then_cluster_heal_leaves_no_rule(tmp_path: Path) -> None:
    require("root")
    from splitbrain.clusters.backends.netns import NetnsBackend
    store = tmp_path / "store"
    backend = NetnsBackend()
    proc = subprocess.Popen(
        [*CLI, "test", "--system", "raft", "--backend", "netns", "--nodes", "3",
         "--nemesis", "partition-halves", "--nemesis-interval", "120", "--time-limit", "300",
         "--name", NAME, "--store", str(store), "--seed", "4", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        journal = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(store.glob(f"{NAME}/*/faults.journal"))
            if found and read_entries(found[0]):
                journal = found[0]
                break
            time.sleep(0.2)
        if journal is None:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            err = proc.communicate(timeout=30)[1].decode(errors="replace")
            pytest.fail(f"the run journaled no fault (exit {proc.returncode}): {err[-1500:]}")
        nodes = backend.attach(NAME)
        grudge = read_entries(journal)[0]["detail"]["grudge"]
        # the journal is written just before the rules: wait for them to land
        deadline = time.monotonic() + 30
        while [n.name for n in nodes if our_rules(n)] != sorted(grudge):
            assert time.monotonic() < deadline, "the journaled partition was never applied"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)            # the harness dies mid-partition
        proc.wait(timeout=30)
        assert len(unhealed(read_entries(journal))) == 1
        assert any(our_rules(n) for n in nodes)

        r = subprocess.run([*CLI, "cluster", "heal", "--store", str(store)],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "COLUMNS": "250"})
        assert r.returncode == 0, r.stderr
        assert "partition-halves" in r.stdout and "healed" in r.stdout, r.stdout
        for n in nodes:
            assert "SPLITBRAIN" not in n.exec(["iptables", "-S"]).stdout, n.name
            assert our_rules(n) == []
        assert unhealed(read_entries(journal)) == []
        last = json.loads(journal.read_text().splitlines()[-1])
        assert last["event"] == "heal" and last["recovered"] is True
        r = subprocess.run([*CLI, "cluster", "heal", "--store", str(store)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "nothing to heal" in r.stdout, r.stdout + r.stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        backend.destroy(NAME)

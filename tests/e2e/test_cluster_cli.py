"""`splitbrain cluster up / status / down` as a user runs them, on real raft nodes
(local backend: no root needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="150")
    env.pop("SPLITBRAIN_REQUIRE_DOCKER", None)
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], capture_output=True,
                          text=True, timeout=240, cwd=cwd, env=env)


def test_cluster_up_stays_up_until_down(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    name = f"e2e-up-{os.getpid()}"
    r = cli("cluster", "up", "--system", "raft", "--backend", "local", "--nodes", "3",
            "--name", name, "--store", store, cwd=tmp_path)
    try:
        assert r.returncode == 0, r.stderr
        assert r.stdout.count(" yes ") == 3 and "leader" in r.stdout
        r = cli("cluster", "status", "--name", name, "--store", store, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.count(" yes ") == 3      # still running after `up` returned
    finally:
        down = cli("cluster", "down", "--name", name, "--store", store, cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    r = cli("cluster", "status", "--name", name, "--store", store, cwd=tmp_path)
    assert r.returncode == 3 and "no cluster named" in r.stderr

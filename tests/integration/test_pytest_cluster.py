"""The ``splitbrain_cluster`` fixture with real Raft nodes on the local backend (no root,
no Docker): a child pytest gets a running cluster, writes through one node's client and
reads through another's; after it, the nodes' daemons are gone."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = [pytest.mark.slow]

CHILD = '''
import json, pytest

@pytest.mark.splitbrain_cluster(system="raft", backend="local", nodes=3)
def test_write_then_read_elsewhere(splitbrain_cluster):
    assert [n.name for n in splitbrain_cluster.nodes] == ["n1", "n2", "n3"]
    with splitbrain_cluster.client("n1") as c:
        c.write("pytest-k", 7)
    with splitbrain_cluster.client("n3") as c:
        assert c.read("pytest-k") == 7
    assert splitbrain_cluster.leader() in splitbrain_cluster.nodes
    open("endpoints.json", "w").write(json.dumps(splitbrain_cluster.endpoints))
'''


def _listening(url: str) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname, u.port), timeout=1):
            return True
    except OSError:
        return False


def test_cluster_fixture_gives_a_running_raft_cluster_and_removes_it(tmp_path: Path) -> None:
    (tmp_path / "test_child.py").write_text(CHILD)
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), str(tmp_path / "test_child.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    endpoints = json.loads((tmp_path / "endpoints.json").read_text())
    assert sorted(endpoints) == ["n1", "n2", "n3"]
    assert all(u.startswith("http://127.") for u in endpoints.values())
    assert not any(_listening(u) for u in endpoints.values())   # torn down

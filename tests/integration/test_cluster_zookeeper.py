"""Real ZooKeeper (Debian's jars, one JVM per node), 3 servers on the local backend.

One ensemble per module (JVMs are slow to start); tests run in file order.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import cluster_checks as checks
import pytest
from cluster_checks import follower, local_cluster

from splitbrain.clusters.backends.local import LocalBackend
from splitbrain.clusters.systems.zookeeper import ZK_JAR, ZooKeeperClient, ZooKeeperSystem
from splitbrain.errors import ClientError

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(ZK_JAR) or shutil.which("java") is None,
                                 reason="ZooKeeper/java not installed (Debian package zookeeper)")]

NAME = f"it-sys-zk-{os.getpid()}"


@pytest.fixture(scope="module")
def cluster():
    with local_cluster("zookeeper", {"sync": "true", "timeout": "2"}, NAME, ZooKeeperSystem) as system:
        yield system



def eventually(fn, timeout: float = 30.0):
    return checks.eventually(fn, timeout=timeout, interval=0.3)


def test_healthy_and_one_leader(cluster: ZooKeeperSystem) -> None:
    assert cluster.healthy()
    modes = [cluster.mode(n) for n in cluster.nodes]
    assert sorted(modes) == ["follower", "follower", "leader"]
    assert cluster.leader() is cluster.nodes[modes.index("leader")]


def test_write_through_one_read_through_another(cluster: ZooKeeperSystem) -> None:
    a, b = cluster.client(cluster.nodes[0]), cluster.client(cluster.nodes[2])
    try:
        a.write("reg", [1, 2])
        assert b.read("reg") == [1, 2]
        assert b.read("never/written") is None
        assert b.cas("reg", [1, 2], 3) is True
        assert a.cas("reg", [1, 2], 4) is False         # BadVersion / mismatch: not applied
        assert a.read("reg") == 3
        assert a.cas("fresh", None, 1) is True and b.cas("fresh", None, 2) is False
        b.delete("fresh")
        assert a.read("fresh") is None
    finally:
        a.close()
        b.close()


def test_txn_list_append_in_one_multi(cluster: ZooKeeperSystem) -> None:
    a, b = cluster.client(cluster.nodes[0]), cluster.client(cluster.nodes[1])
    try:
        out = a.txn([["r", "x", None], ["append", "x", 1], ["append", "y", 2],
                     ["r", "x", None], ["r", "nobody", None]])
        assert out == [["r", "x", None], ["append", "x", 1], ["append", "y", 2],
                       ["r", "x", [1]], ["r", "nobody", None]]
        b.txn([["append", "x", 3]])
        assert a.txn([["r", "x", None], ["r", "y", None]]) == [["r", "x", [1, 3]],
                                                               ["r", "y", [2]]]
        assert b.read("nobody") is None                 # the absence check left nothing behind
    finally:
        a.close()
        b.close()


def test_lock_excludes_second_holder(cluster: ZooKeeperSystem) -> None:
    a = cluster.client(cluster.nodes[0])
    b = ZooKeeperClient(cluster.nodes[1], lock_timeout=1.0)
    try:
        tok = a.lock_acquire("m", 6)
        with pytest.raises(ClientError) as e:
            b.lock_acquire("m", 6)
        assert e.value.definite is True                 # our queued znode was removed
        a.lock_release("m", tok)
        tok2 = b.lock_acquire("m", 6)
        assert tok2 != tok
        b.lock_release("m", tok2)
    finally:
        a.close()
        b.close()


def test_kill_and_restart_follower_keeps_data(cluster: ZooKeeperSystem) -> None:
    f = follower(cluster)
    w = cluster.client(cluster.leader())
    w.write("durable", "yes")
    w.close()
    cluster.kill(f)
    assert not cluster.is_running(f)
    c = cluster.client(f)
    with pytest.raises(ClientError) as e:
        c.write("durable", "no")
    assert e.value.definite is True                     # no session could be opened
    cluster.start(f)
    cluster.wait_healthy(60)
    assert eventually(lambda: c.read("durable")) == "yes"
    c.close()


def test_pause_and_resume(cluster: ZooKeeperSystem) -> None:
    f = follower(cluster)
    c = ZooKeeperClient(f, timeout=1.0, session_timeout=8.0)
    c.write("paused", 0)                                # session established before the pause
    cluster.pause(f)
    try:
        with pytest.raises(ClientError) as e:
            c.write("paused", 1)
        assert e.value.definite is False                # queued or sent: may still apply
        assert cluster.mode(f) is None                  # srvr gets no answer
    finally:
        cluster.resume(f)
    cluster.wait_healthy(60)
    eventually(lambda: c.write("paused", 2))
    r = cluster.client(cluster.nodes[0])
    assert r.read("paused") == 2
    r.close()
    c.close()


def test_teardown_leaves_no_process(cluster: ZooKeeperSystem) -> None:
    root = os.path.dirname(cluster.nodes[0].work_dir)
    cluster.teardown()
    assert not any(cluster.is_running(n) for n in cluster.nodes)
    LocalBackend().destroy(NAME)
    left = subprocess.run(["pgrep", "-f", root], capture_output=True, text=True).stdout
    assert left.strip() == ""

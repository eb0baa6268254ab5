"""splitbrain's own Raft nodes (python3 -m splitbrain.raft), 3 nodes on the local backend: no root, no Docker.

One cluster per module; the tests run in file order and leave it healthy for the next.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from cluster_checks import eventually, follower, local_cluster

from splitbrain.clusters.backends.local import LocalBackend
from splitbrain.clusters.systems.raft import RaftKVClient, RaftSystem
from splitbrain.errors import ClientError

pytestmark = [pytest.mark.slow]

NAME = f"it-sys-raft-{os.getpid()}"


@pytest.fixture(scope="module")
def cluster():
    with local_cluster("raft", {"timeout": "2"}, NAME, RaftSystem) as system:
        yield system




def test_healthy_leader_and_members(cluster: RaftSystem) -> None:
    assert cluster.healthy()
    ld = cluster.leader()
    assert ld is not None and ld in cluster.nodes
    st = RaftKVClient(ld).status()
    assert st["role"] == "leader" and st["leader"] == ld.name
    assert st["bugs"] == []                                # as built: no bug switched on
    assert sorted(cluster.members()) == ["n1", "n2", "n3"]
    assert all(cluster.is_running(n) for n in cluster.nodes)


def test_write_through_one_read_through_another(cluster: RaftSystem) -> None:
    a, b = cluster.client(cluster.nodes[0]), cluster.client(cluster.nodes[2])
    a.write("reg", {"v": [1, 2]})
    assert b.read("reg") == {"v": [1, 2]}
    assert b.read("never-written") is None
    assert b.cas("reg", {"v": [1, 2]}, 7) is True
    assert a.cas("reg", {"v": [1, 2]}, 8) is False      # compare failed: nothing applied
    assert a.read("reg") == 7
    assert a.cas("fresh", None, 1) is True and b.cas("fresh", None, 2) is False
    b.delete("fresh")
    assert a.read("fresh") is None


def test_txn_list_append(cluster: RaftSystem) -> None:
    a, b = cluster.client(cluster.nodes[0]), cluster.client(cluster.nodes[1])
    out = a.txn([["r", "x", None], ["append", "x", 1], ["append", "y", 2], ["r", "x", None]])
    assert out == [["r", "x", None], ["append", "x", 1], ["append", "y", 2], ["r", "x", [1]]]
    b.txn([["append", "x", 3]])
    assert a.txn([["r", "x", None], ["r", "y", None]]) == [["r", "x", [1, 3]], ["r", "y", [2]]]


def test_lock_excludes_second_holder(cluster: RaftSystem) -> None:
    a = cluster.client(cluster.nodes[0])
    b = RaftKVClient(cluster.nodes[1], timeout=2.0, lock_timeout=1.0)
    tok = a.lock_acquire("m", 10)
    with pytest.raises(ClientError) as e:
        b.lock_acquire("m", 10)                            # held by a: refused each time
    assert e.value.definite is True
    a.lock_release("m", tok)
    tok2 = RaftKVClient(cluster.nodes[2]).lock_acquire("m", 10)
    assert tok2 > tok                                      # fencing tokens grow


def test_kill_and_restart_follower_keeps_data(cluster: RaftSystem) -> None:
    f = follower(cluster)
    cluster.client(cluster.leader()).write("durable", "yes")
    cluster.kill(f)
    assert not cluster.is_running(f)
    with pytest.raises(ClientError) as e:
        cluster.client(f).write("durable", "no")
    assert e.value.definite is True                        # connection refused: never sent
    cluster.start(f)
    cluster.wait_healthy(30)
    assert eventually(lambda: cluster.client(f).read("durable")) == "yes"


def test_pause_and_resume(cluster: RaftSystem) -> None:
    f = follower(cluster)
    cluster.pause(f)
    try:
        c = RaftKVClient(f, timeout=1.0)
        with pytest.raises(ClientError) as e:
            c.write("paused", 1)
        assert e.value.definite is False                   # sent, no answer: may apply later
        with pytest.raises(ClientError) as e:
            c.read("paused")
        assert e.value.definite is True                    # a read has no effect
    finally:
        cluster.resume(f)
    cluster.wait_healthy(30)
    eventually(lambda: cluster.client(f).write("paused", 2))
    assert cluster.client(cluster.nodes[0]).read("paused") == 2


def test_member_remove_and_add(cluster: RaftSystem) -> None:
    f = follower(cluster)
    cluster.client(cluster.nodes[0]).write("before-remove", 1)
    cluster.member_remove(f)
    assert f.name not in cluster.members()
    assert not cluster.is_running(f)
    cluster.member_add(f)
    assert f.name in cluster.members()
    cluster.wait_healthy(30)
    assert eventually(lambda: cluster.client(f).read("before-remove")) == 1


def test_leader_kill_elects_another(cluster: RaftSystem) -> None:
    old = cluster.leader()
    cluster.kill(old)
    deadline = time.monotonic() + 20
    while (new := cluster.leader()) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert new is not None and new.name != old.name
    cluster.start(old)
    cluster.wait_healthy(30)


def test_teardown_leaves_no_process(cluster: RaftSystem) -> None:
    root = os.path.dirname(cluster.nodes[0].work_dir)
    cluster.teardown()
    assert not any(cluster.is_running(n) for n in cluster.nodes)
    LocalBackend().destroy(NAME)
    left = subprocess.run(["pgrep", "-f", root], capture_output=True, text=True).stdout
    assert left.strip() == ""

"""The nemesis against real clusters on the netns backend: etcd and splitbrain's Raft.

Under ``partition-leader`` the majority elects a new leader and the isolated old
leader can't serve a linearizable read; after the heal every node converges. A
member remove/add round trip goes through the system's own API. Needs root.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest
from backend_checks import require

from splitbrain.errors import ClientError
from splitbrain.history.ops import Op
from splitbrain.nemesis import build_nemesis, heal_nodes
from splitbrain.nemesis.partition import our_rules

pytestmark = [pytest.mark.root, pytest.mark.slow]


def wait_until(pred, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = pred()
        except Exception:  # noqa: BLE001 - the cluster is settling
            v = None
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def read_on(system, node, key):
    c = system.client(node)
    try:
        return c.read(key)
    finally:
        c.close()


def write_on(system, node, key, value) -> None:
    c = system.client(node)
    try:
        c.write(key, value)
    finally:
        c.close()


@pytest.fixture(scope="module", params=["etcd", "raft"])
def cluster(request):
    require("root")
    if request.param == "etcd" and shutil.which("etcd") is None:
        why = "etcd is not installed (apt-get install etcd-server)"
        if os.environ.get("SPLITBRAIN_REQUIRE_DOCKER") == "1":
            pytest.fail(f"SPLITBRAIN_REQUIRE_DOCKER=1 but {why}")
        pytest.skip(why)
    from splitbrain.clusters.backends.netns import NetnsBackend
    from splitbrain.clusters.systems import get_system
    test = f"pytest-nem-{request.param}"
    backend = NetnsBackend()
    nodes = backend.create(test, 3)
    cls = get_system(request.param)
    system = cls(nodes, cls.parse_options({"timeout": "2"}), test)
    try:
        system.setup()
        yield system, nodes
    finally:
        try:
            heal_nodes(nodes)
            system.teardown()
        finally:
            backend.destroy(test)


def make(system, nodes, tmp_path, faults):
    ops: list[Op] = []
    nem = build_nemesis(faults, system=system, nodes=nodes, interval=5, targets="one", seed=11,
                        record=lambda op: ops.append(op) or op,
                        journal_path=tmp_path / "faults.journal",
                        options={"backend": "netns", "test": system.test_name})
    return nem, ops


def test_partition_leader_elects_a_new_leader_on_the_majority_side(cluster, tmp_path):
    system, nodes = cluster
    wait_until(system.leader, "a leader")
    nem, ops = make(system, nodes, tmp_path, ["partition-leader"])
    from splitbrain.nemesis.schedule import plan_step
    nem.start(plan_step(nem.faults, nem.ctx.names, nem.seed, 0))
    try:
        assert ops[-2].value["leader"] is not None, "the live leader was asked for"
        old = system.node(ops[-2].value["leader"])
        grudge = ops[-1].value
        assert grudge[old.name] == sorted(n.name for n in nodes if n is not old)
        majority = [n for n in nodes if n is not old]
        new = wait_until(lambda: (ld := system.leader()) is not None and ld is not old and ld,
                         "a new leader on the majority side")
        assert new in majority
        # the majority serves; the isolated old leader can't serve a linearizable read
        wait_until(lambda: write_on(system, new, "nem-k", "during") or True, "a majority write")
        assert read_on(system, majority[0], "nem-k") == "during"
        with pytest.raises(ClientError):
            read_on(system, old, "nem-k")
    finally:
        nem.heal()
    assert all(our_rules(n) == [] for n in nodes)
    # the old leader rejoins (it may force an election): retry the write until it lands
    wait_until(lambda: write_on(system, system.leader(), "nem-k2", "after") or True,
               "a write after heal")
    for n in nodes:
        wait_until(lambda n=n: read_on(system, n, "nem-k2") == "after"
                   and read_on(system, n, "nem-k") == "during", f"{n.name} to converge")


def test_member_remove_and_add_back_wiped(cluster, tmp_path):
    system, nodes = cluster
    leader = wait_until(system.leader, "a leader")
    victim = next(n for n in nodes if n is not leader)
    write_on(system, leader, "nem-m", "before")
    nem, ops = make(system, nodes, tmp_path, ["member"])
    nem.start({"fault": "member", "choice": {"target": victim.name, "fallback": victim.name}})
    try:
        assert ops[-1].f == "start-member" and ops[-1].value["removed"] == victim.name
        assert ops[-1].error is None
        assert victim.name not in system.members()
        assert not system.is_running(victim)
        wait_until(lambda: write_on(system, system.leader(), "nem-m", "removed") or True,
                   "a write to the two remaining members")
    finally:
        nem.heal()
    assert ops[-1].f == "stop-member" and ops[-1].value["added"] == victim.name
    wait_until(lambda: victim.name in system.members(), f"{victim.name} to be a member again")
    assert system.is_running(victim)
    system.wait_healthy()
    wait_until(lambda: read_on(system, victim, "nem-m") == "removed",
               f"the wiped {victim.name} to catch up")


def test_kill_leader_then_restart_and_pause_resume_seen_by_the_system(cluster, tmp_path):
    system, nodes = cluster
    wait_until(system.leader, "a leader")
    nem, ops = make(system, nodes, tmp_path, ["kill"])
    nem.ctx.targets = "leader"
    nem.start({"fault": "kill", "choice": {"targets": "leader", "fallback": "n1"}})
    try:
        old = system.node(ops[-1].value["nodes"][0])
        assert ops[-2].value["leader"] == old.name
        assert not system.is_running(old)
        new = wait_until(lambda: (ld := system.leader()) is not None and ld is not old and ld,
                         "a new leader after the kill")
        assert new is not old
    finally:
        nem.heal()
    assert system.is_running(old) and ops[-1].value == {"nodes": [old.name]}
    system.wait_healthy()

    follower = next(n for n in nodes if n is not wait_until(system.leader, "a leader"))
    nem, ops = make(system, nodes, tmp_path, ["pause"])
    nem.start({"fault": "pause", "choice": {"targets": [follower.name], "fallback": "n1"}})
    try:
        pid = follower.daemon_pid(system.daemon)
        state = follower.exec(["sh", "-c", f"awk '/^State:/ {{print $2}}' /proc/{pid}/status"])
        assert state.stdout.strip() == "T"
        with pytest.raises(ClientError):
            read_on(system, follower, "nem-k")     # a stopped daemon answers nothing
        assert wait_until(system.leader, "the others to keep a leader") is not follower
    finally:
        nem.heal()
    wait_until(lambda: read_on(system, follower, "nem-p") is None, f"{follower.name} to answer")
    system.wait_healthy()


def test_clock_fault_is_refused_for_go_systems_and_skews_raft(cluster, tmp_path):
    """etcd (Go: libfaketime can't reach it) refuses the clock fault with one line;
    raft (CPython reads time through libc) restarts under libfaketime and stays healthy."""
    system, nodes = cluster
    from splitbrain.errors import HarnessError
    if system.name != "raft":
        with pytest.raises(HarnessError, match="can't be given a skewed clock"):
            make(system, nodes, tmp_path, ["clock"])
        return
    from splitbrain.nemesis.clock import daemon_has_faketime, find_libfaketime
    if find_libfaketime(nodes[0]) is None:
        why = "the clock fault needs libfaketime: apt-get install faketime"
        if os.environ.get("SPLITBRAIN_REQUIRE_DOCKER") == "1":
            pytest.fail(f"SPLITBRAIN_REQUIRE_DOCKER=1 but {why}")
        pytest.skip(why)
    assert "clock" in system.supports
    nem, ops = make(system, nodes, tmp_path, ["clock"])
    try:
        assert all(daemon_has_faketime(n, system.daemon) for n in nodes)
        nem.start({"fault": "clock", "choice": {"mode": "bump", "targets": ["n1"],
                                                "fallback": "n1", "offset_s": 120.0}})
        assert ops[-1].f == "start-clock" and ops[-1].value["mode"] == "bump" and ops[-1].error is None
        assert nodes[0].exec(["cat", f"{nodes[0].work_dir}/faketime"]).stdout.strip() == "+120"
        wait_until(lambda: write_on(system, system.leader(), "nem-c", 1) or True,
                   "a write with n1's clock two minutes ahead")
    finally:
        nem.heal()
    assert nodes[0].exec(["cat", f"{nodes[0].work_dir}/faketime"]).stdout.strip() == "+0"
    system.kill(nodes[1])
    system.start(nodes[1])                   # a restart by the system keeps libfaketime
    assert daemon_has_faketime(nodes[1], system.daemon)
    system.wait_healthy()

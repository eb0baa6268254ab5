"""The docker backend for real: containers of the node image on a private network."""

from __future__ import annotations

import os
import shutil

import pytest
from backend_checks import (
    check_daemon_signals,
    check_exec,
    check_files,
    check_reachability,
    require,
    run,
)

from splitbrain.errors import HarnessError

pytestmark = [pytest.mark.docker, pytest.mark.slow]
TEST = "pytest-docker-backend"


@pytest.fixture(scope="module")
def backend():
    require("docker")
    from splitbrain.clusters.backends.docker import DockerBackend
    b = DockerBackend(progress=lambda s: print(s, flush=True))
    yield b
    b.destroy(TEST)


@pytest.fixture(scope="module")
def nodes(backend):
    ns = backend.create(TEST, 3)
    yield ns
    backend.destroy(TEST)


def _names(client, kind: str) -> set[str]:
    if kind == "containers":
        return {c.name for c in client.containers.list(all=True)}
    return {n.name for n in client.networks.list()}


def test_nodes_are_labelled_containers_on_a_private_network(backend, nodes):
    client = backend.client
    assert {f"splitbrain-{TEST}-n{i}" for i in (1, 2, 3)} <= _names(client, "containers")
    assert f"splitbrain-{TEST}" in _names(client, "networks")
    for n in nodes:
        c = client.containers.get(n.container_id)
        assert c.labels["splitbrain"] == "1" and c.labels["splitbrain.test"] == TEST
        assert "NET_ADMIN" in c.attrs["HostConfig"]["CapAdd"]
        assert n.exec(["hostname"]).stdout.strip() == n.name
        assert n.work_dir == "/var/lib/splitbrain"


def test_exec(nodes):
    check_exec(nodes)


def test_nodes_reach_each_other(nodes):
    check_reachability(nodes)
    # names resolve inside the network too (n2 -> n1 by its name)
    r = nodes[1].exec(["getent", "hosts", "n1"])
    assert r.stdout.split()[0] == nodes[0].address


def test_daemon_signals(nodes):
    check_daemon_signals(nodes[1])


def test_files(nodes, tmp_path):
    check_files(nodes[2], tmp_path)


def test_iptables_works_inside_a_container_and_stays_there(nodes):
    a, b = nodes[0], nodes[1]
    a.exec(["iptables", "-w", "-A", "INPUT", "-s", b.address, "-j", "DROP"])
    try:
        assert b.address in a.exec(["iptables", "-w", "-S", "INPUT"]).stdout
        assert b.address not in b.exec(["iptables", "-w", "-S", "INPUT"]).stdout
        r = b.exec(["ping", "-c", "1", "-W", "1", a.address], check=False, timeout=10)
        assert r.rc != 0
    finally:
        a.exec(["iptables", "-w", "-F", "INPUT"])
    assert b.exec(["ping", "-c", "1", "-W", "2", a.address], check=False, timeout=10).rc == 0


def test_node_image_has_the_tools(nodes):
    n = nodes[0]
    for binary in ("iptables", "ip", "tc", "ps", "python3", "sshd", "etcd", "etcdctl",
                   "faketime", "java"):
        assert n.exec(["sh", "-c", f"command -v {binary} || test -x /usr/sbin/{binary}"],
                      check=False).rc == 0, binary
    assert n.exec(["test", "-d", "/usr/share/zookeeper"], check=False).rc == 0


def test_attach_finds_the_same_nodes(backend, nodes):
    again = backend.attach(TEST)
    assert [(n.name, n.address) for n in again] == [(n.name, n.address) for n in nodes]
    with pytest.raises(HarnessError, match="no docker cluster"):
        backend.attach("pytest-no-such-cluster")


def test_destroy_leaves_nothing(backend):
    other = "pytest-docker-destroy"
    ns = backend.create(other, 2)
    assert len(ns) == 2
    client = backend.client
    bridge = "br-" + client.networks.get(f"splitbrain-{other}").id[:12]
    can_see_rules = os.geteuid() == 0 and shutil.which("iptables") is not None
    if can_see_rules:
        assert bridge in run(["iptables", "-w", "-S"]) + run(["iptables", "-w", "-t", "nat", "-S"])
    backend.destroy(other)
    if can_see_rules:   # docker's own rules for the network went with it
        assert bridge not in run(["iptables", "-w", "-S"]) + run(["iptables", "-w", "-t", "nat", "-S"])
    assert bridge not in run(["ip", "-o", "link"])
    assert not [c for c in _names(client, "containers") if c.startswith(f"splitbrain-{other}-")]
    assert f"splitbrain-{other}" not in _names(client, "networks")
    assert not client.containers.list(all=True, filters={"label": f"splitbrain.test={other}"})


def test_destroy_removes_only_what_its_claim_or_no_claim_made(backend):
    """Containers carry their claim's id; destroy refuses a live claim's cluster of the
    same name and removes one whose owner is dead."""
    import subprocess
    import sys

    from splitbrain.clusters.backends.docker import DockerBackend
    from splitbrain.clusters.ownership import Claim
    name = "pytest-docker-owned"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        claim = Claim(backend="docker", name=name)
        claim.take()
        first = DockerBackend()
        first.claim = claim
        first.create(name, 1)
        labels = first.client.containers.get(f"splitbrain-{name}-n1").labels
        assert labels["splitbrain.owner"] == claim.id
        assert ["container", f"splitbrain-{name}-n1"] in claim.made
        from splitbrain.clusters.ownership import proc_start
        claim.owner = {"pid": holder.pid, "start": proc_start(holder.pid)}   # live, not us
        claim.save()
        with pytest.raises(HarnessError, match="is a live"):
            DockerBackend().destroy(name)
        assert first.client.containers.get(f"splitbrain-{name}-n1").status == "running"
        holder.kill()
        holder.wait()
        DockerBackend().destroy(name)                       # its owner is dead now
        assert not first.client.containers.list(all=True,
                                                filters={"label": f"splitbrain.test={name}"})
    finally:
        holder.kill()
        holder.wait()
        DockerBackend().destroy(name)


def test_bad_test_name_is_a_one_line_error(backend):
    with pytest.raises(HarnessError, match="bad test name"):
        backend.create("no spaces please", 1)

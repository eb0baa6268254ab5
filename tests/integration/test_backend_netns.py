"""The netns backend for real: network namespaces on a bridge of this host (root only)."""

from __future__ import annotations

import os
import subprocess

import pytest
from backend_checks import (
    check_daemon_signals,
    check_exec,
    check_files,
    check_reachability,
    require,
    run,
    tcp_open,
    wait_for,
)

from splitbrain.errors import HarnessError

pytestmark = [pytest.mark.root, pytest.mark.slow]
TEST = "pytest-netns-backend"


@pytest.fixture(scope="module")
def backend():
    require("root")
    from splitbrain.clusters.backends.netns import NetnsBackend
    b = NetnsBackend()
    yield b
    b.destroy(TEST)


@pytest.fixture(scope="module")
def nodes(backend):
    ns = backend.create(TEST, 3)
    yield ns
    backend.destroy(TEST)


def test_one_namespace_per_node_on_a_private_subnet(nodes):
    from splitbrain.clusters.backends.netns import bridge_name, list_netns
    assert {f"sb-{TEST}-n{i}" for i in (1, 2, 3)} <= set(list_netns())
    assert bridge_name(TEST) in run(["ip", "-o", "link", "show", "type", "bridge"])
    prefixes = {n.address.rsplit(".", 1)[0] for n in nodes}
    assert len(prefixes) == 1 and nodes[0].address.startswith("10.")
    for n in nodes:
        assert n.work_dir.endswith(f"/{TEST}/{n.name}") and os.path.isdir(n.work_dir)
        # only the node's own /24 is routed: no default route out of the namespace
        routes = n.exec(["ip", "-4", "route"]).stdout
        assert "default" not in routes
        assert n.exec(["ip", "-br", "link", "show", "lo"]).stdout.split()[1] == "UNKNOWN"


def test_exec(nodes):
    check_exec(nodes)


def test_nodes_reach_each_other(nodes):
    check_reachability(nodes)
    assert nodes[1].exec(["getent", "hosts", "n1"]).stdout.split()[0] == nodes[0].address


def test_daemon_signals(nodes):
    check_daemon_signals(nodes[0])


def test_files(nodes, tmp_path):
    check_files(nodes[1], tmp_path)


def test_iptables_in_a_namespace_affects_only_that_node(nodes):
    a, b, c = nodes
    host_before = run(["iptables", "-w", "-S", "INPUT"])
    a.start_daemon("listener", ["python3", "-m", "http.server", "8124", "--bind", "0.0.0.0"],
                   cwd=a.work_dir)
    try:
        wait_for(lambda: tcp_open(b, a.address, 8124), what="listener on n1")
        a.exec(["iptables", "-w", "-A", "INPUT", "-s", b.address, "-j", "DROP"])
        try:
            assert b.address in a.exec(["iptables", "-w", "-S", "INPUT"]).stdout
            assert run(["iptables", "-w", "-S", "INPUT"]) == host_before
            assert b.address not in b.exec(["iptables", "-w", "-S", "INPUT"]).stdout
            assert not tcp_open(b, a.address, 8124)
            assert tcp_open(c, a.address, 8124)
        finally:
            a.exec(["iptables", "-w", "-F", "INPUT"])
        assert tcp_open(b, a.address, 8124)
    finally:
        a.stop_daemon("listener")


def test_attach_finds_the_same_nodes(backend, nodes):
    again = backend.attach(TEST)
    assert [(n.name, n.address) for n in again] == [(n.name, n.address) for n in nodes]
    with pytest.raises(HarnessError, match="no netns cluster"):
        backend.attach("pytest-no-such-netns")


def test_destroy_kills_processes_and_leaves_nothing(backend):
    from splitbrain.clusters.backends.netns import (
        STATE_ROOT,
        bridge_name,
        list_links,
        list_netns,
        veth_name,
    )
    other = "pytest-netns-destroy"
    ns = backend.create(other, 2)
    ns[0].start_daemon("sleeper", ["sleep", "300"])
    pid = ns[0].daemon_pid("sleeper")
    assert pid is not None and os.path.exists(f"/proc/{pid}")
    backend.destroy(other)
    assert not os.path.exists(f"/proc/{pid}") or \
        open(f"/proc/{pid}/status").read().find("State:\tZ") >= 0
    assert not [n for n in list_netns() if n.startswith(f"sb-{other}-")]
    links = list_links()
    assert bridge_name(other) not in links
    assert not [x for x in links if x.startswith(veth_name(other, ""))]
    assert f"splitbrain:{other}" not in run(["iptables", "-w", "-S", "FORWARD"])
    assert not os.path.exists(os.path.join(STATE_ROOT, other))
    assert not os.path.exists(f"/etc/netns/sb-{other}-n1")


def test_long_test_names_keep_interface_names_short(backend):
    from splitbrain.clusters.backends.netns import bridge_name, veth_name
    long_name = "pytest-" + "x" * 40
    ns = backend.create(long_name, 1)
    try:
        assert len(bridge_name(long_name)) <= 15 and len(veth_name(long_name, "n1")) <= 15
        assert ns[0].exec(["true"]).rc == 0
    finally:
        backend.destroy(long_name)


def test_create_refuses_a_namespace_it_did_not_make_and_leaves_it(backend):
    """A namespace with the very name a node would get, made by someone else, is
    refused and survives: splitbrain has no record of making it."""
    from splitbrain.clusters.backends.netns import list_netns, netns_name
    name = "pytest-netns-foreign"
    foreign = netns_name(name, "n1")
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    try:
        with pytest.raises(HarnessError, match="no record of making them"):
            backend.create(name, 2)
        assert foreign in list_netns()
        backend.destroy(name)
        assert foreign in list_netns()
    finally:
        subprocess.run(["ip", "netns", "delete", foreign], check=False)


def test_destroy_removes_its_own_forward_rule_only(backend):
    """The FORWARD rule of test 'x' is found by its exact comment, not by prefix: the
    rule of 'x-more' (another test) stays."""
    name, other = "pytest-netns-fw", "pytest-netns-fw-more"
    rule = ["FORWARD", "-i", "lo", "-o", "lo", "-m", "comment", "--comment",
            f"splitbrain:{other}", "-j", "ACCEPT"]
    subprocess.run(["iptables", "-w", "-I", *rule], check=True)
    try:
        backend.create(name, 1)
        backend.destroy(name)
        rules = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True,
                               text=True).stdout
        assert f"splitbrain:{other}" in rules
        assert f"splitbrain:{name} " not in rules and f'splitbrain:{name}"' not in rules
    finally:
        subprocess.run(["iptables", "-w", "-D", *rule], check=False)

"""The nemesis in Docker containers: each container has its own netfilter tables, so a
grudge is applied inside every receiving container. Needs a Docker engine (and the
node image, built on first use)."""

from __future__ import annotations

import json
import textwrap

import pytest
from backend_checks import require
from cluster_checks import wait_until

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import Client, System
from splitbrain.errors import HarnessError
from splitbrain.harness.recovery import recover_journals
from splitbrain.history.ops import Op
from splitbrain.nemesis import build_nemesis, heal_nodes
from splitbrain.nemesis.journal import read_entries, unhealed
from splitbrain.nemesis.packet import detect_netem
from splitbrain.nemesis.partition import our_rules
from splitbrain.nemesis.schedule import plan_step

pytestmark = [pytest.mark.docker, pytest.mark.slow]
TEST = "pytest-nemesis-docker"
PORT = 7411
SERVER = textwrap.dedent(f"""
    import socket
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", {PORT}))
    s.listen(64)
    while True:
        c, _ = s.accept()
        c.sendall(b"hi")
        c.close()
""")
PROBE = ("import socket,sys\n"
         "c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)\n"
         "assert c.recv(2) == b'hi'\n")


class TcpServerSystem(System):
    """A real daemon to break: a tiny TCP server in every container."""

    name = "tcpserver"
    daemon = "tcpserver"

    def start(self, node: Node) -> None:
        node.start_daemon(self.daemon, ["python3", "-I", "-S", "-c", SERVER])

    def client(self, node: Node) -> Client:  # pragma: no cover - the tests probe by TCP
        raise NotImplementedError


def reaches(src: Node, dst: Node) -> bool:
    return src.exec(["python3", "-I", "-S", "-c", PROBE, dst.address, str(PORT)],
                    check=False, timeout=10).rc == 0



@pytest.fixture(scope="module")
def cluster():
    require("docker")
    from splitbrain.clusters.backends.docker import DockerBackend
    backend = DockerBackend(progress=lambda m: None)
    nodes = backend.create(TEST, 3)
    system = TcpServerSystem(nodes, {}, TEST)
    try:
        for n in nodes:
            system.start(n)
        for a in nodes:
            for b in nodes:
                if a is not b:
                    wait_until(lambda a=a, b=b: reaches(a, b), f"{a.name} -> {b.name}")
        yield system, nodes
    finally:
        backend.destroy(TEST)


def test_partition_halves_in_containers(cluster, tmp_path):
    system, nodes = cluster
    ops: list[Op] = []
    nem = build_nemesis(["partition-halves"], system=system, nodes=nodes, interval=1,
                        targets="one", seed=5, record=lambda op: ops.append(op) or op,
                        journal_path=tmp_path / "faults.journal")
    nem.start(plan_step(nem.faults, nem.ctx.names, nem.seed, 0))
    grudge = ops[-1].value
    try:
        by = {n.name: n for n in nodes}
        for a, dropped in grudge.items():
            for b in by:
                if b == a:
                    continue
                assert reaches(by[b], by[a]) is (b not in dropped), (a, b, grudge)
        assert read_entries(tmp_path / "faults.journal")[0]["backend"] == "docker"
    finally:
        nem.heal()
    assert all(our_rules(n) == [] for n in nodes)
    wait_until(lambda: all(reaches(a, b) for a in nodes for b in nodes if a is not b),
               "every link back")


def test_netem_answer_and_journal_recovery_through_the_docker_registry(cluster, tmp_path):
    system, nodes = cluster
    has, why = detect_netem(nodes[0])
    assert isinstance(has, bool) and why
    if not has:
        with pytest.raises(HarnessError, match="netem is not available"):
            build_nemesis(["netem"], system=system, nodes=nodes, interval=1, targets="one",
                          seed=1, record=lambda op: op, journal_path=tmp_path / "j")
    # a fault journaled by a process that is gone, healed through get_backend("docker")
    nem = build_nemesis(["partition-one"], system=system, nodes=nodes, interval=1,
                        targets="one", seed=2, record=lambda op: op,
                        journal_path=tmp_path / "store" / "run" / "faults.journal",
                        options={"backend": "docker", "test": TEST})
    nem.start(plan_step(nem.faults, nem.ctx.names, nem.seed, 0))
    assert any(our_rules(n) for n in nodes)
    journal = tmp_path / "store" / "run" / "faults.journal"
    lines = journal.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["pid"], entry["pid_start"] = 999999999, "gone"       # as if its writer was killed
    journal.write_text(json.dumps(entry) + "\n")
    nem._active.clear()                                         # this process forgets it
    report = recover_journals(tmp_path / "store")
    assert len(report) == 1 and "healed" in report[0], report
    assert all(our_rules(n) == [] for n in nodes)
    assert unhealed(read_entries(journal)) == []
    assert heal_nodes(nodes) == []

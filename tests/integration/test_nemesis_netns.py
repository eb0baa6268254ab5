"""The nemesis on real nodes: network namespaces of the netns backend, real iptables,
real processes. Needs root; skipped without it unless SPLITBRAIN_REQUIRE_DOCKER=1.

Every rule is made inside namespaces this module creates; the host's own
netfilter tables are never touched by the nemesis.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cluster_checks as checks
import pytest
from backend_checks import require

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import Client, System
from splitbrain.errors import HarnessError
from splitbrain.harness.recovery import recover_journals
from splitbrain.history.ops import Op
from splitbrain.nemesis import build_nemesis, heal_nodes
from splitbrain.nemesis import grudge as G
from splitbrain.nemesis.journal import read_entries, unhealed
from splitbrain.nemesis.packet import detect_netem
from splitbrain.nemesis.partition import our_rules

pytestmark = [pytest.mark.root, pytest.mark.slow]
TEST = "pytest-nemesis"
PORT = 7401
PY = sys.executable

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
    """A real daemon to break: a tiny TCP server on every node (the nemesis is under test)."""

    name = "tcpserver"
    daemon = "tcpserver"
    supports = frozenset({"kill", "pause"})

    def start(self, node: Node) -> None:
        node.start_daemon(self.daemon, [PY, "-I", "-S", "-c", SERVER])

    def client(self, node: Node) -> Client:  # pragma: no cover - the tests probe by TCP
        raise NotImplementedError


def reaches(src: Node, dst: Node) -> bool:
    """A real TCP connection from ``src`` to ``dst``'s server succeeds."""
    return src.exec([PY, "-I", "-S", "-c", PROBE, dst.address, str(PORT)], check=False, timeout=10).rc == 0


def wait_until(pred, what: str, timeout: float = 20.0) -> None:
    checks.wait_until(pred, what, timeout)


def proc_state(node: Node, pid: int) -> str:
    r = node.exec(["sh", "-c", f"awk '/^State:/ {{print $2}}' /proc/{pid}/status"], check=False)
    return r.stdout.strip()


@pytest.fixture(scope="module")
def cluster():
    require("root")
    from splitbrain.clusters.backends.netns import NetnsBackend
    backend = NetnsBackend()
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
        heal_nodes(nodes)
        backend.destroy(TEST)


@pytest.fixture
def make(cluster, tmp_path):
    system, nodes = cluster
    ops: list[Op] = []

    def build(faults: list[str], targets: str = "one", **opts: str):
        return build_nemesis(faults, system=system, nodes=nodes, interval=1.0, targets=targets,
                             seed=7, record=lambda op: ops.append(op) or op,
                             journal_path=tmp_path / "faults.journal",
                             options={"backend": "netns", "test": TEST, **opts})
    yield build, ops
    heal_nodes(nodes)
    for n in nodes:
        if not system.is_running(n):
            system.start(n)


def test_partition_really_drops_traffic_and_heal_restores_it(cluster, make, tmp_path):
    system, nodes = cluster
    n1, n2, n3 = nodes
    build, ops = make
    nem = build(["partition-one"])
    grudge = G.isolate([n.name for n in nodes], "n2")
    nem.start({"fault": "partition-one",
               "choice": {"kind": "partition-one", "nodes": ["n2"], "grudge": grudge}})
    assert ops[-1].type == "info" and ops[-1].value == grudge
    assert not reaches(n1, n2) and not reaches(n2, n1)
    assert not reaches(n3, n2) and not reaches(n2, n3)
    assert reaches(n1, n3) and reaches(n3, n1)
    rules = our_rules(n2)
    assert any(f"-s {n1.address}/32" in r and "DROP" in r for r in rules)
    assert any("-j SPLITBRAIN" in r for r in rules)
    # the journal says what is applied, with addresses, until it is healed
    entries = read_entries(tmp_path / "faults.journal")
    assert unhealed(entries)[0]["detail"]["grudge"] == grudge
    assert entries[0]["nodes"] == {n.name: n.address for n in nodes}

    nem.heal()
    for n in nodes:
        assert our_rules(n) == [], n.name
    wait_until(lambda: reaches(n1, n2) and reaches(n2, n3), "traffic to come back")
    assert unhealed(read_entries(tmp_path / "faults.journal")) == []
    assert [o.f for o in ops] == ["start-partition"] * 2 + ["stop-partition"] * 2


def test_explicit_asymmetric_grudge_from_a_file(cluster, make, tmp_path):
    _system, nodes = cluster
    n1, n2, n3 = nodes
    f = tmp_path / "grudge.toml"
    f.write_text('[grudge]\nn1 = ["n3"]\n')        # n1 drops n3's packets, nothing else
    build, _ops = make
    nem = build(["partition-grudge"], grudge_file=str(f))
    step = {"fault": "partition-grudge", "choice": nem.faults["partition-grudge"].choose(
        __import__("random").Random(1), ["n1", "n2", "n3"])}
    nem.start(step)
    assert not reaches(n3, n1)
    assert reaches(n1, n2) and reaches(n3, n2) and reaches(n2, n1)
    assert our_rules(n2) == [] and our_rules(n3) == []
    nem.heal()
    wait_until(lambda: reaches(n3, n1), "n3 -> n1 after heal")


def test_packet_loss_rule_present_then_gone(cluster, make):
    _system, nodes = cluster
    build, ops = make
    nem = build(["packet-loss"], targets="all", loss="0.35")
    nem.start(nem_plan(nem))
    for n in nodes:
        rules = our_rules(n)
        others = [m for m in nodes if m is not n]
        for m in others:
            assert any(f"-s {m.address}/32" in r and "--probability 0.35" in r
                       and "statistic" in r for r in rules), (n.name, rules)
    assert ops[-1].value == {"nodes": ["n1", "n2", "n3"], "probability": 0.35}
    nem.heal()
    assert all(our_rules(n) == [] for n in nodes)


def nem_plan(nem, i: int = 0) -> dict:
    from splitbrain.nemesis.schedule import plan_step
    return plan_step(nem.faults, nem.ctx.names, nem.seed, i)


def test_pause_stops_the_process_and_heal_resumes_it(cluster, make):
    system, nodes = cluster
    build, ops = make
    nem = build(["pause"], targets="all")
    pids = {n.name: n.daemon_pid(system.daemon) for n in nodes}
    assert all(pids.values())
    nem.start(nem_plan(nem))
    for n in nodes:
        assert proc_state(n, pids[n.name]) == "T", n.name
    assert not reaches(nodes[0], nodes[1])          # a stopped server accepts but never answers
    assert ops[-1].value == {"nodes": ["n1", "n2", "n3"], "signal": "SIGSTOP"}
    nem.heal()
    for n in nodes:
        assert proc_state(n, pids[n.name]) in ("S", "R"), n.name
    wait_until(lambda: reaches(nodes[0], nodes[1]), "the resumed server to answer")


def test_kill_then_restart(cluster, make):
    system, nodes = cluster
    build, ops = make
    nem = build(["kill"], targets="one")
    step = nem_plan(nem)
    victim = system.node(step["choice"]["targets"][0])
    old = victim.daemon_pid(system.daemon)
    nem.start(step)
    wait_until(lambda: not system.is_running(victim), "the daemon to die")
    assert proc_state(victim, old) in ("", "Z")
    nem.heal()
    new = victim.daemon_pid(system.daemon)
    assert new is not None and new != old
    other = next(n for n in nodes if n is not victim)
    wait_until(lambda: reaches(other, victim), "the restarted server")
    assert [o.f for o in ops] == ["kill", "kill", "start", "start"]
    assert ops[-1].value == {"nodes": [victim.name]}


def test_netem_detection_gives_a_definite_answer(cluster, make):
    _system, nodes = cluster
    build, _ops = make
    has, why = detect_netem(nodes[0])
    assert isinstance(has, bool) and why
    print(f"netem on this kernel: {has} ({why})")
    if not has:
        with pytest.raises(HarnessError, match="netem is not available"):
            build(["netem"])
        return
    nem = build(["netem"], targets="one")
    step = nem_plan(nem)
    nem.start(step)
    target = nem.ctx.node(step["choice"]["targets"][0])
    assert "netem" in target.exec(["tc", "qdisc", "show", "dev", "eth0"]).stdout
    nem.heal()
    assert "netem" not in target.exec(["tc", "qdisc", "show", "dev", "eth0"]).stdout


HARNESS = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    from splitbrain.clusters.backends import get_backend
    sys.path.insert(0, sys.argv[2])
    from test_nemesis_netns import TcpServerSystem
    from splitbrain.nemesis import build_nemesis
    nodes = get_backend("netns").attach(sys.argv[1])
    system = TcpServerSystem(nodes, {}, sys.argv[1])
    nem = build_nemesis(["partition-halves"], system=system, nodes=nodes, interval=600,
                        targets="one", seed=3, record=lambda op: op,
                        journal_path=Path(sys.argv[3]), options={"backend": "netns",
                        "test": sys.argv[1]})
    threading.Thread(target=nem.run, args=(threading.Event(),), daemon=True).start()
    while nem.current() is None:
        time.sleep(0.05)
    print("applied", nem.current(), flush=True)
    time.sleep(600)
""")


def test_sigkill_during_a_partition_then_cluster_heal_leaves_no_rule(cluster, tmp_path):
    _system, nodes = cluster
    journal = tmp_path / "store" / TEST / "20260101T000000" / "faults.journal"
    script = tmp_path / "harness.py"
    script.write_text(HARNESS)
    proc = subprocess.Popen([PY, str(script), TEST, str(Path(__file__).parent), str(journal)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("applied"), proc.stderr.read() if proc.poll() is not None else line
        assert sum(1 for n in nodes if our_rules(n)) == 3    # halves: every node drops someone
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(unhealed(read_entries(journal))) == 1
    assert any(our_rules(n) for n in nodes)                 # the killed run left its rules
    r = subprocess.run([PY, "-c", "import sys; from splitbrain.cli import main; "
                                  "sys.exit(main(sys.argv[1:]))",
                        "cluster", "heal", "--store", str(tmp_path / "store")],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert "healed" in r.stdout and "partition-halves" in r.stdout, r.stdout
    for n in nodes:
        assert our_rules(n) == [], n.name
        assert "SPLITBRAIN" not in n.exec(["iptables", "-S"]).stdout
    assert unhealed(read_entries(journal)) == []
    assert recover_journals(tmp_path / "store") == []      # nothing left for the next start
    wait_until(lambda: reaches(nodes[0], nodes[1]) and reaches(nodes[1], nodes[2]),
               "traffic after the heal")
    assert json.loads(journal.read_text().splitlines()[-1])["recovered"] is True


def test_mixed_overlaps_real_faults_and_heals_every_one(cluster, make, tmp_path):
    """Partitions, kills and pauses at once on real namespaces, at sub-second intervals;
    stopping the program heals them all (rules gone, daemons running, journal closed)."""
    import threading
    import time

    system, nodes = cluster
    build, ops = make
    nem = build(["mixed"])
    nem.interval = nem.program.interval = 0.3
    stop = threading.Event()
    t = threading.Thread(target=nem.run, args=(stop,), daemon=True)
    t.start()
    seen_overlap = False
    end = time.monotonic() + 8
    while time.monotonic() < end and not seen_overlap:
        act = nem.active()
        names = {name for _k, name, _d in act}
        if "partition" in names and names & {"kill", "pause"}:
            # both really in force: our rules on some node, and a daemon stopped or dead
            hit = next(d["nodes"][0] for _k, name, d in act if name in ("kill", "pause"))
            node = system.node(hit)
            pid = node.daemon_pid(system.daemon)
            rules = [n.name for n in nodes if our_rules(n)]
            if nem.active() == act:           # nothing moved while we looked
                assert rules, act
                assert pid is None or proc_state(node, pid) in ("T", "t", "Z", ""), act
                seen_overlap = True
        time.sleep(0.02)
    stop.set()
    t.join(timeout=60)
    assert seen_overlap
    assert nem.active() == []
    for n in nodes:
        assert our_rules(n) == [], n.name
        pid = n.daemon_pid(system.daemon)
        assert pid is not None and proc_state(n, pid) in ("S", "R"), n.name
    assert unhealed(read_entries(tmp_path / "faults.journal")) == []
    assert ops and all(o.process == "nemesis" for o in ops)


MIXED_HARNESS = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from splitbrain.clusters.backends import get_backend
    sys.path.insert(0, sys.argv[2])
    from test_nemesis_netns import TcpServerSystem
    from splitbrain.nemesis import build_nemesis
    from splitbrain.nemesis import grudge as G
    nodes = get_backend("netns").attach(sys.argv[1])
    system = TcpServerSystem(nodes, {}, sys.argv[1])
    nem = build_nemesis(["mixed"], system=system, nodes=nodes, interval=600, targets="one",
                        seed=2, record=lambda op: op, journal_path=Path(sys.argv[3]),
                        options={"backend": "netns", "test": sys.argv[1],
                                 "mix": "partition,pause"})
    names = [n.name for n in nodes]
    nem.apply(nem.faults["partition"], {"kind": "partition-one", "nodes": ["n1"],
                                        "grudge": G.isolate(names, "n1")})
    nem.apply(nem.faults["pause"], {"targets": ["n2"], "fallback": "n2"})
    print("applied", nem.current(), flush=True)
    time.sleep(600)
""")


def test_sigkill_with_two_faults_active_then_cluster_heal_heals_both(cluster, tmp_path):
    """A run killed while a partition and a pause are both in force: the journal holds
    both, and ``cluster heal`` removes the rules and resumes the paused daemon."""
    system, nodes = cluster
    journal = tmp_path / "store" / TEST / "20260101T000000" / "faults.journal"
    script = tmp_path / "harness.py"
    script.write_text(MIXED_HARNESS)
    proc = subprocess.Popen([PY, str(script), TEST, str(Path(__file__).parent), str(journal)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("applied"), proc.stderr.read() if proc.poll() is not None else line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    open_faults = unhealed(read_entries(journal))
    assert sorted(e["fault"] for e in open_faults) == ["partition", "pause"]
    paused = system.node(next(e for e in open_faults if e["fault"] == "pause")["detail"]["nodes"][0])
    assert proc_state(paused, paused.daemon_pid(system.daemon)) == "T"
    r = subprocess.run([PY, "-c", "import sys; from splitbrain.cli import main; "
                                  "sys.exit(main(sys.argv[1:]))",
                        "cluster", "heal", "--store", str(tmp_path / "store")],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert unhealed(read_entries(journal)) == []
    for n in nodes:
        assert our_rules(n) == [], n.name
    assert proc_state(paused, paused.daemon_pid(system.daemon)) in ("S", "R")
    wait_until(lambda: reaches(nodes[0], nodes[1]) and reaches(nodes[1], nodes[2]),
               "traffic after the heal")


def test_heal_nodes_removes_leftovers_and_resumes_paused_daemons(cluster):
    system, nodes = cluster
    from splitbrain.nemesis.partition import apply_drops
    apply_drops(nodes[0], [nodes[1].address])
    system.pause(nodes[2])
    pid = nodes[2].daemon_pid(system.daemon)
    assert proc_state(nodes[2], pid) == "T"
    done = heal_nodes(nodes)
    assert any("n1: removed" in d for d in done) and any("n3: resumed paused" in d for d in done)
    assert our_rules(nodes[0]) == [] and proc_state(nodes[2], pid) in ("S", "R")
    assert heal_nodes(nodes) == []          # idempotent: nothing left the second time


def test_local_backend_refuses_partitions(tmp_path):
    from splitbrain.clusters.backends.local import LocalNode
    nodes = [LocalNode(f"n{i}", f"127.0.99.{i}", str(tmp_path / f"n{i}")) for i in (1, 2, 3)]
    system = TcpServerSystem(nodes, {}, "local")
    for faults in (["partition"], ["packet-loss"], ["netem"]):
        with pytest.raises(HarnessError, match="local backend"):
            build_nemesis(faults, system=system, nodes=nodes, interval=1, targets="one", seed=1,
                          record=lambda op: op, journal_path=tmp_path / "j")


CLOCK_PORT = 7402
CLOCK_SERVER = textwrap.dedent(f"""
    import socket, time
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", {CLOCK_PORT}))
    s.listen(64)
    while True:
        c, _ = s.accept()
        c.sendall(repr(time.time()).encode())
        c.close()
""")


class ClockServerSystem(TcpServerSystem):
    """A real daemon that tells the wall-clock time it sees (read through libc)."""

    name = "clockserver"
    daemon = "clockserver"
    supports = frozenset({"kill", "pause", "clock"})

    def start(self, node: Node) -> None:
        node.start_daemon(self.daemon, [PY, "-I", "-S", "-c", CLOCK_SERVER])


def skew(src: Node, dst: Node) -> float:
    """How far ``dst``'s daemon clock is from the real time (seconds)."""
    probe = ("import socket,sys,time\n"
             "c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)\n"
             "print(float(c.recv(64).decode()) - time.time())\n")
    return float(src.exec([PY, "-I", "-S", "-c", probe, dst.address, str(CLOCK_PORT)], timeout=10).stdout)


def test_clock_bump_and_strobe_with_libfaketime(cluster, tmp_path):
    _system, nodes = cluster
    from splitbrain.nemesis.clock import daemon_has_faketime, find_libfaketime
    if find_libfaketime(nodes[0]) is None:
        why = "the clock fault needs libfaketime: apt-get install faketime"
        if os.environ.get("SPLITBRAIN_REQUIRE_DOCKER") == "1":
            pytest.fail(f"SPLITBRAIN_REQUIRE_DOCKER=1 but {why}")
        pytest.skip(why)
    system = ClockServerSystem(nodes, {}, TEST)
    for n in nodes:
        system.start(n)
    try:
        wait_until(lambda: reaches_clock(nodes[0], nodes[1]), "the clock server")
        assert daemon_has_faketime(nodes[1], system.daemon) is False
        ops: list[Op] = []
        nem = build_nemesis(["clock"], system=system, nodes=nodes, interval=1, targets="one",
                            seed=1, record=lambda op: ops.append(op) or op,
                            journal_path=tmp_path / "faults.journal",
                            options={"backend": "netns", "test": TEST})
        # prepare() restarted every daemon under libfaketime at offset +0
        assert all(daemon_has_faketime(n, system.daemon) for n in nodes)
        wait_until(lambda: reaches_clock(nodes[0], nodes[1]), "the restarted clock server")
        assert abs(skew(nodes[0], nodes[1])) < 30

        nem.start({"fault": "clock", "choice": {"mode": "bump", "targets": ["n2"],
                                                "fallback": "n2", "offset_s": -1800.0}})
        assert abs(skew(nodes[0], nodes[1]) + 1800) < 30
        assert abs(skew(nodes[0], nodes[2])) < 30
        assert ops[-1].f == "start-clock" and ops[-1].value["mode"] == "bump" and ops[-1].value["offset_s"] == -1800.0
        nem.heal()
        assert abs(skew(nodes[0], nodes[1])) < 30

        nem.start({"fault": "clock", "choice": {"mode": "strobe", "targets": ["n3"],
                                                "fallback": "n3", "offset_s": 900.0,
                                                "period_ms": 50}})
        seen = set()
        wait_until(lambda: seen.add(round(skew(nodes[0], nodes[2]) / 900)) or seen >= {0, 1},
                   "both clock values of the strobe")
        assert ops[-1].f == "start-clock" and ops[-1].value["mode"] == "strobe"
        nem.heal()
        assert not nodes[2].daemon_running("splitbrain-clock-strobe")
        assert abs(skew(nodes[0], nodes[2])) < 30
        assert heal_nodes(nodes) == []
    finally:
        for n in nodes:
            system.stop(n)


def reaches_clock(src: Node, dst: Node) -> bool:
    try:
        skew(src, dst)
        return True
    except Exception:  # noqa: BLE001 - not up yet
        return False

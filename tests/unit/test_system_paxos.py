"""Paxos system plumbing (options, command line) and the real node program run as three
local processes: commands through any node, forwarding to the leader, a retried stamp
applied once, and the log surviving SIGKILL of every node only when acceptors fsync."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from splitbrain import nodekit
from splitbrain.clusters.backends.local import LocalNode
from splitbrain.clusters.systems import get_system
from splitbrain.clusters.systems.paxos import PaxosSystem
from splitbrain.errors import HarnessError

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_options_and_command_line(tmp_path: Path) -> None:
    assert get_system("paxos") is PaxosSystem
    with pytest.raises(HarnessError, match="unknown bug 'typo'"):
        PaxosSystem.parse_options({"bug": "no-adopt,typo"})
    opts = PaxosSystem.parse_options({"bug": "no-adopt,acceptor-forgets", "leader": "false"})
    ns = [LocalNode(f"n{i}", f"127.0.0.{i}", str(tmp_path / f"n{i}")) for i in (1, 2, 3)]
    cmd = PaxosSystem(ns, opts, "t").command(ns[1])
    assert cmd[1:4] == ["-m", "splitbrain.paxos", "--id"] and "n2" in cmd
    assert "bug=no-adopt,acceptor-forgets" in cmd and "leader=false" in cmd
    assert not any(c.startswith(("retry_s=", "timeout=", "python=")) for c in cmd)


def free_ports(k: int) -> list[int]:
    socks = [socket.socket() for _ in range(k)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Cluster:
    def __init__(self, tmp: Path, opts: list[str]) -> None:
        self.tmp = tmp
        self.opts = opts
        self.addrs = {f"n{i}": f"127.0.0.1:{p}" for i, p in enumerate(free_ports(3), 1)}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        peers = ",".join(f"{n}={a}" for n, a in self.addrs.items())
        cmd = [sys.executable, "-m", "splitbrain.paxos", "--id", name, "--peers", peers,
               "--data-dir", str(self.tmp / name), "--log-level", "WARNING"]
        for o in self.opts:
            cmd += ["--opt", o]
        self.procs[name] = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": SRC},
                                            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                nodekit.call(self.addrs[name], "/status", {}, timeout=0.5)
                return
            except nodekit.PeerDown:
                assert time.monotonic() < deadline, f"{name} did not start"
                time.sleep(0.05)

    def kill_all(self) -> None:
        for p in self.procs.values():
            p.send_signal(signal.SIGKILL)
            p.wait()

    def ask(self, name: str, route: str, seq: int, **body: object) -> dict:
        return nodekit.call(self.addrs[name], route,
                            {"key": "k", "client": "c", "seq": seq, **body}, timeout=5.0)


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    c = Cluster(tmp_path, request.param)
    for n in c.addrs:
        c.start(n)
    yield c
    c.kill_all()


@pytest.mark.parametrize("cluster", [["leader=true"], ["leader=false"]], indirect=True)
def test_commands_through_any_node(cluster: Cluster) -> None:
    assert cluster.ask("n1", "/write", 1, value=3) == {}
    assert cluster.ask("n2", "/read", 2) == {"value": 3}
    assert cluster.ask("n3", "/cas", 3, expected=3, new=4) == {"ok": True}
    assert cluster.ask("n3", "/cas", 3, expected=3, new=4) == {"ok": True}  # a retry: same answer
    assert cluster.ask("n1", "/cas", 4, expected=3, new=5) == {"ok": False}
    assert cluster.ask("n2", "/read", 5) == {"value": 4}


@pytest.mark.parametrize("cluster,survives", [([], True), (["bug=acceptor-forgets"], False)],
                         indirect=["cluster"])
def test_log_survives_sigkill_of_every_node_only_with_fsync(cluster: Cluster,
                                                            survives: bool) -> None:
    cluster.ask("n1", "/write", 1, value=7)
    cluster.kill_all()
    for n in cluster.addrs:
        cluster.start(n)
    assert cluster.ask("n2", "/read", 2) == {"value": 7 if survives else None}

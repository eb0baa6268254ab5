"""The quorum system's plumbing: its -o options, the node command line, and three real
node processes on loopback (local backend, no root): read / write / add through the
client, and honest error verdicts once the quorum is gone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from splitbrain.clusters.backends.local import LocalNode
from splitbrain.clusters.system import ADD, CAS, READ, WRITE
from splitbrain.clusters.systems import get_system
from splitbrain.clusters.systems.quorum import QuorumSystem
from splitbrain.errors import ClientError, HarnessError


def nodes(tmp_path: Path, k: int = 3) -> list[LocalNode]:
    base = 100 + int(time.time() * 1000) % 100
    return [LocalNode(f"n{i}", f"127.0.{base}.{i}", str(tmp_path / f"n{i}"))
            for i in range(1, k + 1)]


def test_options_and_command_line(tmp_path: Path) -> None:
    assert get_system("quorum") is QuorumSystem
    assert QuorumSystem.capabilities == frozenset({READ, WRITE, ADD})
    assert CAS not in QuorumSystem.capabilities
    opts = QuorumSystem.parse_options({"w": "1", "r": "1", "write_back": "false"})
    s = QuorumSystem(nodes(tmp_path), opts, "t")
    cmd = s.command(s.nodes[0])
    assert cmd[:3] == ["python3", "-m", "splitbrain.quorum"]
    for kv in ("w=1", "r=1", "write_back=false", "lww=false", "fsync=true"):
        assert kv in cmd
    assert not any(a.startswith(("timeout=", "python=")) for a in cmd)
    with pytest.raises(HarnessError, match="-o w=4"):
        QuorumSystem(nodes(tmp_path), QuorumSystem.parse_options({"w": "4"}), "t")
    with pytest.raises(HarnessError, match="lww"):
        QuorumSystem.parse_options({"lww": "maybe"})


@pytest.mark.timeout(60)
def test_real_nodes_read_write_add_and_honest_errors(tmp_path: Path) -> None:
    ns = nodes(tmp_path)
    s = QuorumSystem(ns, QuorumSystem.parse_options({"peer_timeout": "0.3",
                                                     "timeout": "3"}), "t")
    try:
        for n in ns:
            s.start(n)
        deadline = time.monotonic() + 20
        while not s.healthy():
            assert time.monotonic() < deadline, "nodes never answered /status"
            time.sleep(0.1)
        c1, c3 = s.client(ns[0]), s.client(ns[2])
        assert c1.read("k") is None
        c1.write("k", 1)
        assert c3.read("k") == 1
        c3.write("k", [2, "x"])
        assert c1.read("k") == [2, "x"]
        c1.add("s", 5)
        c3.add("s", 4)
        c3.add("s", 5)
        assert c1.read("s") == [4, 5]
        st = c1.status()
        assert (st["n"], st["w"], st["r"], st["write_back"]) == (3, 2, 2, True)
        s.kill(ns[1])
        assert c3.read("k") == [2, "x"]          # a majority is still up
        s.kill(ns[2])
        with pytest.raises(ClientError) as e:
            c1.read("k")
        assert e.value.definite                  # a read that found no quorum
        with pytest.raises(ClientError) as e:
            c1.write("k", 3)
        assert e.value.definite                  # the read phase failed: nothing sent
        with pytest.raises(ClientError) as e:
            c1.add("s", 6)
        assert not e.value.definite              # it is on n1: may be there
        with pytest.raises(ClientError) as e:
            s.client(ns[2]).read("k")
        assert e.value.definite                  # a new connection refused: nothing sent
        s.start(ns[1])                           # restart: its log brings the data back
        deadline = time.monotonic() + 20
        while True:
            try:
                assert c1.read("s") == [4, 5, 6]     # the indeterminate add did land on n1
                break
            except ClientError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        c1.close()
        c3.close()
    finally:
        for n in ns:
            s.kill(n)

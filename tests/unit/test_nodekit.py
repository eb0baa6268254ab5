"""The textbook nodes' shared kit on loopback: routes, error verdicts, quorum fan-out,
and durable state that an fsync switch can make forgetful."""

from __future__ import annotations

import socket
import time

import pytest

from splitbrain import nodekit
from splitbrain.nodekit import AppendLog, DurableFile, NodeError, PeerDown, call, fanout, serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def node():
    def slow(body):
        time.sleep(body["s"])
        return {"slept": body["s"]}

    def refuse(body):
        raise NodeError("no quorum", definite=True)

    port = free_port()
    server = serve({"/echo": lambda b: {"got": b}, "/slow": slow, "/refuse": refuse},
                   "127.0.0.1", port)
    yield f"127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


def test_call_round_trips_json(node: str) -> None:
    assert call(node, "/echo", {"k": [1, "x", None]}) == {"got": {"k": [1, "x", None]}}


def test_errors_and_unknown_routes_raise_peer_down(node: str) -> None:
    with pytest.raises(PeerDown, match="no quorum"):
        call(node, "/refuse", {})
    with pytest.raises(PeerDown, match="404"):
        call(node, "/nope", {})
    with pytest.raises(PeerDown):
        call(f"127.0.0.1:{free_port()}", "/echo", {}, timeout=0.5)


def test_fanout_returns_once_enough_answered(node: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    got = fanout([node, dead, node], "/echo", {"v": 1}, need=2, timeout=2.0)
    assert len(got) == 2 and all(a == node for a, _ in got)
    assert time.monotonic() - t0 < 1.5, "fan-out waited past the answers it needed"
    # a slow peer past the timeout is left out, not waited for
    got = fanout([node], "/slow", {"s": 1.0}, timeout=0.2)
    assert got == []


def test_durable_file_survives_only_when_fsynced(tmp_path) -> None:
    path = str(tmp_path / "state.json")
    DurableFile(path).save({"promised": 7})
    assert DurableFile(path).load(None) == {"promised": 7}
    forgetful = DurableFile(path, fsync=False)
    forgetful.save({"promised": 9})
    assert DurableFile(path).load(None) == {"promised": 7}   # a SIGKILL now loses 9
    forgetful.flush()                                         # a clean stop keeps it
    assert DurableFile(path).load(None) == {"promised": 9}


def test_append_log_replays_whole_records(tmp_path) -> None:
    path = str(tmp_path / "log")
    log = AppendLog(path)
    log.append({"txn": 1, "decision": "commit"})
    log.append({"txn": 2, "decision": "abort"})
    with open(path, "a") as f:
        f.write('{"txn": 3, "deci')                          # torn by a crash
    assert [r["txn"] for r in AppendLog(path).replay()] == [1, 2]
    lazy = AppendLog(str(tmp_path / "lazy"), fsync=False)
    lazy.append({"txn": 1})
    assert list(AppendLog(str(tmp_path / "lazy")).replay()) == []
    lazy.flush()
    assert list(AppendLog(str(tmp_path / "lazy")).replay()) == [{"txn": 1}]


def test_parse_args_reads_peers_and_opts(tmp_path) -> None:
    args = nodekit.parse_args("t", "d", ["--id", "n1", "--peers", "n1=10.0.0.1:7100,n2=h:7100",
                                         "--data-dir", str(tmp_path / "d"),
                                         "--opt", "w=1", "--opt", "lww=true"])
    assert args.peers == {"n1": "10.0.0.1:7100", "n2": "h:7100"}
    assert args.opts == {"w": "1", "lww": "true"}
    assert nodekit.opt_bool(args.opts, "lww", False) is True
    with pytest.raises(SystemExit):
        nodekit.parse_args("t", "d", ["--id", "n3", "--peers", "n1=h:1", "--data-dir",
                                      str(tmp_path)])

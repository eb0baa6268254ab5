"""Checks every backend must pass, shared by test_backend_docker/netns/ssh.

Not a test module itself: each backend's test calls these on the nodes it made.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from splitbrain.clusters.node import Node


def require(kind: str) -> None:
    """Skip with a reason when ``kind`` (docker/root) is missing, fail if it is required."""
    why = None
    if kind == "docker":
        try:
            import docker
            docker.from_env(timeout=5).ping()
        except Exception as e:  # noqa: BLE001 - any failure means "no docker here"
            why = f"Docker is not reachable: {str(e).splitlines()[0][:120]}"
    elif kind == "root":
        if os.geteuid() != 0:
            why = "needs root"
        elif shutil.which("ip") is None:
            why = "needs iproute2"
    if why:
        if os.environ.get("SPLITBRAIN_REQUIRE_DOCKER") == "1":
            pytest.fail(f"SPLITBRAIN_REQUIRE_DOCKER=1 but {why}")
        pytest.skip(why)


def wait_for(pred, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def check_exec(nodes: list[Node]) -> None:
    assert [n.name for n in nodes] == [f"n{i}" for i in range(1, len(nodes) + 1)]
    assert len({n.address for n in nodes}) == len(nodes)
    for n in nodes:
        r = n.exec(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
        assert (r.rc, r.stdout, r.stderr) == (3, "out\n", "err\n")
        assert n.exec("echo $FOO", env={"FOO": "bar baz"}).stdout == "bar baz\n"
        assert n.exec(["cat"], input=b"\x00\x01hello").stdout == "\x00\x01hello"
        r = n.exec(["sleep", "30"], check=False, timeout=1)
        assert r.rc == 124 and "timed out" in r.stderr
        with pytest.raises(Exception) as ei:
            n.exec(["false"])
        assert "exited 1" in str(ei.value)


def check_reachability(nodes: list[Node]) -> None:
    """n1 serves HTTP; every other node fetches a file from it by address."""
    server = nodes[0]
    server.write_file(f"{server.work_dir}/www/hello.txt", f"hello from {server.name}\n")
    server.start_daemon("http", ["python3", "-m", "http.server", "8123", "--bind", "0.0.0.0"],
                        cwd=f"{server.work_dir}/www")
    try:
        probe = ("import sys,urllib.request;"
                 "print(urllib.request.urlopen(f'http://{sys.argv[1]}:8123/hello.txt',"
                 "timeout=2).read().decode(),end='')")
        for client in nodes[1:]:
            def fetched(c=client) -> bool:
                r = c.exec(["python3", "-c", probe, server.address], check=False, timeout=10)
                return r.rc == 0 and r.stdout == f"hello from {server.name}\n"
            wait_for(fetched, what=f"{client.name} to fetch from {server.name}")
        # the harness itself (clients, checkers) reaches nodes at their addresses too
        import urllib.request
        url = f"http://{server.address}:8123/hello.txt"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.read().decode() == f"hello from {server.name}\n"
    finally:
        server.stop_daemon("http")
    assert not server.daemon_running("http")


def _proc_state(node: Node, pid: int) -> str:
    r = node.exec(["sh", "-c", f"awk '/^State:/{{print $2}}' /proc/{pid}/status"], check=False)
    return r.stdout.strip()


def check_daemon_signals(node: Node) -> None:
    """start_daemon, SIGSTOP/SIGCONT seen in /proc state, then kill."""
    node.start_daemon("sleeper", ["sleep", "300"])
    wait_for(lambda: node.daemon_running("sleeper"), what="daemon to start")
    pid = node.daemon_pid("sleeper")
    assert pid is not None
    assert _proc_state(node, pid) in ("S", "R")
    assert node.signal_daemon("sleeper", signal.SIGSTOP)
    wait_for(lambda: _proc_state(node, pid) == "T", what="state T after SIGSTOP")
    assert node.signal_daemon("sleeper", signal.SIGCONT)
    wait_for(lambda: _proc_state(node, pid) in ("S", "R"), what="state S after SIGCONT")
    assert node.signal_daemon("sleeper", signal.SIGKILL)
    wait_for(lambda: not node.daemon_running("sleeper"), what="daemon to die")
    assert not node.signal_daemon("sleeper", signal.SIGTERM)


def check_files(node: Node, tmp_path) -> None:
    """write_file, put_file (file and directory), get_file round trips."""
    payload = bytes(range(256)) * 100
    src = tmp_path / "payload.bin"
    src.write_bytes(payload)
    node.put_file(str(src), f"{node.work_dir}/in/payload.bin")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("A")
    (tree / "sub" / "b.txt").write_text("B")
    node.put_file(str(tree), f"{node.work_dir}/in/tree")
    assert node.exec(["cat", f"{node.work_dir}/in/tree/sub/b.txt"]).stdout == "B"
    node.write_file(f"{node.work_dir}/conf/x.cfg", "key=value\n", mode=0o600)
    assert node.exec(["stat", "-c", "%a", f"{node.work_dir}/conf/x.cfg"]).stdout.strip() == "600"
    out = tmp_path / "out"
    node.get_file(f"{node.work_dir}/in/payload.bin", str(out / "p.bin"))
    assert (out / "p.bin").read_bytes() == payload
    node.get_file(f"{node.work_dir}/in/tree", str(out / "tree"))
    assert (out / "tree" / "a.txt").read_text() == "A"
    assert (out / "tree" / "sub" / "b.txt").read_text() == "B"
    node.get_file(f"{node.work_dir}/conf/x.cfg", str(out / "x.cfg"))
    assert (out / "x.cfg").read_text() == "key=value\n"


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


def tcp_open(node: Node, address: str, port: int) -> bool:
    """Can ``node`` open a TCP connection to ``address:port`` (within a second)?"""
    code = ("import socket,sys;s=socket.socket();s.settimeout(1);"
            "sys.exit(s.connect_ex((sys.argv[1],int(sys.argv[2]))))")
    return node.exec(["python3", "-c", code, address, str(port)], check=False, timeout=10).rc == 0

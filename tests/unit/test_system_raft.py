"""Raft system: our plumbing without a cluster — the -o bug option, command lines,
install's copy of the package, and RaftError -> ClientError mapping (against a
throwaway HTTP server that answers like the Raft API does).
(Real Raft nodes run in tests/integration/test_system_raft.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from splitbrain.clusters.backends.local import LocalNode
from splitbrain.clusters.systems import get_system
from splitbrain.clusters.systems.raft import RaftKVClient, RaftSystem, parse_bugs
from splitbrain.errors import ClientError, HarnessError


def nodes(tmp_path: Path, k: int = 3) -> list[LocalNode]:
    return [LocalNode(f"n{i}", f"127.0.0.{i}", str(tmp_path / f"n{i}")) for i in range(1, k + 1)]


def test_bug_option() -> None:
    assert get_system("raft") is RaftSystem
    assert RaftSystem.parse_options({})["bug"] == ()
    assert RaftSystem.parse_options({"bug": "stale-read,no-fsync"})["bug"] == (
        "stale-read", "no-fsync")
    with pytest.raises(HarnessError, match="unknown bug 'typo'"):
        RaftSystem.parse_options({"bug": "stale-read,typo"})
    assert parse_bugs(" no-dedup ,") == ("no-dedup",)


def test_command_lines(tmp_path: Path) -> None:
    ns = nodes(tmp_path)
    s = RaftSystem(ns, RaftSystem.parse_options({"bug": "stale-read,commit-old-term"}), "t")
    cmd = s.command(ns[0])
    assert cmd[:3] == ["python3", "-m", "splitbrain.raft"]
    args = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert args["--id"] == "n1"
    assert args["--peers"] == ",".join(f"n{i}=127.0.0.{i}:7001:8001" for i in (1, 2, 3))
    assert args["--data-dir"] == f"{ns[0].work_dir}/raft"
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--bug"] == [
        "stale-read", "commit-old-term"]
    join = s.command(ns[2], join=True)
    assert "--join" in join and join[join.index("--peers") + 1] == "n3=127.0.0.3:7001:8001"


def test_install_copies_a_runnable_package(tmp_path: Path) -> None:
    ns = nodes(tmp_path, 1)
    s = RaftSystem(ns, {}, "t")
    s.install(ns[0])
    lib = Path(ns[0].work_dir) / "lib"
    assert (lib / "splitbrain" / "raft" / "core.py").is_file()
    assert not list(lib.rglob("__pycache__"))
    # the copy runs on its own: nothing from the harness's tree is imported
    r = subprocess.run([sys.executable, "-S", "-m", "splitbrain.raft", "--help"], cwd=str(lib),
                       env={"PYTHONPATH": str(lib)}, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "stale-read" in r.stdout
    r = subprocess.run([sys.executable, "-S", "-c",
                        "import splitbrain.raft, splitbrain; print(splitbrain.__file__)"],
                       env={"PYTHONPATH": str(lib)}, capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == str(lib / "splitbrain" / "__init__.py")


class Api(BaseHTTPRequestHandler):
    """Answers every POST with the status/body queued in ``server.answers``."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.server.bodies.append(
            (self.path, json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))))
        status, body = self.server.answers.pop(0)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a) -> None:
        pass


@pytest.fixture
def api():
    srv = HTTPServer(("127.0.0.1", 0), Api)
    srv.answers, srv.bodies = [], []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def client_for(api, tmp_path: Path, **kw) -> RaftKVClient:
    node = LocalNode("n1", "127.0.0.1", str(tmp_path / "n1"))
    return RaftKVClient(node, port=api.server_address[1], **kw)


def test_error_verdicts_map_straight_through(api, tmp_path: Path) -> None:
    api.answers += [
        (503, {"ok": False, "error": "no leader known", "definite": True}),
        (503, {"ok": False, "error": "timed out after proposing", "definite": False}),
        (503, {"ok": False, "error": "leadership lost during read", "definite": False}),
    ]
    c = client_for(api, tmp_path)
    with pytest.raises(ClientError) as e:
        c.write("k", 1)
    assert e.value.definite is True and "no leader known" in str(e.value)
    with pytest.raises(ClientError) as e:
        c.write("k", 1)
    assert e.value.definite is False
    with pytest.raises(ClientError) as e:
        c.read("k")
    assert e.value.definite is True                  # reads are always definite


def test_cas_none_is_create_only_and_lock_retries_while_held(api, tmp_path: Path) -> None:
    api.answers += [
        (200, {"ok": True, "succeeded": False, "found": True, "value": 3}),
        (200, {"ok": True, "acquired": False, "holder": "other"}),
        (200, {"ok": True, "acquired": True, "token": 17}),
        (200, {"ok": True, "acquired": False, "holder": "other"}),
    ]
    c = client_for(api, tmp_path, lock_timeout=0.0)
    assert c.cas("k", None, 1) is False
    path, body = api.bodies[0]
    assert path == "/kv/cas" and body["create_only"] is True and body["new"] == 1
    c.lock_timeout = 5.0
    assert c.lock_acquire("m", 10) == 17             # refused once, then acquired
    c.lock_timeout = 0.0
    with pytest.raises(ClientError) as e:
        c.lock_acquire("m", 10)
    assert e.value.definite is True                  # held by another: nothing taken


def test_connection_refused_is_definite(tmp_path: Path) -> None:
    srv = HTTPServer(("127.0.0.1", 0), Api)
    port = srv.server_address[1]
    srv.server_close()                               # nobody listens on that port now
    node = LocalNode("n1", "127.0.0.1", str(tmp_path / "n1"))
    with pytest.raises(ClientError) as e:
        RaftKVClient(node, port=port).write("k", 1)
    assert e.value.definite is True

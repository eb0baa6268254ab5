"""The ``local`` backend: nodes are directories and processes on this host, on
loopback addresses 127.0.0.x.

It needs neither Docker nor root, so it suits plugins, development and fast
tests. It cannot isolate nodes on the network: partition faults are refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from splitbrain.clusters.node import Backend, ExecResult, Node, quote
from splitbrain.errors import ClusterGone, HarnessError, NodeCommandError


def local_root() -> Path:
    """Where local nodes keep their directories (``$SPLITBRAIN_LOCAL_ROOT`` overrides)."""
    base = os.environ.get("SPLITBRAIN_LOCAL_ROOT")
    if base:
        return Path(base)
    uid = os.getuid()
    return Path("/var/lib/splitbrain/local") if uid == 0 else Path(f"/tmp/splitbrain-{uid}/local")


class LocalNode(Node):
    """A node that is a directory on this host and a loopback address."""

    backend = "local"          # the backend that made it (journals record it)
    isolated_network = False

    def __init__(self, name: str, address: str, work_dir: str) -> None:
        self.name, self.address, self.work_dir = name, address, work_dir
        Path(work_dir).mkdir(parents=True, exist_ok=True)

    def exec(self, cmd: list[str] | str, *, check: bool = True, timeout: float | None = 60,
             env: dict[str, str] | None = None, input: bytes | None = None) -> ExecResult:
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else cmd
        full_env = {**os.environ, **(env or {})}
        try:
            p = subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                               env=full_env,
                               cwd=self.work_dir if os.path.isdir(self.work_dir) else None)
        except FileNotFoundError as e:
            raise HarnessError(f"on {self.name}: {argv[0]} not found ({e.strerror})") from None
        except subprocess.TimeoutExpired:
            if check:
                raise NodeCommandError(self.name, quote(cmd), 124,
                                       f"timed out after {timeout}s") from None
            return ExecResult(124, "", f"timed out after {timeout}s")
        res = ExecResult(p.returncode, p.stdout.decode(errors="replace"),
                         p.stderr.decode(errors="replace"))
        if check and p.returncode != 0:
            raise NodeCommandError(self.name, quote(cmd), p.returncode, res.stderr)
        return res

    def put_file(self, local_path: str, remote_path: str) -> None:
        Path(remote_path).parent.mkdir(parents=True, exist_ok=True)
        if os.path.isdir(local_path):
            shutil.copytree(local_path, remote_path, dirs_exist_ok=True)
        else:
            shutil.copy2(local_path, remote_path)

    def get_file(self, remote_path: str, local_path: str) -> None:
        self.put_file(remote_path, local_path)


def _slug(test_name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in test_name)[:40]
    return f"{safe}-{hashlib.sha1(test_name.encode()).hexdigest()[:6]}"


class LocalBackend(Backend):
    """Nodes n1..nN at 127.0.<k>.<i+1>: a per-test third octet keeps two tests apart."""

    name = "local"
    isolated_network = False

    def _dir(self, test_name: str) -> Path:
        return local_root() / _slug(test_name)

    def _octet(self, test_name: str) -> int:
        return 10 + int(hashlib.sha1(test_name.encode()).hexdigest(), 16) % 200

    def _nodes(self, test_name: str, count: int) -> list[Node]:
        base = self._dir(test_name)
        k = self._octet(test_name)
        return [LocalNode(f"n{i}", f"127.0.{k}.{i}", str(base / f"n{i}"))
                for i in range(1, count + 1)]

    def create(self, test_name: str, count: int) -> list[Node]:
        if count < 1 or count > 250:
            raise HarnessError(f"--nodes must be between 1 and 250, got {count}")
        self.destroy(test_name)
        return self._nodes(test_name, count)

    def attach(self, test_name: str) -> list[Node]:
        base = self._dir(test_name)
        if not base.is_dir():
            raise ClusterGone(f"no local cluster named {test_name!r}")
        count = len([p for p in base.iterdir() if p.is_dir() and p.name.startswith("n")])
        return self._nodes(test_name, count)

    def destroy(self, test_name: str) -> None:
        base = self._dir(test_name)
        if not base.is_dir():
            return
        for node_dir in base.iterdir():
            run = node_dir / "run"
            if run.is_dir():
                node = LocalNode(node_dir.name, "127.0.0.1", str(node_dir))
                for pidf in run.glob("*.pid"):
                    node.stop_daemon(pidf.stem, timeout=5)
        shutil.rmtree(base, ignore_errors=True)

    def destroy_all(self) -> list[str]:
        root = local_root()
        removed = []
        if root.is_dir():
            for d in root.iterdir():
                for node_dir in d.iterdir() if d.is_dir() else []:
                    run = node_dir / "run"
                    for pidf in run.glob("*.pid") if run.is_dir() else []:
                        LocalNode(node_dir.name, "127.0.0.1", str(node_dir)).stop_daemon(
                            pidf.stem, timeout=5)
                shutil.rmtree(d, ignore_errors=True)
                removed.append(f"local:{d.name}")
        return removed

"""The ``local`` backend: nodes are directories and processes on this host, on
loopback addresses 127.0.0.x.

It needs neither Docker nor root, so it suits plugins, development and fast
tests. It cannot isolate nodes on the network: partition faults are refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from splitbrain.clusters.node import Backend, ExecResult, Node, quote
from splitbrain.clusters.ownership import Claim, proc_start
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

    def __init__(self, name: str, address: str, work_dir: str, claim: Claim | None = None) -> None:
        self.name, self.address, self.work_dir = name, address, work_dir
        self.claim = claim
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

    def start_daemon(self, daemon: str, cmd: list[str], *, log_file: str | None = None,
                     env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        """Start it as every node does, then note the pid's kernel start time next to the
        pid file (and in the claim): a later cleanup signals that process only, never
        whatever reused its pid."""
        super().start_daemon(daemon, cmd, log_file=log_file, env=env, cwd=cwd)
        pid_file = Path(self.pid_file(daemon))
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        start = proc_start(pid)
        if start is None:
            return
        Path(f"{pid_file}.start").write_text(start)
        if self.claim is not None:
            self.claim.add("pid", f"{pid}@{start}")


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
        return [LocalNode(f"n{i}", f"127.0.{k}.{i}", str(base / f"n{i}"), self.claim)
                for i in range(1, count + 1)]

    def create(self, test_name: str, count: int) -> list[Node]:
        if count < 1 or count > 250:
            raise HarnessError(f"--nodes must be between 1 and 250, got {count}")
        self.destroy(test_name)
        self.made("dir", str(self._dir(test_name)))
        return self._nodes(test_name, count)

    def attach(self, test_name: str) -> list[Node]:
        base = self._dir(test_name)
        if not base.is_dir() or base.is_symlink():
            raise ClusterGone(f"no local cluster named {test_name!r}")
        count = len([p for p in base.iterdir() if p.is_dir() and re.fullmatch(r"n[0-9]+", p.name)])
        return self._nodes(test_name, count)

    def destroy(self, test_name: str) -> None:
        """Stop the daemons the cluster started (by pid file and, in the claim, pid and
        start time — a reused pid is never signalled) and remove its directory."""
        base = self._dir(test_name)
        pids: set[tuple[int, str]] = set()
        if self.claim is not None and self.claim.name == test_name:
            for entry in self.claim.listed("pid"):
                pid, _, start = entry.partition("@")
                if pid.isdigit() and start:
                    pids.add((int(pid), start))
        if base.is_dir() and not base.is_symlink():
            for pidf in base.glob("n*/run/*.pid"):
                try:
                    pid = int(pidf.read_text().strip())
                except (OSError, ValueError):
                    continue
                try:
                    start = Path(f"{pidf}.start").read_text().strip()
                except OSError:      # no note of its start: only a process working in here
                    start = proc_start(pid) if _works_in(pid, base) else None
                if start:
                    pids.add((pid, start))
        for pid, start in pids:
            kill_exact(pid, start)
        if base.is_symlink():
            base.unlink()
        shutil.rmtree(base, ignore_errors=True)


def kill_exact(pid: int, start: str, grace: float = 5.0) -> bool:
    """SIGTERM (then SIGKILL) the process group of ``pid`` — only if ``pid`` is still the
    process that started at ``start``; a paused one is resumed first. True if it was."""
    if proc_start(pid) != start:
        return False
    for sig in (signal.SIGCONT, signal.SIGTERM):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                return True
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc_start(pid) != start or _zombie(pid):
            return True
        time.sleep(0.05)
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass
    return True


def _works_in(pid: int, base: Path) -> bool:
    """Whether process ``pid``'s working directory is ``base`` or below it."""
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    root = os.path.realpath(base)
    return cwd == root or cwd.startswith(root.rstrip("/") + "/")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True

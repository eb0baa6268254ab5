"""The Node interface every backend offers (DESIGN.md): run a command, start a
daemon, copy files in and out, signal a process, know the node's address.

Systems and nemeses speak only to this interface, so they work on every backend.
"""

from __future__ import annotations

import shlex
import signal as _signal
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from splitbrain.clusters.ownership import Claim


@dataclass(slots=True)
class ExecResult:
    rc: int
    stdout: str
    stderr: str


def quote(cmd: list[str] | str) -> str:
    """Render a command for a shell (a string is taken as already a shell command)."""
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


class Node(ABC):
    """One host of a cluster.

    ``name`` is the node's name (n1, n2, ...); ``address`` the IP other nodes and
    the harness reach it at; ``work_dir`` a directory on the node where systems
    keep data, logs and pid files.
    """

    name: str
    address: str
    work_dir: str

    @abstractmethod
    def exec(self, cmd: list[str] | str, *, check: bool = True, timeout: float | None = 60,
             env: dict[str, str] | None = None, input: bytes | None = None) -> ExecResult:
        """Run a command to completion on the node (a string runs under ``sh -c``).

        A non-zero exit raises :class:`NodeCommandError` when ``check`` is true;
        a timeout is exit code 124 with "timed out after Ns" on stderr (raised
        as NodeCommandError when ``check`` is true), as on every backend.
        """

    @abstractmethod
    def put_file(self, local_path: str, remote_path: str) -> None:
        """Copy a local file or directory onto the node."""

    @abstractmethod
    def get_file(self, remote_path: str, local_path: str) -> None:
        """Copy a file (or directory) from the node to the harness host."""

    def write_file(self, remote_path: str, content: str | bytes, mode: int = 0o644) -> None:
        """Write ``content`` to a file on the node."""
        data = content.encode() if isinstance(content, str) else content
        self.exec(["sh", "-c", f"mkdir -p \"$(dirname {shlex.quote(remote_path)})\" && "
                               f"cat > {shlex.quote(remote_path)} && chmod {mode:o} "
                               f"{shlex.quote(remote_path)}"], input=data)

    # -- daemons: tracked by a pid file in work_dir/run/<name>.pid -----------------
    def pid_file(self, daemon: str) -> str:
        return f"{self.work_dir}/run/{daemon}.pid"

    def start_daemon(self, daemon: str, cmd: list[str], *, log_file: str | None = None,
                     env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        """Start ``cmd`` detached from the harness, output to ``log_file``, pid recorded."""
        log = log_file or f"{self.work_dir}/logs/{daemon}.log"
        # extra_env: set on a node by faults that need every daemon started with it
        # (the clock fault's libfaketime LD_PRELOAD).
        env = {**getattr(self, "extra_env", {}), **(env or {})}
        envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        cd = f"cd {shlex.quote(cwd)} && " if cwd else ""
        pidf = self.pid_file(daemon)
        # mkdir and cd must finish before the daemon is backgrounded: `a && b & c`
        # would background `a && b` and race the pid file write against the mkdir.
        script = (f"mkdir -p {shlex.quote(self.work_dir)}/run \"$(dirname {shlex.quote(log)})\" "
                  f"|| exit 1; {cd.replace(' && ', ' || exit 1; ')}"
                  f"{'env ' + envs + ' ' if envs else ''}"
                  f"setsid nohup {quote(cmd)} >> {shlex.quote(log)} 2>&1 < /dev/null & "
                  f"echo $! > {shlex.quote(pidf)}")
        self.exec(["sh", "-c", script])

    def daemon_pid(self, daemon: str) -> int | None:
        """The recorded pid of ``daemon`` if that process is alive (a zombie awaiting its
        reaper is not: ``kill -0`` succeeds on it, and a restart would be skipped)."""
        r = self.exec(["sh", "-c", f"p=$(cat {shlex.quote(self.pid_file(daemon))} 2>/dev/null) && "
                                   f"kill -0 \"$p\" 2>/dev/null && "
                                   f"! grep -q '^[0-9]* ([^)]*) Z' /proc/$p/stat 2>/dev/null && "
                                   f"echo \"$p\""], check=False)
        out = r.stdout.strip()
        return int(out) if r.rc == 0 and out.isdigit() else None

    def daemon_running(self, daemon: str) -> bool:
        return self.daemon_pid(daemon) is not None

    def signal_daemon(self, daemon: str, sig: int = _signal.SIGTERM) -> bool:
        """Send ``sig`` to the daemon's whole process group; False if it was not running."""
        pid = self.daemon_pid(daemon)
        if pid is None:
            return False
        self.exec(["sh", "-c", f"kill -{int(sig)} -- -{pid} 2>/dev/null || kill -{int(sig)} {pid}"],
                  check=False)
        return True

    def wait_gone(self, pid: int, timeout: float = 10.0) -> None:
        """Wait until ``pid`` has exited (a zombie counts as exited)."""
        self.exec(["sh", "-c", f"i=0; while kill -0 {pid} 2>/dev/null && "
                               f"! grep -q '^[0-9]* ([^)]*) Z' /proc/{pid}/stat 2>/dev/null && "
                               f"[ $i -lt {int(timeout * 20)} ]; do sleep 0.05; i=$((i+1)); done"],
                  check=False, timeout=timeout + 5)

    def stop_daemon(self, daemon: str, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL; a paused daemon is resumed first."""
        pid = self.daemon_pid(daemon)
        if pid is None:
            return
        self.exec(["sh", "-c",
                   f"kill -CONT -- -{pid} 2>/dev/null; kill -TERM -- -{pid} 2>/dev/null || "
                   f"kill -TERM {pid}; i=0; while kill -0 {pid} 2>/dev/null && "
                   f"[ $i -lt {int(timeout * 10)} ]; do sleep 0.1; i=$((i+1)); done; "
                   f"kill -KILL -- -{pid} 2>/dev/null; kill -KILL {pid} 2>/dev/null; true"],
                  check=False, timeout=timeout + 10)

    def close(self) -> None:
        """Release connections held to the node (ssh sessions, docker clients)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.address}>"


class Backend(ABC):
    """Gives nodes: creates and destroys them, and cleans up leftovers of killed runs.

    When the harness sets ``claim`` (a :class:`~splitbrain.clusters.ownership.Claim`),
    the backend records there every resource *before* it makes it, and ``destroy``
    removes only what its own state or the claim lists — never by name prefix.
    """

    name: str
    #: whether its nodes have their own network stack (partitions and packet faults work)
    isolated_network: ClassVar[bool] = True
    #: the host-wide record of what this backend makes for the current cluster
    claim: Claim | None = None

    def made(self, what: str, name: str) -> None:
        """Record in the claim (if any) that ``what`` ``name`` is about to be made."""
        if self.claim is not None:
            self.claim.add(what, name)

    def unmade(self, what: str, name: str) -> None:
        """Take back :meth:`made`: making it failed, or it is gone."""
        if self.claim is not None:
            self.claim.discard(what, name)

    @abstractmethod
    def create(self, test_name: str, count: int) -> list[Node]:
        """Create ``count`` fresh nodes for ``test_name`` (names n1..nN)."""

    @abstractmethod
    def attach(self, test_name: str) -> list[Node]:
        """Return the nodes of a cluster that already exists (``cluster status``/``down``)."""

    @abstractmethod
    def destroy(self, test_name: str) -> None:
        """Remove every container/namespace/network this backend made for ``test_name``."""

    def backend_args(self) -> dict[str, Any]:
        """What re-creates this backend elsewhere (ssh: hosts and the credentials
        *reference* — key and known_hosts paths, never secrets); recorded in claims."""
        return {}

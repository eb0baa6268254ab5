"""SSH backend: nodes are existing hosts reached with paramiko (user, key, port, sudo).

Host keys are checked against known_hosts unless the user explicitly accepts
unknown ones. ``create`` only connects and names the hosts n1..nN; ``destroy``
kills the daemons splitbrain started (by their pid files) and removes its work dir.
"""

from __future__ import annotations

import io
import os
import shlex
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbrain.clusters.archive import extract_renamed
from splitbrain.clusters.node import Backend, ExecResult, Node, quote
from splitbrain.clusters.ownership import check_name
from splitbrain.errors import HarnessError, NodeCommandError

TIMEOUT_RC = 124
DEFAULT_BASE_DIR = "/var/lib/splitbrain"


@dataclass(slots=True)
class HostSpec:
    """One ``[user@]host[:port]`` entry of ``--nodes`` / ``--nodes-file``."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> HostSpec:
        s = text.strip()
        user = None
        if "@" in s:
            user, s = s.rsplit("@", 1)
        port = None
        if s.startswith("["):                        # [v6addr]:port
            host, _, rest = s[1:].partition("]")
            if rest.startswith(":"):
                port = rest[1:]
        elif s.count(":") == 1:
            host, port = s.split(":")
        else:
            host = s
        if not host or (port is not None and not str(port).isdigit()):
            raise HarnessError(f"bad host {text!r}: write host, user@host or user@host:port")
        return cls(host, user or None, int(port) if port else None)


def read_nodes_file(path: str) -> list[str]:
    """Hosts from a file, one per line; blank lines and ``#`` comments are skipped."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise HarnessError(f"cannot read nodes file {path}: {e.strerror}") from e
    hosts = [ln.split("#", 1)[0].strip() for ln in lines]
    hosts = [h for h in hosts if h]
    if not hosts:
        raise HarnessError(f"nodes file {path} lists no hosts: one host per line")
    return hosts


class SSHNode(Node):
    """A real host; commands run over one paramiko connection (channels are thread-safe)."""

    backend = "ssh"          # the backend that made it (journals record it)
    isolated_network = True      # partitions and packet faults work here

    def __init__(self, client, spec: HostSpec, name: str, address: str, work_dir: str,
                 sudo: bool) -> None:
        self.client = client
        self.spec = spec
        self.name = name
        self.address = address
        self.work_dir = work_dir
        self.sudo = sudo

    def _command(self, cmd: list[str] | str, timeout: float | None,
                 env: dict[str, str] | None) -> str:
        inner = cmd if isinstance(cmd, str) else shlex.join(cmd)
        argv = ["sh", "-c", inner]
        if env:
            argv = ["env", *[f"{k}={v}" for k, v in env.items()], *argv]
        if timeout is not None:
            argv = ["timeout", "-k", "2", f"{timeout:g}", *argv]
        if self.sudo:
            argv = ["sudo", "-n", *argv]
        return shlex.join(argv)

    def exec_bytes(self, cmd: list[str] | str, *, timeout: float | None = 60,
                   env: dict[str, str] | None = None,
                   input: bytes | None = None) -> tuple[int, bytes, bytes]:
        """Run a command; return (rc, stdout bytes, stderr bytes)."""
        try:
            chan = self.client.get_transport().open_session()
        except Exception as e:
            raise HarnessError(f"ssh connection to {self.spec.host} lost: {e}") from e
        out, err = bytearray(), bytearray()
        with chan:
            chan.exec_command(self._command(cmd, timeout, env))
            if input is not None:
                chan.sendall(input)
            chan.shutdown_write()
            deadline = None if timeout is None else time.monotonic() + timeout + 10
            while True:
                got = False
                if chan.recv_ready():
                    out.extend(chan.recv(1 << 16))
                    got = True
                if chan.recv_stderr_ready():
                    err.extend(chan.recv_stderr(1 << 16))
                    got = True
                if not got:
                    if chan.exit_status_ready() and not chan.recv_ready() \
                            and not chan.recv_stderr_ready():
                        break
                    if deadline is not None and time.monotonic() > deadline:
                        return TIMEOUT_RC, bytes(out), bytes(err) + b"\ntimed out"
                    time.sleep(0.002)
            rc = chan.recv_exit_status()
        if rc == TIMEOUT_RC and timeout is not None:
            err.extend(f"\ntimed out after {timeout:g}s".encode())
        return rc, bytes(out), bytes(err)

    def exec(self, cmd: list[str] | str, *, check: bool = True, timeout: float | None = 60,
             env: dict[str, str] | None = None, input: bytes | None = None) -> ExecResult:
        rc, out, err = self.exec_bytes(cmd, timeout=timeout, env=env, input=input)
        res = ExecResult(rc, out.decode(errors="replace"), err.decode(errors="replace"))
        if check and rc != 0:
            raise NodeCommandError(self.name, quote(cmd), rc, res.stderr)
        return res

    def put_file(self, local_path: str, remote_path: str) -> None:
        if not os.path.exists(local_path):
            raise HarnessError(f"cannot copy {local_path} to {self.name}: no such file")
        parent = os.path.dirname(remote_path.rstrip("/")) or "/"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(local_path, arcname=os.path.basename(remote_path.rstrip("/")))
        self.exec(f"mkdir -p {shlex.quote(parent)} && tar -x --no-same-owner -C "
                  f"{shlex.quote(parent)}", input=buf.getvalue(), timeout=300)

    def get_file(self, remote_path: str, local_path: str) -> None:
        path = remote_path.rstrip("/") or "/"
        parent, base = os.path.dirname(path) or "/", os.path.basename(path)
        rc, out, err = self.exec_bytes(f"tar -c -C {shlex.quote(parent)} {shlex.quote(base)}",
                                       timeout=300)
        if rc != 0:
            raise HarnessError(f"cannot copy {self.name}:{remote_path}: "
                               f"{err.decode(errors='replace').strip().splitlines()[:1]}")
        extract_renamed(io.BytesIO(out), base, local_path)

    def close(self) -> None:
        self.client.close()


class SSHBackend(Backend):
    """Nodes are the given hosts, in order; nothing is created or destroyed but files and daemons."""

    name = "ssh"

    def __init__(self, hosts: list[str], user: str | None = None, key_file: str | None = None,
                 port: int | None = 22, sudo: bool = False, accept_unknown_host_keys: bool = False,
                 known_hosts: str | None = None, base_dir: str | None = None,
                 connect_timeout: float = 10.0) -> None:
        if not hosts:
            raise HarnessError("the ssh backend needs hosts: --nodes host1,host2 or --nodes-file")
        self.specs = [HostSpec.parse(h) for h in hosts]
        self.user = user or os.environ.get("USER") or "root"
        self.key_file = os.path.abspath(os.path.expanduser(key_file)) if key_file else None
        if self.key_file and not os.path.isfile(self.key_file):
            raise HarnessError(f"--ssh-key {self.key_file}: no such file")
        self.port = port or 22
        self.sudo = sudo
        self.accept_unknown_host_keys = accept_unknown_host_keys
        self.known_hosts = os.path.abspath(os.path.expanduser(known_hosts)) if known_hosts \
            else None
        if self.known_hosts and not os.path.isfile(self.known_hosts):
            raise HarnessError(f"--ssh-known-hosts {self.known_hosts}: no such file")
        self.base_dir = base_dir
        self.connect_timeout = connect_timeout

    def _connect(self, spec: HostSpec):
        import paramiko
        user, port = spec.user or self.user, spec.port or self.port
        client = paramiko.SSHClient()
        if self.known_hosts:
            if not os.path.isfile(self.known_hosts):
                raise HarnessError(f"known_hosts file {self.known_hosts} does not exist")
            client.load_host_keys(self.known_hosts)
        else:
            client.load_system_host_keys()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy() if self.accept_unknown_host_keys
                                           else paramiko.RejectPolicy())
        where = f"{user}@{spec.host}:{port}"
        pkey = self._load_key()
        try:
            client.connect(spec.host, port=port, username=user, pkey=pkey,
                           timeout=self.connect_timeout, banner_timeout=self.connect_timeout,
                           auth_timeout=self.connect_timeout, allow_agent=self.key_file is None,
                           look_for_keys=self.key_file is None)
        except paramiko.BadHostKeyException as e:
            raise HarnessError(f"host key of {spec.host}:{port} does not match known_hosts: "
                               f"if the host was reinstalled, remove its old key with "
                               f"ssh-keygen -R {spec.host}") from e
        except paramiko.SSHException as e:
            if "not found in known_hosts" in str(e):
                raise HarnessError(f"host key of {spec.host}:{port} is not in "
                                   f"{self.known_hosts or '~/.ssh/known_hosts'}: add it (ssh-keyscan "
                                   f"after checking its fingerprint), name a known_hosts file "
                                   f"with --ssh-known-hosts, or pass "
                                   f"--ssh-accept-unknown-host-keys") from e
            if isinstance(e, paramiko.AuthenticationException):
                raise HarnessError(f"SSH authentication failed for {where}: check the user, "
                                   f"the key ({self.key_file or 'agent/~/.ssh keys'}) and that "
                                   f"its public key is in ~{user}/.ssh/authorized_keys") from e
            raise HarnessError(f"ssh to {where} failed: {e}") from e
        except (TimeoutError, OSError) as e:
            raise HarnessError(f"cannot reach {where}: {e.strerror or e}: check the host is up "
                               f"and sshd listens on port {port}") from e
        return client

    def _load_key(self):
        """The private key of ``key_file`` (any type paramiko knows), or None for agent/defaults."""
        if not self.key_file:
            return None
        import paramiko
        try:
            return paramiko.PKey.from_path(self.key_file)
        except paramiko.PasswordRequiredException as e:
            raise HarnessError(f"ssh key {self.key_file} is encrypted: load it into ssh-agent "
                               f"and leave out the key file") from e
        except (paramiko.SSHException, OSError, ValueError) as e:
            raise HarnessError(f"cannot load ssh key {self.key_file}: {e}") from e

    def _address(self, client, spec: HostSpec) -> str:
        peer = client.get_transport().getpeername()[0]
        return peer or spec.host

    def base_dir_for(self, spec: HostSpec) -> str:
        """Where splitbrain keeps its files on a host: /var/lib/splitbrain as root (or with
        sudo), else /tmp/splitbrain-<user>; ``base_dir`` overrides."""
        if self.base_dir:
            return self.base_dir
        user = spec.user or self.user
        return DEFAULT_BASE_DIR if self.sudo or user == "root" else f"/tmp/splitbrain-{user}"

    def work_dir(self, test_name: str, spec: HostSpec | None = None) -> str:
        check_name(test_name, "test name")      # it becomes a path that `rm -rf` removes
        return f"{self.base_dir_for(spec or self.specs[0])}/{test_name}"

    def _nodes(self, test_name: str, count: int | None) -> list[SSHNode]:
        specs = self.specs if count is None else self.specs[:count]
        nodes = []
        try:
            for i, spec in enumerate(specs, start=1):
                client = self._connect(spec)
                nodes.append(SSHNode(client, spec, f"n{i}", self._address(client, spec),
                                     self.work_dir(test_name, spec), self.sudo))
        except Exception:
            for n in nodes:
                n.close()
            raise
        return nodes

    def create(self, test_name: str, count: int) -> list[Node]:
        if count > len(self.specs):
            raise HarnessError(f"{count} nodes asked but only {len(self.specs)} hosts given: "
                               f"add hosts to --nodes / --nodes-file")
        if count < 1:
            raise HarnessError(f"a cluster needs at least one node, not {count}")
        nodes = self._nodes(test_name, count)
        for n in nodes:
            self.made("workdir", f"{n.spec.host}:{n.work_dir}")
            _kill_daemons(n)
            n.exec(["rm", "-rf", n.work_dir])
            n.exec(["mkdir", "-p", f"{n.work_dir}/run", f"{n.work_dir}/logs"])
        return list(nodes)

    def attach(self, test_name: str) -> list[Node]:
        return list(self._nodes(test_name, None))

    def backend_args(self) -> dict[str, Any]:
        """The hosts and the credentials reference (paths, never key material)."""
        return {"hosts": [_host_text(s) for s in self.specs], "user": self.user,
                "key_file": self.key_file, "port": self.port, "sudo": self.sudo,
                "accept_unknown_host_keys": self.accept_unknown_host_keys,
                "known_hosts": self.known_hosts, "base_dir": self.base_dir}

    def destroy(self, test_name: str) -> None:
        for n in self._nodes(test_name, None):
            try:
                _kill_daemons(n)
                n.exec(["rm", "-rf", n.work_dir], check=False)
            finally:
                n.close()


def _host_text(spec: HostSpec) -> str:
    """``[user@]host[:port]`` again, as ``--nodes`` takes it."""
    host = f"[{spec.host}]" if ":" in spec.host else spec.host
    return f"{spec.user + '@' if spec.user else ''}{host}{':' + str(spec.port) if spec.port else ''}"


def _kill_daemons(node: SSHNode, run_dir: str | None = None) -> None:
    """SIGKILL the process group of every daemon with a pid file in ``run_dir``."""
    run_dir = run_dir or f"{node.work_dir}/run"
    node.exec(f"for f in {shlex.quote(run_dir)}/*.pid; do [ -f \"$f\" ] || continue; "
              f"p=$(cat \"$f\"); [ -n \"$p\" ] || continue; kill -CONT -- -$p 2>/dev/null; "
              f"kill -KILL -- -$p 2>/dev/null || kill -KILL $p 2>/dev/null; rm -f \"$f\"; done; true",
              check=False)

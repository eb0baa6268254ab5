"""The harness side of splitbrain's textbook protocol nodes (quorum, 2PC, 3PC, Paxos).

Each protocol is a package ``splitbrain.<package>`` run on every node as
``python3 -m splitbrain.<package>`` beside a copy of :mod:`splitbrain.nodekit`
(standard library only, so a node needs nothing but ``python3``). This module holds
what the four systems share: copying those sources onto a node, the command line
(``--id --peers --data-dir --opt``), start / wipe / logs, a health check, and a
client that speaks the kit's JSON-over-HTTP and turns its answers into
:class:`ClientError` with the right ``definite`` verdict.

A protocol's System subclasses :class:`PyNodeSystem` and says its ``package``, its
``options`` (every ``-o`` key but ``python`` and ``timeout`` is passed to the node
as ``--opt key=value``) and its client class.
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import shutil
import socket
import tempfile
from typing import Any, ClassVar

import splitbrain
from splitbrain.clusters.node import Node
from splitbrain.clusters.system import Client, System, SystemOption, all_answer
from splitbrain.errors import ClientError, HarnessError

PORT = 7100

#: options every PyNodeSystem has; they stay on the harness side
COMMON_OPTIONS: dict[str, SystemOption] = {
    "timeout": SystemOption(3.0, "client request timeout in seconds", float),
    "python": SystemOption("python3", "python interpreter on the nodes (3.11+)"),
}


def install_sources(node: Node, python: str, lib_dir: str, parts: list[str], note: str) -> None:
    """Copy parts of our own source tree (packages or modules under ``splitbrain/``) to
    ``<lib_dir>/splitbrain`` on the node, after checking its python is 3.11+: the node
    programs need nothing else."""
    py, lib = shlex.quote(python), shlex.quote(lib_dir)
    r = node.exec(["sh", "-c", f"command -v {py} >/dev/null && {py} -c "
                               f"'import sys; sys.exit(sys.version_info < (3, 11))' && "
                               f"rm -rf {lib}/splitbrain && mkdir -p {lib} "
                               f"{shlex.quote(node.work_dir)}/logs "
                               f"{shlex.quote(node.work_dir)}/run"], check=False)
    if r.rc != 0:
        raise HarnessError(f"python 3.11+ ({python}) not found on {node.name}: "
                           f"install python3 or pass -o python=/path/to/python3")
    src = os.path.dirname(splitbrain.__file__)
    with tempfile.TemporaryDirectory(prefix="splitbrain-node-") as tmp:
        stage = os.path.join(tmp, "splitbrain")
        os.makedirs(stage)
        for part in parts:
            if part.endswith(".py"):
                shutil.copy(os.path.join(src, part), stage)
            else:
                shutil.copytree(os.path.join(src, part), os.path.join(stage, part),
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        with open(os.path.join(stage, "__init__.py"), "w") as f:
            f.write(f'"""splitbrain: {note}."""\n')
        node.put_file(stage, f"{lib_dir}/splitbrain")


class PyNodeClient(Client):
    """A client pinned to one node: ``POST /route`` with JSON, errors as ClientError."""

    def __init__(self, node: Node, *, port: int = PORT, timeout: float = 3.0) -> None:
        super().__init__(node)
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def call(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request. Refused connections are definite; a lost answer is not."""
        what = f"{self.node.name}{route}"
        if self._conn is None:
            conn = http.client.HTTPConnection(self.node.address, self.port, timeout=self.timeout)
            try:
                conn.connect()
            except OSError as e:  # nothing was sent
                raise ClientError(f"{what}: cannot connect: {e}", definite=True) from None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conn = conn
        try:
            self._conn.request("POST", route, json.dumps(body).encode(),
                               {"Content-Type": "application/json"})
            resp = self._conn.getresponse()
            out = json.loads(resp.read() or b"{}")
        except (OSError, ValueError, http.client.HTTPException) as e:
            self.close()  # the request may have arrived: the outcome is unknown
            raise ClientError(f"{what}: {e!r}", definite=False) from None
        if resp.status != 200:
            raise ClientError(f"{what}: {out.get('error')}",
                              definite=bool(out.get("definite", False)))
        return out

    def status(self) -> dict[str, Any]:
        return self.call("/status", {})

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PyNodeSystem(System):
    """A cluster of ``python3 -m splitbrain.<package>`` nodes on port 7100."""

    package: ClassVar[str] = ""
    #: other node packages the protocol imports (copied too), e.g. 3PC reuses 2PC's
    extra_packages: ClassVar[tuple[str, ...]] = ()
    client_class: ClassVar[type[PyNodeClient]] = PyNodeClient
    supports: ClassVar[frozenset[str]] = frozenset({"kill", "pause", "clock"})
    healthy_timeout: ClassVar[float] = 30.0

    def _opt(self, key: str) -> Any:
        return self.opts.get(key, self.options[key].default)

    def lib_dir(self, node: Node) -> str:
        return f"{node.work_dir}/lib"

    def data_dir(self, node: Node) -> str:
        return f"{node.work_dir}/data"

    def endpoint(self, node: Node) -> str:
        return f"http://{node.address}:{PORT}"

    def node_opts(self) -> dict[str, Any]:
        """The ``-o`` options the node itself reads (all but the harness-side ones)."""
        return {k: self._opt(k) for k in self.options if k not in COMMON_OPTIONS}

    @staticmethod
    def _text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value)
        return str(value)

    def command(self, node: Node) -> list[str]:
        peers = ",".join(f"{n.name}={n.address}:{PORT}" for n in self.nodes)
        cmd = [self._opt("python"), "-m", f"splitbrain.{self.package}", "--id", node.name,
               "--peers", peers, "--data-dir", self.data_dir(node)]
        for k, v in self.node_opts().items():
            cmd += ["--opt", f"{k}={self._text(v)}"]
        return cmd

    # -- lifecycle ------------------------------------------------------------------
    def install(self, node: Node) -> None:
        """Copy ``splitbrain/nodekit.py``, ``splitbrain/<package>/`` and the
        ``extra_packages`` onto the node."""
        install_sources(node, self._opt("python"), self.lib_dir(node),
                        [self.package, *self.extra_packages, "nodekit.py"],
                        f"only the {self.package} node was installed here")

    def start(self, node: Node) -> None:
        """Start the node's daemon (a restart after kill reinstalls only if needed)."""
        if node.daemon_running(self.daemon):
            return
        # in setup, install has just run on every node: no need to look for the sources
        if not self._in_setup and node.exec(
                ["test", "-d", f"{self.lib_dir(node)}/splitbrain/{self.package}"],
                check=False).rc != 0:
            self.install(node)
        node.start_daemon(self.daemon, self.command(node), log_file=self.log_files(node)[0],
                          env={"PYTHONPATH": self.lib_dir(node), "PYTHONUNBUFFERED": "1"})

    def wipe(self, node: Node) -> None:
        node.exec(["rm", "-rf", self.data_dir(node)])

    def log_files(self, node: Node) -> list[str]:
        return [f"{node.work_dir}/logs/{self.daemon}.log"]

    def client(self, node: Node) -> PyNodeClient:
        return self.client_class(node, timeout=float(self._opt("timeout")))

    def healthy(self) -> bool:
        """Every node answers ``/status``."""
        return all_answer(self.nodes, lambda n: self.client_class(n, timeout=1.0),
                          lambda c: c.status())

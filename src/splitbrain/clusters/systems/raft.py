"""splitbrain's own Raft KV store as a system under test.

Install copies the harness's own ``splitbrain.raft`` package (standard library
only) plus a minimal ``splitbrain/__init__.py`` into ``<work_dir>/lib`` on the
node, so the node needs nothing but ``python3``. Each node runs
``python3 -m splitbrain.raft`` with ``PYTHONPATH=<work_dir>/lib``; its data is in
``<work_dir>/raft``. ``-o bug=NAME[,NAME]`` switches on the node's known bugs.

The client wraps :class:`splitbrain.raft.client.RaftClient`, whose errors already
say whether the operation certainly did not take effect (``RaftError.definite``):
that verdict maps straight to :class:`ClientError` (see its docstring and the
error table in ``splitbrain/raft/__init__.py``). It resends an indeterminate write
to the other nodes with the same client id and sequence number for ``-o retry_s``
seconds (default 10), so ``-o bug=no-dedup`` shows as writes applied twice.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import (
    CAS,
    DELETE,
    LOCK,
    READ,
    TXN,
    WRITE,
    Client,
    System,
    SystemOption,
    all_answer,
    answers,
    first_answer,
    name_list,
)
from splitbrain.clusters.systems.pynode import install_sources
from splitbrain.errors import ClientError, HarnessError
from splitbrain.raft.client import RaftClient, RaftError
from splitbrain.raft.core import BUGS
from splitbrain.retry import poll

RAFT_PORT = 7001
CLIENT_PORT = 8001


parse_bugs = name_list(BUGS)


class RaftKVClient(Client):
    """A client pinned to one Raft node (followers proxy to the leader)."""

    capabilities: ClassVar[frozenset[str]] = frozenset({READ, WRITE, CAS, DELETE, TXN, LOCK})

    def __init__(self, node: Node, *, timeout: float = 5.0, lock_timeout: float = 10.0,
                 port: int = CLIENT_PORT, others: list[Node] | None = None,
                 retry_s: float = 0.0) -> None:
        super().__init__(node)
        self.lock_timeout = lock_timeout
        # An indeterminate write is resent with the same (client, seq) to the other
        # nodes for retry_s seconds, as etcd's and ZooKeeper's clients retry.
        self.raft = RaftClient(f"http://{node.address}:{port}", timeout=timeout,
                               fallbacks=[f"http://{n.address}:{port}" for n in others or []
                                          if n.name != node.name],
                               retry_s=retry_s)

    def _call(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        # RaftError.definite is the server's (or the transport's) verdict: True only
        # when the op was rejected before proposing, or was a read; see RaftClient.
        try:
            return fn(*args, **kw)
        except RaftError as e:
            raise ClientError(f"raft {self.node.name} {what}: {e}", definite=e.definite) from None

    def read(self, key: str) -> Any:
        return self._call("get", self.raft.get, key)

    def write(self, key: str, value: Any) -> None:
        self._call("put", self.raft.put, key, value)

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        if expected is None:
            return self._call("cas", self.raft.cas, key, None, new, create_only=True)
        return self._call("cas", self.raft.cas, key, expected, new)

    def delete(self, key: str) -> None:
        self._call("delete", self.raft.delete, key)

    def txn(self, ops: list[list[Any]]) -> list[list[Any]]:
        return self._call("txn", self.raft.txn, [list(o) for o in ops])

    def lock_acquire(self, name: str, lease_s: float) -> Any:
        """Try until held or ``lock_timeout``; "held by another" (409) is a definite no."""
        owner = self.raft.client_id
        held_by_other: RaftError | None = None

        def attempt() -> tuple[Any] | None:   # (token,)
            nonlocal held_by_other
            try:
                return (self.raft.lock_acquire(name, owner, lease_s),)
            except RaftError as e:
                if not (e.status == 409 and e.definite):
                    raise ClientError(f"raft {self.node.name} lock {name!r}: {e}",
                                      definite=e.definite) from None
                held_by_other = e
                return None

        token = poll(attempt, timeout=self.lock_timeout, interval=0.05)
        if token is None:
            raise ClientError(f"raft lock {name!r} not acquired within "
                              f"{self.lock_timeout:.0f}s: {held_by_other}", definite=True)
        return token[0]

    def lock_release(self, name: str, token: Any) -> None:
        """Release; a lease that already ran out released the lock by itself (no error)."""
        self._call("lock release", self.raft.lock_release, name, int(token))

    def status(self) -> dict[str, Any]:
        return self._call("status", self.raft.status)

    def close(self) -> None:
        self.raft.close()


class RaftSystem(System):
    """A cluster of splitbrain Raft nodes, one ``python3 -m splitbrain.raft`` per node."""

    name: ClassVar[str] = "raft"
    daemon: ClassVar[str] = "raft"
    supports: ClassVar[frozenset[str]] = frozenset({"kill", "pause", "member", "clock"})  # libfaketime reaches python3
    capabilities: ClassVar[frozenset[str] | None] = RaftKVClient.capabilities
    options: ClassVar[dict[str, SystemOption]] = {
        "bug": SystemOption((), "known bugs to switch on, comma-separated: " + ", ".join(BUGS),
                            parse_bugs),
        "timeout": SystemOption(5.0, "client request timeout in seconds", float),
        "retry_s": SystemOption(10.0, "seconds a client resends an indeterminate write (same "
                                "client id and seq) to the other nodes; 0: never", float),
        "election_ms": SystemOption(300.0, "election timeout base in ms", float),
        "heartbeat_ms": SystemOption(75.0, "heartbeat interval in ms", float),
        "python": SystemOption("python3", "python interpreter on the nodes (3.11+)"),
    }

    def __init__(self, nodes: list[Node], opts: dict[str, Any], test_name: str = "test") -> None:
        super().__init__(nodes, opts, test_name)

    def _opt(self, key: str) -> Any:
        v = self.opts.get(key, self.options[key].default)
        if key == "bug" and isinstance(v, str):
            v = parse_bugs(v)
        return v

    def lib_dir(self, node: Node) -> str:
        return f"{node.work_dir}/lib"

    def data_dir(self, node: Node) -> str:
        return f"{node.work_dir}/raft"

    def peer_addr(self, node: Node) -> str:
        return f"{node.address}:{RAFT_PORT}:{CLIENT_PORT}"

    def endpoint(self, node: Node) -> str:
        return f"http://{node.address}:{CLIENT_PORT}"

    # -- lifecycle ------------------------------------------------------------------
    def install(self, node: Node) -> None:
        """Copy ``splitbrain/raft`` (sources only) and a stub ``splitbrain/__init__.py``."""
        install_sources(node, self._opt("python"), self.lib_dir(node), ["raft"],
                        "only the Raft node was installed here")

    def command(self, node: Node, *, join: bool = False) -> list[str]:
        """The node's command line (``join``: wait to be added to a running cluster)."""
        peers = ",".join(f"{n.name}={self.peer_addr(n)}" for n in (
            [node] if join else self.nodes))
        cmd = [self._opt("python"), "-m", "splitbrain.raft", "--id", node.name,
               "--peers", peers, "--client-port", str(CLIENT_PORT),
               "--data-dir", self.data_dir(node),
               "--election-ms", str(self._opt("election_ms")),
               "--heartbeat-ms", str(self._opt("heartbeat_ms"))]
        if join:
            cmd.append("--join")
        for b in self._opt("bug"):
            cmd += ["--bug", b]
        return cmd

    def _has_data(self, node: Node) -> bool:
        return node.exec(["test", "-f", f"{self.data_dir(node)}/bootstrap.json"],
                         check=False).rc == 0

    def start(self, node: Node) -> None:
        """Start the node; a node without data after bootstrap starts with ``--join``."""
        if node.daemon_running(self.daemon):
            self._expected_up.add(node.name)
            return
        if node.exec(["test", "-d", f"{self.lib_dir(node)}/splitbrain/raft"],
                     check=False).rc != 0:
            self.install(node)
        join = self._joins_running_cluster(node)
        node.start_daemon(self.daemon, self.command(node, join=join),
                          log_file=self.log_files(node)[0],
                          env={"PYTHONPATH": self.lib_dir(node), "PYTHONUNBUFFERED": "1"})
        self._expected_up.add(node.name)

    def wipe(self, node: Node) -> None:
        node.exec(["rm", "-rf", self.data_dir(node)])

    def log_files(self, node: Node) -> list[str]:
        return [f"{node.work_dir}/logs/raft.log"]

    def client(self, node: Node) -> RaftKVClient:
        return RaftKVClient(node, timeout=float(self._opt("timeout")), others=self.nodes,
                            retry_s=float(self._opt("retry_s")))

    def _admin(self, node: Node, timeout: float = 2.0) -> RaftKVClient:
        return RaftKVClient(node, timeout=timeout)

    # -- health, leader, members -----------------------------------------------------
    def _statuses(self) -> list[tuple[Node, dict[str, Any]]]:
        return answers(self.nodes, lambda n: self._admin(n, timeout=1.0), lambda c: c.status())

    def leader(self) -> Node | None:
        """The node whose status says leader (the highest term if several do)."""
        best: tuple[int, Node] | None = None
        for n, st in self._statuses():
            if st.get("role") == "leader" and (best is None or int(st.get("term", 0)) > best[0]):
                best = (int(st.get("term", 0)), n)
        return best[1] if best else None

    def members(self) -> list[str]:
        """Voters as the leader sees them (or, without a leader, the first node that answers)."""
        ld = self.leader()
        try:
            m = first_answer(([ld] if ld else []) + self.nodes, self._admin,
                             lambda c: c.status().get("members") or {})
        except ClientError:
            return []
        return sorted(m) if isinstance(m, dict | list) else []

    def healthy(self) -> bool:
        """There is a leader and every member answers a linearizable read."""
        names = set(self.members())
        if not names or self.leader() is None:
            return False
        return all_answer([n for n in self.nodes if n.name in names], self._admin,
                          lambda c: c.read("splitbrain-health"))

    def _admin_call(self, what: str, fn_name: str, *args: Any, avoid: Node,
                    timeout: float = 30.0) -> Any:
        """A membership call through the leader (or any other node, which proxies it)."""
        deadline = time.monotonic() + timeout
        errors: list[str] = []

        def attempt() -> tuple[Any] | None:   # (answer,): the answer itself may be None
            ld = self.leader()
            for n in [x for x in ([ld] if ld else []) + self.nodes if x.name != avoid.name]:
                c = self._admin(n, timeout=max(5.0, deadline - time.monotonic()))
                try:
                    return (getattr(c.raft, fn_name)(*args),)
                except RaftError as e:
                    errors.append(f"{n.name}: {e}")
                    if e.status == 400:
                        raise HarnessError(f"raft {what} {avoid.name}: {e}") from None
                finally:
                    c.close()
            return None

        answer = poll(attempt, timeout=timeout, interval=0.3)
        if answer is None:
            raise HarnessError(f"raft {what} {avoid.name} failed: " + "; ".join(errors[-4:]))
        return answer[0]

    def member_remove(self, node: Node) -> None:
        """Remove ``node`` from the voters, then stop it and wipe its data."""
        if node.name not in self.members():
            raise HarnessError(f"raft: {node.name} is not a member")
        self._admin_call("member remove", "member_remove", node.name, avoid=node)
        self.stop(node)
        self.wipe(node)

    def member_add(self, node: Node) -> None:
        """Start ``node`` empty with ``--join`` and have the leader add it."""
        if node.name in self.members():
            raise HarnessError(f"raft: {node.name} is already a member")
        self.stop(node)
        self.wipe(node)
        self._bootstrapped = True
        self.start(node)
        self._admin_call("member add", "member_add", node.name, self.peer_addr(node), avoid=node)




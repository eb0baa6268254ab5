"""The System and Client interfaces: what a system under test offers the harness.

A System knows how to install, start, kill, pause, restart, wipe and collect
logs on a Node, and how to open a Client to one node. A user's own system is a
subclass loaded with ``--system package.module:Class`` (see README).

Clients expose *capabilities* (read, write, cas, txn, lock, ...). Every client
error is a :class:`ClientError` saying whether the op certainly did not happen
(``definite=True`` -> the harness records ``fail``) or may have (``info``).
"""

from __future__ import annotations

import shlex
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from splitbrain.clusters.node import Node
from splitbrain.errors import ClientError, HarnessError
from splitbrain.retry import poll

# Capability names workloads ask for.
READ, WRITE, CAS, DELETE, TXN, LOCK = "read", "write", "cas", "delete", "txn", "lock"
#: add an element to a grow-only set held at a key (replicas merge by union)
ADD = "add"


def on_each(nodes: list[Node], fn: Callable[[Node], Any]) -> None:
    """Run ``fn(node)`` for every node at once (one thread each); re-raise the first error.

    Installing and starting are independent per node, and on Docker or SSH each
    step is a remote exec: doing the nodes in parallel keeps cluster-up short.
    """
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        for f in [pool.submit(fn, n) for n in nodes]:
            f.result()


@dataclass(frozen=True, slots=True)
class SystemOption:
    """An option a system declares for ``-o key=value`` (plugins declare theirs too)."""

    default: Any
    help: str
    type: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None


def parse_declared(raw: dict[str, Any], declared: dict[str, SystemOption], *, flag: str,
                   owner: str) -> dict[str, Any]:
    """Check ``key=value`` settings against declared options (one line naming the bad key
    or value) and fill in the defaults; values already parsed pass through. Used for a
    system's ``-o`` and a workload's ``-w``."""
    out = {k: o.default for k, o in declared.items()}
    for k, v in raw.items():
        o = declared.get(k)
        if o is None:
            known = ", ".join(sorted(declared)) or "none"
            raise HarnessError(f"{flag} {k}={v}: {owner} has no option {k!r} (known: {known})")
        if o.choices and str(v) not in o.choices:
            raise HarnessError(f"{flag} {k}={v}: expected one of {', '.join(o.choices)}")
        try:
            out[k] = o.type(v) if isinstance(v, str) else v
        except ValueError as e:
            raise HarnessError(f"{flag} {k}={v}: {e}") from None
    return out


def name_list(known: tuple[str, ...], what: str = "bug") -> Callable[[str], tuple[str, ...]]:
    """A SystemOption type for ``a,b`` lists of known names (``-o bug=stale-read,no-fsync``)."""
    def parse(s: str) -> tuple[str, ...]:
        names = tuple(b.strip() for b in str(s).split(",") if b.strip())
        for b in names:
            if b not in known:
                raise ValueError(f"unknown {what} {b!r}: choose from {', '.join(known)}")
        return names
    return parse


def parse_bool(s: str) -> bool:
    v = s.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {s!r}")


def answers(nodes: list[Node], open_client: Callable[[Node], Client],
            ask: Callable[[Client], Any]) -> list[tuple[Node, Any]]:
    """Ask every node through a short-lived client; the nodes that answered, with
    their answers (a ClientError means that node is left out)."""
    out = []
    for n in nodes:
        c = open_client(n)
        try:
            out.append((n, ask(c)))
        except ClientError:
            pass
        finally:
            c.close()
    return out


def all_answer(nodes: list[Node], open_client: Callable[[Node], Client],
               ask: Callable[[Client], Any]) -> bool:
    """True if every node answers; stops at the first ClientError or ``False`` answer."""
    for n in nodes:
        c = open_client(n)
        try:
            if ask(c) is False:
                return False
        except ClientError:
            return False
        finally:
            c.close()
    return True


def first_answer(nodes: list[Node], open_client: Callable[[Node], Client],
                 ask: Callable[[Client], Any]) -> Any:
    """The answer of the first node that gives one; the last ClientError if none does."""
    last: ClientError | None = None
    for n in nodes:
        c = open_client(n)
        try:
            return ask(c)
        except ClientError as e:
            last = e
        finally:
            c.close()
    raise last if last is not None else ClientError("no node to ask", definite=True)


def apply_micro_ops(ops: list[list[Any]], current: dict[str, Any]
                    ) -> tuple[list[list[Any]], dict[str, Any]]:
    """Evaluate a txn's micro-ops ``[f, key, value]`` (r / w / append) over a snapshot.

    For clients that run a transaction as read-snapshot then conditional write:
    returns the completed micro-ops (reads filled in) and the keys to write with
    their new values. ``current`` is updated in place. Bad input is a definite error.
    """
    out: list[list[Any]] = []
    dirty: dict[str, Any] = {}
    for f, k, v in ops:
        k = str(k)
        if f == "r":
            val = current[k]
            out.append([f, k, list(val) if isinstance(val, list) else val])
        elif f == "w":
            current[k] = dirty[k] = v
            out.append([f, k, v])
        elif f == "append":
            cur = current[k]
            if cur is not None and not isinstance(cur, list):
                raise ClientError(f"append to {k!r} whose value {cur!r} is not a list",
                                  definite=True)
            current[k] = dirty[k] = [*(cur or []), v]
            out.append([f, k, v])
        else:
            raise ClientError(f"unknown txn micro-op {f!r}", definite=True)
    return out, dirty


class Client:
    """A connection to one node. Subclasses implement the capabilities they list.

    Values are JSON-able (ints, strings, lists, None). ``read`` returns ``None``
    for a missing key. ``txn`` takes micro-ops ``[f, key, value]`` with f in
    ``r`` / ``w`` / ``append`` and returns them with read values filled in.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, node: Node) -> None:
        self.node = node

    def read(self, key: str) -> Any:
        raise NotImplementedError

    def write(self, key: str, value: Any) -> None:
        raise NotImplementedError

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        """Set key to ``new`` if it holds ``expected``; False (a definite no) otherwise."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def add(self, key: str, element: Any) -> None:
        """Add ``element`` to the grow-only set at ``key``; ``read(key)`` returns its
        elements as a list. For stores without cas that merge sets by union."""
        raise NotImplementedError

    def txn(self, ops: list[list[Any]]) -> list[list[Any]]:
        raise NotImplementedError

    def lock_acquire(self, name: str, lease_s: float) -> Any:
        """Block until held (or raise ClientError); return a token for release."""
        raise NotImplementedError

    def lock_release(self, name: str, token: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class System(ABC):
    """A system under test on a set of nodes.

    Subclasses set ``name``, ``daemon`` (the daemon name used for the pid file),
    ``options`` (declared ``-o`` options) and implement install/start/wait/client.
    Kill, pause and resume default to signals on the daemon's process group.
    """

    name: ClassVar[str] = "system"
    daemon: ClassVar[str] = "db"
    options: ClassVar[dict[str, SystemOption]] = {}
    #: faults this system can take: a subset of kill, pause, member, clock
    supports: ClassVar[frozenset[str]] = frozenset({"kill", "pause"})
    #: what its clients offer (read, write, cas, delete, txn, lock): declare it, so a
    #: workload the client cannot serve is refused before any node starts. ``None``
    #: (undeclared) defers the check until the first client is open.
    capabilities: ClassVar[frozenset[str] | None] = None

    #: seconds wait_healthy waits by default (JVMs take longer)
    healthy_timeout: ClassVar[float] = 60.0

    def __init__(self, nodes: list[Node], opts: dict[str, Any], test_name: str = "test") -> None:
        self.nodes = nodes
        self.opts = opts
        self.test_name = test_name
        self._expected_up: set[str] = set()   # nodes whose daemon we started and not stopped
        self._bootstrapped = False
        self._in_setup = False

    @classmethod
    def parse_options(cls, raw: dict[str, str]) -> dict[str, Any]:
        """Validate ``-o`` options against the declared ones; fill defaults."""
        return parse_declared(raw, cls.options, flag="-o", owner=f"system {cls.name!r}")

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    # -- lifecycle ---------------------------------------------------------------
    def install(self, node: Node) -> None:
        """Put binaries/config on the node (idempotent)."""

    @abstractmethod
    def start(self, node: Node) -> None:
        """Start the daemon on the node (with existing state if any)."""

    def stop(self, node: Node) -> None:
        self._expected_up.discard(node.name)
        node.stop_daemon(self.daemon)

    def kill(self, node: Node) -> None:
        """SIGKILL, then wait until the process is gone (so a restart right away works)."""
        self._expected_up.discard(node.name)
        pid = node.daemon_pid(self.daemon)
        node.signal_daemon(self.daemon, signal.SIGKILL)
        if pid is not None:
            node.wait_gone(pid)

    def pause(self, node: Node) -> None:
        node.signal_daemon(self.daemon, signal.SIGSTOP)

    def resume(self, node: Node) -> None:
        node.signal_daemon(self.daemon, signal.SIGCONT)

    def is_running(self, node: Node) -> bool:
        return node.daemon_running(self.daemon)

    def wipe(self, node: Node) -> None:
        """Delete the node's data (the daemon must be stopped)."""

    def setup(self, progress: Callable[[str, str], Any] | None = None) -> None:
        """Install and start every node (in parallel), then wait until healthy.

        ``progress(node, state)`` hears ``installed`` / ``started`` per node and
        ``healthy`` for all of them at the end (the live view shows it).
        """
        def step(fn: Callable[[Node], Any], state: str) -> Callable[[Node], None]:
            def run(n: Node) -> None:
                fn(n)
                if progress is not None:
                    progress(n.name, state)
            return run

        self._in_setup = True
        try:
            on_each(self.nodes, step(self.install, "installed"))
            on_each(self.nodes, step(self.start, "started"))
        finally:
            self._in_setup = False
        self._bootstrapped = True
        self.wait_healthy()
        if progress is not None:
            for n in self.nodes:
                progress(n.name, "healthy")

    def _has_data(self, node: Node) -> bool:
        """Whether the node holds state from an earlier start (systems that join override)."""
        return False

    def _joins_running_cluster(self, node: Node) -> bool:
        """An empty node started after bootstrap joins the running cluster.

        Outside :meth:`setup`, a System made afresh for a cluster that exists
        (``cluster status``, a recovery) knows that from the other nodes' data.
        """
        if self._has_data(node):
            return False
        if self._bootstrapped:
            return True
        return not self._in_setup and any(self._has_data(n) for n in self.nodes
                                          if n.name != node.name)

    def teardown(self) -> None:
        """Stop every node at once (best effort: the backend removes the nodes anyway)."""
        def stop_quietly(n: Node) -> None:
            try:
                self.stop(n)
            except Exception:  # noqa: BLE001 - teardown is best effort
                pass
        on_each(self.nodes, stop_quietly)

    def _fail_if_exited(self) -> None:
        """Raise with the log tail if a daemon we started has exited."""
        for n in self.nodes:
            if n.name in self._expected_up and not n.daemon_running(self.daemon):
                log = self.log_files(n)[0]
                tail = n.exec(["sh", "-c", f"tail -n 3 {shlex.quote(log)}"],
                              check=False).stdout.strip().replace("\n", " | ")
                raise HarnessError(f"{self.name} on {n.name} exited: "
                                   f"{tail[-400:] or 'no log output'} (log: {log})")

    def health_detail(self) -> str:
        """What to say about the nodes when wait_healthy gives up (e.g. who is silent)."""
        return ""

    def wait_healthy(self, timeout: float | None = None) -> None:
        """Block until :meth:`healthy`; fail fast with the log tail if a daemon exited."""
        timeout = self.healthy_timeout if timeout is None else timeout
        next_check = time.monotonic() + 1.0   # liveness checks cost an exec per node
        last: Exception | None = None

        def attempt() -> bool | None:
            nonlocal next_check, last
            try:
                if self.healthy():
                    return True
            except Exception as e:  # noqa: BLE001 - retried until the deadline
                last = e
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 1.5
                self._fail_if_exited()
            return None

        if poll(attempt, timeout=timeout, interval=0.25):
            return
        detail = self.health_detail()
        raise HarnessError(f"{self.name} cluster not healthy after {timeout:.0f}s"
                           + (f": {detail}" if detail else "") + (f"; {last}" if last else "")
                           + f" (see the nodes' {self.daemon} logs)")

    def healthy(self) -> bool:
        """True once the cluster accepts client requests."""
        return True

    def leader(self) -> Node | None:
        """The current leader, if the system has one and it is known."""
        return None

    def members(self) -> list[str]:
        """Names of the nodes currently in the cluster configuration."""
        return [n.name for n in self.nodes]

    def member_remove(self, node: Node) -> None:
        raise HarnessError(f"{self.name} does not support membership changes")

    def member_add(self, node: Node) -> None:
        raise HarnessError(f"{self.name} does not support membership changes")

    def log_files(self, node: Node) -> list[str]:
        """Paths on the node of logs worth keeping in the store."""
        return [f"{node.work_dir}/logs/{self.daemon}.log"]

    def endpoint(self, node: Node) -> str:
        """A human-readable client endpoint for ``cluster up`` output."""
        return node.address

    @abstractmethod
    def client(self, node: Node) -> Client:
        """Open a client pinned to ``node``."""

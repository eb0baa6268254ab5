"""ZooKeeper as a system under test, and its client over kazoo.

Each node runs one JVM in the foreground (``QuorumPeerMain zoo.cfg``) with
Debian's jars (``/usr/share/java/zookeeper.jar``, whose manifest names its
dependencies), a small heap so five JVMs fit on a laptop, and its data, myid
and config under ``<work_dir>/zookeeper``. The leader is found with the
``srvr`` four-letter word (whitelisted in zoo.cfg).

Values are stored JSON-encoded in znodes under ``/splitbrain/kv``; cas is a
versioned ``set``; transactions are one ``multi`` that re-checks the versions
read; locks are ephemeral sequential znodes in a session whose timeout is the
lease.
"""

from __future__ import annotations

import json
import logging
import shlex
import socket
import threading
import time
from typing import Any, ClassVar
from urllib.parse import quote

from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    ConnectionClosedError,
    KazooException,
    NodeExistsError,
    NoNodeError,
)
from kazoo.handlers.threading import KazooTimeoutError

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
    apply_micro_ops,
    parse_bool,
)
from splitbrain.errors import ClientError, HarnessError

CLIENT_PORT = 2181
QUORUM_PORT = 2888
ELECTION_PORT = 3888
KV_ROOT = "/splitbrain/kv"
LOCK_ROOT = "/splitbrain/locks"
ZK_JAR = "/usr/share/java/zookeeper.jar"
#: slf4j binding so the JVM logs to stdout (the daemon log); optional.
LOG_JAR = "/usr/share/java/slf4j-simple.jar"


# -- error mapping ----------------------------------------------------------------
#
# Data outcomes are answers, not errors: NoNode / NodeExists / BadVersion come
# from the leader's decision and mean the write was not applied, so cas returns
# False (definite) and write / delete handle them.
#
# For the remaining failures (mapped in ZooKeeperClient._do):
# * ConnectionClosedError: the kazoo client was closed before the request was
#   queued -> definite.
# * A session that could not be established (connect timeout at start): nothing
#   was sent -> definite.
# * ConnectionLoss: kazoo fails every sent *and* queued request with it when the
#   TCP connection drops; a sent write may have been committed -> indefinite
#   for writes, definite for reads.
# * OperationTimeout, and our own wait timing out (KazooTimeoutError): the
#   request may still be queued in kazoo and sent after a reconnect, or be in
#   flight -> indefinite for writes.
# * SessionExpired: in-flight requests are failed with it when the session
#   expires, and they may have been committed before -> indefinite for writes.
# * Any other ZooKeeper error on a write (SystemError, MarshallingError, ...):
#   unknown -> indefinite. Reads: always definite (a read has no effect).


def znode_for(key: str, root: str = KV_ROOT) -> str:
    """The znode holding ``key`` (any string: slashes and the like are %-quoted)."""
    return f"{root}/{quote(str(key), safe='') or '%00'}"


def _enc(v: Any) -> bytes:
    return json.dumps(v, sort_keys=True, separators=(",", ":")).encode()


def _dec(b: bytes | None) -> Any:
    return None if b is None or b == b"" else json.loads(b)


def four_letter(address: str, word: str = "srvr", port: int = CLIENT_PORT,
                timeout: float = 1.0) -> str:
    """Send a four-letter word to a ZooKeeper server and return its answer."""
    with socket.create_connection((address, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(word.encode())
        chunks = []
        while True:
            b = s.recv(4096)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode(errors="replace")


def parse_mode(srvr: str) -> str | None:
    """``leader`` / ``follower`` / ``standalone`` / ``observer`` from a srvr answer."""
    for line in srvr.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


class ZooKeeperClient(Client):
    """A kazoo session pinned to one ZooKeeper server (no failover to others)."""

    capabilities: ClassVar[frozenset[str]] = frozenset({READ, WRITE, CAS, DELETE, TXN, LOCK})

    def __init__(self, node: Node, *, sync: bool = False, session_timeout: float = 5.0,
                 timeout: float = 5.0, lock_timeout: float = 10.0) -> None:
        super().__init__(node)
        self.sync = sync
        self.timeout = timeout
        self.lock_timeout = lock_timeout
        self.session_timeout = session_timeout
        self.connect_timeout = min(timeout, 3.0)
        self._guard = threading.Lock()
        self._started: set[int] = set()
        self._zk = self._new_session(session_timeout)
        #: locks live in their own session whose timeout is the lease (see lock_acquire)
        self._lock_zk: KazooClient | None = None
        self._lock_lease = 0.0
        self._held: set[str] = set()
        self._kv_root_made = False
        self.txn_retries = 3

    def _new_session(self, timeout_s: float) -> KazooClient:
        return KazooClient(
            hosts=f"{self.node.address}:{CLIENT_PORT}", timeout=timeout_s,
            connection_retry={"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 1.0},
            command_retry=None, logger=logging.getLogger(f"splitbrain.zookeeper.{self.node.name}"))

    def _ensure(self, zk: KazooClient) -> None:
        """Open ``zk``'s session on first use; a session that can't open sent nothing."""
        with self._guard:
            if id(zk) in self._started:
                return
            try:
                zk.start(timeout=self.connect_timeout)
            except KazooTimeoutError:
                zk.stop()
                raise ClientError(f"zookeeper {self.node.name}: no session within "
                                  f"{self.connect_timeout:.0f}s (not sent)", definite=True) from None
            self._started.add(id(zk))

    def _close_session(self, zk: KazooClient) -> None:
        with self._guard:
            if id(zk) in self._started:
                self._started.discard(id(zk))
                try:
                    zk.stop()
                finally:
                    zk.close()

    def _do(self, what: str, fn: Any, *args: Any, mutating: bool,
            passthrough: tuple[type[Exception], ...] = (), **kw: Any) -> Any:
        """Run one async kazoo call with a bounded wait and the error mapping above."""
        owner = fn.__self__                      # a KazooClient, or a TransactionRequest
        self._ensure(getattr(owner, "client", owner))
        try:
            return fn(*args, **kw).get(timeout=self.timeout)
        except passthrough:
            raise
        except ConnectionClosedError as e:
            raise ClientError(f"zookeeper {self.node.name} {what}: client closed: {e}",
                              definite=True) from None
        except KazooTimeoutError:
            raise ClientError(f"zookeeper {self.node.name} {what}: no answer within "
                              f"{self.timeout:.0f}s", definite=not mutating) from None
        except KazooException as e:
            raise ClientError(f"zookeeper {self.node.name} {what}: {type(e).__name__} {e}",
                              definite=not mutating) from None

    # -- key/value -----------------------------------------------------------------
    def _get(self, path: str) -> tuple[Any, Any] | None:
        if self.sync:
            self._do("sync", self._zk.sync_async, path, mutating=False)
        try:
            data, stat = self._do("get", self._zk.get_async, path, mutating=False,
                                  passthrough=(NoNodeError,))
        except NoNodeError:
            return None
        return _dec(data), stat

    def read(self, key: str) -> Any:
        got = self._get(znode_for(key))
        return None if got is None else got[0]

    def write(self, key: str, value: Any) -> None:
        path, data = znode_for(key), _enc(value)
        for _ in range(5):
            try:
                self._do("set", self._zk.set_async, path, data, mutating=True,
                         passthrough=(NoNodeError,))
                return
            except NoNodeError:
                pass  # the leader said no such node: nothing applied; create it
            try:
                self._do("create", self._zk.create_async, path, data, makepath=True,
                         mutating=True, passthrough=(NodeExistsError,))
                return
            except NodeExistsError:
                continue  # created concurrently: nothing applied; set it
        raise ClientError(f"zookeeper write {key!r}: set/create raced 5 times (nothing applied)",
                          definite=True)

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        """Versioned set (create-if-absent when ``expected`` is None)."""
        path = znode_for(key)
        if expected is None:
            try:
                self._do("create", self._zk.create_async, path, _enc(new), makepath=True,
                         mutating=True, passthrough=(NodeExistsError,))
                return True
            except NodeExistsError:
                return False
        got = self._get(path)
        if got is None or got[0] != expected:
            return False
        try:
            self._do("set", self._zk.set_async, path, _enc(new), version=got[1].version,
                     mutating=True, passthrough=(BadVersionError, NoNodeError))
        except (BadVersionError, NoNodeError):
            return False
        return True

    def delete(self, key: str) -> None:
        try:
            self._do("delete", self._zk.delete_async, znode_for(key), mutating=True,
                     passthrough=(NoNodeError,))
        except NoNodeError:
            pass

    # -- transactions: reads checked and writes applied in one multi -------------------
    def txn(self, ops: list[list[Any]]) -> list[list[Any]]:
        """Micro-ops ``[f, key, value]`` (f: r / w / append) as one ZooKeeper multi.

        Reads every key (with its version), computes the result locally, then
        commits one multi that re-checks every key: ``set_data`` with the read
        version for written keys that exist, ``create`` for written keys that
        don't, ``check`` (version) for keys only read, and create+delete for keys
        only read and absent (asserting absence). The multi applies all or
        nothing, so all reads are as of the commit point, read-only txns
        included. A rolled-back multi applied nothing: retried, then failed
        definitely. A multi whose outcome is unknown is indefinite if it writes,
        definite if it only checks (create+delete of an absent key nets nothing).
        """
        if not self._kv_root_made:
            self._do("ensure", self._zk.ensure_path_async, KV_ROOT, mutating=False)
            self._kv_root_made = True
        keys = list(dict.fromkeys(str(k) for _, k, _ in ops))
        writes = any(f in ("w", "append") for f, _, _ in ops)
        for _attempt in range(max(1, self.txn_retries)):
            current: dict[str, Any] = {}
            version: dict[str, int | None] = {}
            if self.sync:
                self._do("sync", self._zk.sync_async, KV_ROOT, mutating=False)
            for k in keys:
                try:
                    data, stat = self._do("get", self._zk.get_async, znode_for(k),
                                          mutating=False, passthrough=(NoNodeError,))
                    current[k], version[k] = _dec(data), stat.version
                except NoNodeError:
                    current[k], version[k] = None, None
            out, dirty = apply_micro_ops(ops, current)
            t = self._zk.transaction()
            for k in keys:
                path, ver = znode_for(k), version[k]
                if k in dirty:
                    if ver is None:
                        t.create(path, _enc(dirty[k]))
                    else:
                        t.set_data(path, _enc(dirty[k]), version=ver)
                elif ver is None:
                    t.create(path, b"")
                    t.delete(path)
                else:
                    t.check(path, ver)
            results = self._do("multi", t.commit_async, mutating=writes)
            if not any(isinstance(r, Exception) for r in results):
                return out
        raise ClientError(f"txn conflict: keys changed between read and commit "
                          f"{self.txn_retries} times (nothing applied)", definite=True)

    # -- locks: ephemeral sequential znodes ------------------------------------------
    def _lock_session(self, lease_s: float) -> KazooClient:
        """The session that holds lock znodes: its timeout is at least ``lease_s``.

        ZooKeeper expires an ephemeral znode only when its session times out,
        which the server does no sooner than the session timeout after the last
        contact; zoo.cfg's maxSessionTimeout is raised so the server keeps the
        timeout asked for. So a lock acquired in this session is held under a
        lease of at least ``lease_s`` from its creation, as the lock workload's
        contract requires.
        """
        want = max(float(lease_s), self.session_timeout)
        if self._lock_zk is not None and (self._lock_lease >= want or self._held):
            return self._lock_zk
        if self._lock_zk is not None:
            self._close_session(self._lock_zk)
        self._lock_zk, self._lock_lease = self._new_session(want), want
        return self._lock_zk

    def lock_acquire(self, name: str, lease_s: float) -> Any:
        """Queue an ephemeral sequential znode and wait until it is the lowest.

        The lease is the lock session's timeout (``max(lease_s, -o
        session_timeout)``). Giving up after the lock timeout deletes our znode;
        if that delete is confirmed nothing is held (definite), otherwise the
        znode may still make us the holder (indefinite). Returns the znode path
        as the token.
        """
        zk = self._lock_session(lease_s)
        d = znode_for(name, LOCK_ROOT)
        try:
            mine = self._do("create", zk.create_async, f"{d}/lock-", b"", ephemeral=True,
                            sequence=True, makepath=True, mutating=True)
        except ClientError as e:
            if not e.definite:
                self._drop_lock_session()
            raise
        me = mine.rsplit("/", 1)[1]
        deadline = time.monotonic() + self.lock_timeout
        try:
            while True:
                kids = sorted(self._do("children", zk.get_children_async, d, mutating=False))
                if me not in kids:
                    raise ClientError(f"zookeeper lock {name!r}: our znode vanished "
                                      f"(session expired)", definite=True)
                i = kids.index(me)
                if i == 0:
                    self._held.add(mine)
                    return mine
                woke = threading.Event()
                if self._do("exists", zk.exists_async, f"{d}/{kids[i - 1]}",
                            watch=lambda _e, w=woke: w.set(), mutating=False) is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise ClientError(f"zookeeper lock {name!r}: not acquired within "
                                          f"{self.lock_timeout:.0f}s", definite=True)
                    woke.wait(min(left, 1.0))
        except ClientError as e:
            try:
                self._do("delete", zk.delete_async, mine, mutating=True,
                         passthrough=(NoNodeError,))
            except NoNodeError:
                pass
            except ClientError:
                self._drop_lock_session()
                raise ClientError(f"{e}; and our lock znode could not be removed, so we may "
                                  f"hold it until our lock session ends", definite=False) from None
            raise ClientError(str(e), definite=True) from None

    def lock_release(self, name: str, token: Any) -> None:
        """Delete our lock znode (already gone: the session ended and the lock with it)."""
        zk = self._lock_zk
        if zk is None:
            return  # no lock session: nothing of ours can be held
        try:
            self._do("delete", zk.delete_async, str(token), mutating=True,
                     passthrough=(NoNodeError,))
        except NoNodeError:
            pass
        except ClientError as e:
            if not e.definite:
                self._drop_lock_session()
            raise
        self._held.discard(str(token))

    def _drop_lock_session(self) -> None:
        """End the lock session after a lock call with an unknown outcome.

        A znode we may have created (or failed to delete) would otherwise stay as long
        as our session lives, holding the lock for a client that does not know it holds
        it; closing the session makes the server delete it (at the latest when the
        session times out, which is the lease).
        """
        zk, self._lock_zk = self._lock_zk, None
        self._held.clear()
        if zk is not None:
            try:
                self._close_session(zk)
            except Exception:  # noqa: BLE001 - best effort: the session then expires
                pass

    def close(self) -> None:
        self._close_session(self._zk)
        if self._lock_zk is not None:
            self._close_session(self._lock_zk)


class ZooKeeperSystem(System):
    """A ZooKeeper ensemble: one QuorumPeerMain JVM per node, myid = position + 1."""

    name: ClassVar[str] = "zookeeper"
    daemon: ClassVar[str] = "zookeeper"
    supports: ClassVar[frozenset[str]] = frozenset({"kill", "pause"})
    capabilities: ClassVar[frozenset[str] | None] = ZooKeeperClient.capabilities
    healthy_timeout: ClassVar[float] = 90.0   # a JVM per node
    options: ClassVar[dict[str, SystemOption]] = {
        "sync": SystemOption(True, "sync with the leader before every read: linearizable "
                             "reads (false: stale reads, allowed by ZooKeeper's guarantees)",
                             parse_bool),
        "session_timeout": SystemOption(5.0, "client session timeout in seconds (also the "
                                        "lease of a lock)", float),
        "timeout": SystemOption(5.0, "client request timeout in seconds", float),
        "tick_ms": SystemOption(500, "ZooKeeper tickTime in milliseconds", int),
        "heap": SystemOption("256m", "JVM maximum heap per node (-Xmx)"),
        "java": SystemOption("java", "path of the java binary on the nodes"),
        "classpath": SystemOption("", "JVM classpath (default: Debian's zookeeper.jar)"),
    }

    def __init__(self, nodes: list[Node], opts: dict[str, Any], test_name: str = "test") -> None:
        super().__init__(nodes, opts, test_name)
        self._classpath: dict[str, str] = {}

    def _opt(self, key: str) -> Any:
        return self.opts.get(key, self.options[key].default)

    def zk_dir(self, node: Node) -> str:
        return f"{node.work_dir}/zookeeper"

    def myid(self, node: Node) -> int:
        return [n.name for n in self.nodes].index(node.name) + 1

    def endpoint(self, node: Node) -> str:
        return f"{node.address}:{CLIENT_PORT}"

    def config(self, node: Node) -> str:
        """zoo.cfg for ``node``: every server bound to its own address."""
        lines = [
            f"tickTime={self._opt('tick_ms')}",
            "initLimit=10",
            "syncLimit=5",
            f"dataDir={self.zk_dir(node)}/data",
            f"clientPort={CLIENT_PORT}",
            f"clientPortAddress={node.address}",
            "maxClientCnxns=0",
            "maxSessionTimeout=300000",
            "admin.enableServer=false",
            "4lw.commands.whitelist=*",
            "autopurge.purgeInterval=1",
        ]
        if len(self.nodes) > 1:
            lines.append("standaloneEnabled=false")
        lines += [f"server.{self.myid(n)}={n.address}:{QUORUM_PORT}:{ELECTION_PORT}"
                  for n in self.nodes]
        return "\n".join(lines) + "\n"

    def command(self, node: Node) -> list[str]:
        return [
            self._opt("java"), f"-Xmx{self._opt('heap')}", "-Xms32m", "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1", "-Xss512k", "-Djava.net.preferIPv4Stack=true",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
            "-cp", self._classpath.get(node.name) or self._opt("classpath") or ZK_JAR,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain", f"{self.zk_dir(node)}/zoo.cfg",
        ]

    # -- lifecycle ------------------------------------------------------------------
    def install(self, node: Node) -> None:
        java = self._opt("java")
        if node.exec(["sh", "-c", f"command -v {shlex.quote(java)}"], check=False).rc != 0:
            raise HarnessError(f"java not found on {node.name}: install a JRE "
                               f"(openjdk-17-jre-headless) or pass -o java=/path/to/java")
        cp = self._opt("classpath")
        if not cp:
            if node.exec(["test", "-f", ZK_JAR], check=False).rc != 0:
                raise HarnessError(f"ZooKeeper not found on {node.name} ({ZK_JAR}): install "
                                   f"Debian's zookeeper package or pass -o classpath=...")
            cp = ZK_JAR
            if node.exec(["test", "-f", LOG_JAR], check=False).rc == 0:
                cp += f":{LOG_JAR}"
        self._classpath[node.name] = cp
        d = self.zk_dir(node)
        node.exec(["mkdir", "-p", f"{d}/data", f"{node.work_dir}/logs", f"{node.work_dir}/run"])
        node.write_file(f"{d}/zoo.cfg", self.config(node))
        node.write_file(f"{d}/data/myid", f"{self.myid(node)}\n")

    def start(self, node: Node) -> None:
        if node.daemon_running(self.daemon):
            self._expected_up.add(node.name)
            return
        if node.exec(["test", "-f", f"{self.zk_dir(node)}/data/myid"], check=False).rc != 0:
            self.install(node)  # wiped: config and myid again
        node.start_daemon(self.daemon, self.command(node), log_file=self.log_files(node)[0])
        self._expected_up.add(node.name)

    def wipe(self, node: Node) -> None:
        node.exec(["rm", "-rf", self.zk_dir(node)])

    def log_files(self, node: Node) -> list[str]:
        return [f"{node.work_dir}/logs/zookeeper.log"]

    def client(self, node: Node) -> ZooKeeperClient:
        return ZooKeeperClient(node, sync=bool(self._opt("sync")),
                               session_timeout=float(self._opt("session_timeout")),
                               timeout=float(self._opt("timeout")))

    # -- health and leader -------------------------------------------------------------
    def mode(self, node: Node) -> str | None:
        """The server's mode from ``srvr`` (None if it doesn't answer or isn't serving)."""
        try:
            return parse_mode(four_letter(node.address))
        except OSError:
            return None

    def healthy(self) -> bool:
        """Every server is serving (leader/follower/standalone) and there is one leader."""
        modes = [self.mode(n) for n in self.nodes]
        if any(m not in ("leader", "follower", "standalone", "observer") for m in modes):
            return False
        return modes.count("leader") == 1 or modes == ["standalone"]

    def health_detail(self) -> str:
        return f"modes {({n.name: self.mode(n) for n in self.nodes})}"

    def leader(self) -> Node | None:
        for n in self.nodes:
            if self.mode(n) in ("leader", "standalone"):
                return n
        return None



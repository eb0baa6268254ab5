"""etcd as a system under test, and its client over the v3 JSON gateway.

The cluster is bootstrapped statically (``--initial-cluster``) with a cluster
token unique to this run, keeps its data in ``<work_dir>/etcd``, and restarts
from that data after a kill. Membership changes go through the gateway's
``/v3/cluster/member/*`` endpoints; a removed member is wiped, and re-added
members start with ``--initial-cluster-state existing``.

The client speaks JSON to ``/v3/kv/*``, ``/v3/lease/*`` and ``/v3/lock/*``
over httpx: no gRPC or protobuf dependency. Keys and values travel base64;
values are JSON-encoded before that.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import shlex
from typing import Any, ClassVar

import httpx

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
    apply_micro_ops,
    first_answer,
    parse_bool,
)
from splitbrain.errors import ClientError, HarnessError
from splitbrain.retry import poll

CLIENT_PORT = 2379
PEER_PORT = 2380


# -- error mapping ----------------------------------------------------------------
#
# Whether a failed request certainly did not take effect (definite -> ``fail``)
# or may have (indefinite -> ``info``). Reads have no effect, so every failed
# read is definite. For requests that change state (put, txn, delete, lease
# grant, lock, member add/remove):
#
# * Connection refused / connect timeout / pool timeout: the request never left
#   this process -> definite.
# * Read timeout, connection reset or closed after the request was written:
#   etcd may have proposed it and may still commit it -> indefinite.
# * gRPC status codes that etcd only returns after rejecting a request without
#   changing anything (validation, precondition, permission, not found, out of
#   range, unimplemented): definite. See _DEFINITE_CODES.
# * Messages of errors raised before the request reaches the raft log (see
#   _DEFINITE_MESSAGES):
#     - "etcdserver: no leader": in 3.4 it comes from the require-leader gRPC
#       interceptor (before the handler runs) and from lease renew/TTL
#       forwarding (which change nothing), never after a proposal was made.
#     - "raft proposal dropped": raft refused to append the proposal (this
#       member knows no leader, or a leadership transfer is in progress).
#     - "etcdserver: too many requests": rejected before proposing (the apply
#       loop lags the commit index).
#     - "request is too large", "not capable": rejected before proposing.
# * Everything else on a write is indefinite, in particular
#   "etcdserver: request timed out" (and its "possibly due to previous leader
#   failure" / "connection lost" variants), "etcdserver: leader changed",
#   "etcdserver: server stopped", "etcdserver: request cancelled": the
#   proposal may have been appended and may commit later. An unknown error is
#   indefinite because assuming otherwise could make the checker lie.

#: gRPC codes (as carried in the gateway's JSON error body) that mean "rejected, nothing changed".
_DEFINITE_CODES = frozenset({3, 5, 6, 7, 9, 11, 12, 16})
#: Message fragments of errors raised before a proposal is appended to the raft log.
_DEFINITE_MESSAGES = (
    "etcdserver: no leader",
    "raft proposal dropped",
    "etcdserver: too many requests",
    "request is too large",
    "etcdserver: not capable",
)


def classify_error(message: str, code: int | None, *, mutating: bool) -> bool:
    """True if an etcd error response means the request certainly had no effect."""
    if not mutating:
        return True
    if code is not None and code in _DEFINITE_CODES:
        return True
    return any(m in message for m in _DEFINITE_MESSAGES)






def _b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s)


def encode_value(v: Any) -> str:
    """A value as stored in etcd: canonical JSON (so value compares are exact), base64."""
    return _b64(json.dumps(v, sort_keys=True, separators=(",", ":")))


def decode_value(s: str | None) -> Any:
    return None if s is None else json.loads(_unb64(s))


def _prefix_end(key: bytes) -> bytes:
    """The range end that selects every key starting with ``key``."""
    k = bytearray(key)
    while k and k[-1] == 0xFF:
        k.pop()
    if not k:
        return b"\0"
    k[-1] += 1
    return bytes(k)


class EtcdClient(Client):
    """A client pinned to one etcd member, over its v3 JSON gateway."""

    capabilities: ClassVar[frozenset[str]] = frozenset({READ, WRITE, CAS, DELETE, TXN, LOCK})

    def __init__(self, node: Node, *, serializable: bool = False, timeout: float = 5.0,
                 lock_timeout: float = 10.0, txn_retries: int = 3,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(node)
        self.base_url = f"http://{node.address}:{CLIENT_PORT}"
        self.serializable = serializable
        self.timeout = timeout
        self.lock_timeout = lock_timeout
        self.txn_retries = txn_retries
        self._http = httpx.Client(base_url=self.base_url, transport=transport,
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)))

    # -- transport and errors ------------------------------------------------------
    def call(self, path: str, body: dict[str, Any], *, mutating: bool,
             timeout: float | None = None) -> dict[str, Any]:
        """POST ``body`` to ``path``; raise ClientError with the definite/indefinite verdict."""
        what = f"etcd {self.node.name} {path}"
        try:
            r = self._http.post(path, json=body,
                                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            raise ClientError(f"{what}: not sent: {type(e).__name__}: {e}", definite=True) from None
        except httpx.TimeoutException as e:
            raise ClientError(f"{what}: timed out after sending: {type(e).__name__}",
                              definite=not mutating) from None
        except httpx.TransportError as e:
            raise ClientError(f"{what}: connection failed after sending: {type(e).__name__}: {e}",
                              definite=not mutating) from None
        try:
            data = r.json()
        except ValueError:
            data = {}
        if r.status_code != 200 or not isinstance(data, dict) or "error" in data:
            if not isinstance(data, dict):
                data = {}
            msg = str(data.get("error") or data.get("message") or r.text.strip()
                      or f"HTTP {r.status_code}")
            code = data.get("code")
            raise ClientError(f"{what}: HTTP {r.status_code}: {msg}",
                              definite=classify_error(msg, code if isinstance(code, int) else None,
                                                      mutating=mutating))
        return data

    # -- key/value -----------------------------------------------------------------
    def _range_body(self, key: str) -> dict[str, Any]:
        body: dict[str, Any] = {"key": _b64(key)}
        if self.serializable:
            body["serializable"] = True
        return body

    def get_kv(self, key: str) -> dict[str, Any] | None:
        """The raw key-value record of ``key`` (revisions included), or None."""
        kvs = self.call("/v3/kv/range", self._range_body(key), mutating=False).get("kvs") or []
        return kvs[0] if kvs else None

    def read(self, key: str) -> Any:
        kv = self.get_kv(key)
        return None if kv is None else decode_value(kv.get("value"))

    def write(self, key: str, value: Any) -> None:
        self.call("/v3/kv/put", {"key": _b64(key), "value": encode_value(value)}, mutating=True)

    def delete(self, key: str) -> None:
        self.call("/v3/kv/deleterange", {"key": _b64(key)}, mutating=True)

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        """Txn: if value == expected (or the key is absent when expected is None), put new."""
        if expected is None:
            cmp = {"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
        else:
            cmp = {"key": _b64(key), "target": "VALUE", "result": "EQUAL",
                   "value": encode_value(expected)}
        resp = self.call("/v3/kv/txn", {
            "compare": [cmp],
            "success": [{"request_put": {"key": _b64(key), "value": encode_value(new)}}],
        }, mutating=True)
        # A failed compare applies nothing: a definite "no".
        return bool(resp.get("succeeded"))

    def txn(self, ops: list[list[Any]]) -> list[list[Any]]:
        """Micro-ops ``[f, key, value]`` (f: r / w / append) as one serializable etcd Txn.

        Reads every key in one read-only Txn (one revision), computes the result
        locally, then commits the writes in a Txn that compares every touched
        key's mod_revision with what was read. A failed compare applied nothing,
        so the whole thing is retried a few times and then failed definitely.
        """
        keys = list(dict.fromkeys(str(k) for _, k, _ in ops))
        writes = any(f in ("w", "append") for f, _, _ in ops)
        for _attempt in range(max(1, self.txn_retries)):
            snap = self.call("/v3/kv/txn", {
                "success": [{"request_range": self._range_body(k)} for k in keys],
            }, mutating=False)
            current: dict[str, Any] = {}
            mod_rev: dict[str, str] = {}
            for k, r in zip(keys, snap.get("responses") or [], strict=False):
                kvs = (r.get("response_range") or {}).get("kvs") or []
                current[k] = decode_value(kvs[0].get("value")) if kvs else None
                mod_rev[k] = str(kvs[0].get("mod_revision", "0")) if kvs else "0"
            out, dirty = apply_micro_ops(ops, current)
            if not writes:
                return out
            resp = self.call("/v3/kv/txn", {
                "compare": [{"key": _b64(k), "target": "MOD", "result": "EQUAL",
                             "mod_revision": mod_rev[k]} for k in keys],
                "success": [{"request_put": {"key": _b64(k), "value": encode_value(v)}}
                            for k, v in dirty.items()],
            }, mutating=True)
            if resp.get("succeeded"):
                return out
        raise ClientError(f"txn conflict: keys changed between read and commit "
                          f"{self.txn_retries} times (nothing applied)", definite=True)

    # -- leases and locks ----------------------------------------------------------
    def lease_grant(self, ttl_s: float) -> str:
        resp = self.call("/v3/lease/grant", {"TTL": str(max(1, math.ceil(ttl_s)))}, mutating=True)
        return str(resp["ID"])

    def lease_revoke(self, lease_id: str) -> None:
        self.call("/v3/lease/revoke", {"ID": lease_id}, mutating=True)

    def lock_acquire(self, name: str, lease_s: float) -> Any:
        """Grant a lease of ``lease_s`` and block in etcd's Lock API until held.

        Token: ``{"key": <lock key, base64>, "lease": <lease id>}``. A lease grant
        that fails indefinitely leaves at worst an orphan lease, not a lock, so it
        is reported definite. A Lock call that times out or errors after being
        sent may hold the lock (etcd may grant it just as we give up): indefinite;
        the lease is then revoked best-effort so the lock does not linger.
        """
        try:
            lease = self.lease_grant(lease_s)
        except ClientError as e:
            raise ClientError(f"lock {name!r}: lease grant failed, no lock requested: {e}",
                              definite=True) from None
        try:
            resp = self.call("/v3/lock/lock", {"name": _b64(f"splitbrain-lock/{name}"),
                                               "lease": lease},
                             mutating=True, timeout=self.lock_timeout)
        except ClientError as e:
            try:
                self.lease_revoke(lease)
            except ClientError:
                pass
            raise e from None
        return {"key": resp["key"], "lease": lease}

    def lock_release(self, name: str, token: Any) -> None:
        """Unlock (delete the lock key) then revoke the lease."""
        self.call("/v3/lock/unlock", {"key": token["key"]}, mutating=True)
        try:
            self.lease_revoke(token["lease"])
        except ClientError:
            pass  # the key is gone already; the lease will expire on its own

    # -- cluster-level calls used by the system -------------------------------------
    def status(self) -> dict[str, Any]:
        return self.call("/v3/maintenance/status", {}, mutating=False)

    def member_list(self) -> list[dict[str, Any]]:
        return self.call("/v3/cluster/member/list", {}, mutating=False).get("members") or []

    def close(self) -> None:
        self._http.close()


class EtcdSystem(System):
    """An etcd cluster: one ``etcd`` process per node, data in ``<work_dir>/etcd``."""

    name: ClassVar[str] = "etcd"
    daemon: ClassVar[str] = "etcd"
    supports: ClassVar[frozenset[str]] = frozenset({"kill", "pause", "member"})
    capabilities: ClassVar[frozenset[str] | None] = EtcdClient.capabilities
    options: ClassVar[dict[str, SystemOption]] = {
        "serializable": SystemOption(
            False, "serve reads from the local member without a quorum check (may be stale)",
            parse_bool),
        "snapshot_count": SystemOption(
            0, "committed entries between snapshots (etcd --snapshot-count; 0: etcd's default)",
            int),
        "timeout": SystemOption(5.0, "client request timeout in seconds", float),
        "etcd_binary": SystemOption("etcd", "path of the etcd binary on the nodes"),
    }

    def __init__(self, nodes: list[Node], opts: dict[str, Any], test_name: str = "test") -> None:
        super().__init__(nodes, opts, test_name)
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in test_name)[:40]
        self.cluster_token = f"{safe}-{secrets.token_hex(4)}"

    def _opt(self, key: str) -> Any:
        return self.opts.get(key, self.options[key].default)

    # -- paths and urls -------------------------------------------------------------
    def data_dir(self, node: Node) -> str:
        return f"{node.work_dir}/etcd"

    def peer_url(self, node: Node) -> str:
        return f"http://{node.address}:{PEER_PORT}"

    def endpoint(self, node: Node) -> str:
        return f"http://{node.address}:{CLIENT_PORT}"

    def _node_by_peer_url(self, url: str) -> Node | None:
        for n in self.nodes:
            if self.peer_url(n) == url:
                return n
        return None

    # -- lifecycle ------------------------------------------------------------------
    def install(self, node: Node) -> None:
        binary = self._opt("etcd_binary")
        r = node.exec(["sh", "-c", f"command -v {shlex.quote(binary)}"], check=False)
        if r.rc != 0:
            raise HarnessError(f"etcd binary {binary!r} not found on {node.name}: install "
                               f"Debian's etcd-server or pass -o etcd_binary=/path/to/etcd")
        node.exec(["mkdir", "-p", f"{node.work_dir}/logs", f"{node.work_dir}/run"])

    def command(self, node: Node, *, initial_cluster: str, state: str) -> list[str]:
        """The etcd command line for ``node`` (``state``: new | existing)."""
        cmd = [
            self._opt("etcd_binary"),
            "--name", node.name,
            "--data-dir", self.data_dir(node),
            "--listen-client-urls", self.endpoint(node),
            "--advertise-client-urls", self.endpoint(node),
            "--listen-peer-urls", self.peer_url(node),
            "--initial-advertise-peer-urls", self.peer_url(node),
            "--initial-cluster", initial_cluster,
            "--initial-cluster-token", self.cluster_token,
            "--initial-cluster-state", state,
            "--logger", "zap", "--log-outputs", "stderr",
        ]
        if self._opt("snapshot_count"):
            cmd += ["--snapshot-count", str(self._opt("snapshot_count"))]
        return cmd

    def _has_data(self, node: Node) -> bool:
        return node.exec(["test", "-d", f"{self.data_dir(node)}/member"], check=False).rc == 0

    def start(self, node: Node) -> None:
        """Start etcd; with existing data etcd ignores the bootstrap flags and rejoins.

        A node without data after the cluster was bootstrapped joins the current
        configuration (it must have been added with :meth:`member_add`).
        """
        if node.daemon_running(self.daemon):
            self._expected_up.add(node.name)
            return
        if self._joins_running_cluster(node):
            initial = self._current_initial_cluster(extra=node)
            state = "existing"
        else:
            initial = ",".join(f"{n.name}={self.peer_url(n)}" for n in self.nodes)
            state = "new"
        node.start_daemon(self.daemon, self.command(node, initial_cluster=initial, state=state),
                          log_file=self.log_files(node)[0])
        self._expected_up.add(node.name)

    def wipe(self, node: Node) -> None:
        node.exec(["rm", "-rf", self.data_dir(node)])

    def log_files(self, node: Node) -> list[str]:
        return [f"{node.work_dir}/logs/etcd.log"]

    def client(self, node: Node) -> EtcdClient:
        return EtcdClient(node, serializable=bool(self._opt("serializable")),
                          timeout=float(self._opt("timeout")))

    def _admin(self, node: Node, timeout: float = 2.0) -> EtcdClient:
        """A short-timeout, always-linearizable client for the harness's own calls."""
        return EtcdClient(node, timeout=timeout)

    # -- health, leader, members -----------------------------------------------------

    def health_detail(self) -> str:
        answered = {n.name for n, _ in self._status_all()}
        silent = [n.name for n in self.nodes if n.name not in answered]
        return f"no status from {', '.join(silent)}" if silent else ""

    def healthy(self) -> bool:
        """Every node in the current configuration answers a linearizable read."""
        names = set(self.members())
        if not names:
            return False
        return all_answer([n for n in self.nodes if n.name in names], self._admin,
                          lambda c: c.get_kv("splitbrain-health"))

    def _status_all(self) -> list[tuple[Node, dict[str, Any]]]:
        return answers(self.nodes, lambda n: self._admin(n, timeout=1.0), EtcdClient.status)

    def leader(self) -> Node | None:
        """The member that reports itself leader (highest raft term if several do)."""
        best: tuple[int, Node] | None = None
        for n, st in self._status_all():
            me = str((st.get("header") or {}).get("member_id", ""))
            if me and str(st.get("leader", "")) == me:
                term = int(st.get("raftTerm") or 0)
                if best is None or term > best[0]:
                    best = (term, n)
        return best[1] if best else None

    def _member_list(self) -> list[dict[str, Any]]:
        ordered = ([ld] if (ld := self.leader()) else []) + self.nodes
        try:
            return first_answer(ordered, self._admin, EtcdClient.member_list)
        except ClientError as e:
            raise HarnessError(f"etcd: no node answered member list: {e}") from None

    def _member_node(self, m: dict[str, Any]) -> Node | None:
        for url in m.get("peerURLs") or []:
            n = self._node_by_peer_url(url)
            if n is not None:
                return n
        return None

    def members(self) -> list[str]:
        try:
            ms = self._member_list()
        except HarnessError:
            return []
        return [n.name for m in ms if (n := self._member_node(m)) is not None]

    def _current_initial_cluster(self, extra: Node) -> str:
        entries = {}
        for m in self._member_list():
            n = self._member_node(m)
            if n is not None:
                entries[n.name] = self.peer_url(n)
        entries[extra.name] = self.peer_url(extra)
        return ",".join(f"{k}={v}" for k, v in entries.items())

    def _member_call(self, path: str, body: dict[str, Any], avoid: Node,
                     timeout: float = 20.0) -> dict[str, Any]:
        """Send a membership change through a live member other than ``avoid``.

        etcd refuses a change with "unhealthy cluster" while a member reconnected
        less than 5 s ago (its strict reconfiguration check); that is retried
        until ``timeout``. Other refusals are final.
        """
        last: ClientError | None = None

        def attempt() -> dict[str, Any] | None:
            nonlocal last
            ld = self.leader()
            ordered = [n for n in ([ld] if ld else []) + self.nodes if n.name != avoid.name]
            for n in ordered:
                c = self._admin(n, timeout=10.0)
                try:
                    return c.call(path, body, mutating=True)
                except ClientError as e:
                    last = e
                    if e.definite and "not sent" not in str(e):
                        break  # etcd answered: asking another member won't help
                finally:
                    c.close()
            if "unhealthy cluster" not in str(last):
                raise HarnessError(f"etcd {path} for {avoid.name} failed: {last}")
            return None   # refused while a member reconnected < 5 s ago: ask again

        answer = poll(attempt, timeout=timeout, interval=0.5)
        if answer is None:
            raise HarnessError(f"etcd {path} for {avoid.name} failed: {last}")
        return answer

    def member_remove(self, node: Node) -> None:
        """Remove ``node`` from the configuration, stop it and wipe its data."""
        ids = [m["ID"] for m in self._member_list()
               if (n := self._member_node(m)) is not None and n.name == node.name]
        if not ids:
            raise HarnessError(f"etcd: {node.name} is not a member")
        self._member_call("/v3/cluster/member/remove", {"ID": str(ids[0])}, avoid=node)
        self.stop(node)
        self.wipe(node)

    def member_add(self, node: Node) -> None:
        """Add ``node`` (wiped) to the configuration and start it with existing state."""
        if node.name in self.members():
            raise HarnessError(f"etcd: {node.name} is already a member")
        self.stop(node)
        self.wipe(node)
        self._member_call("/v3/cluster/member/add", {"peerURLs": [self.peer_url(node)]},
                          avoid=node)
        self._bootstrapped = True
        self.start(node)

"""Consul as a system under test, and its KV client over the HTTP API.

NOTE: no real Consul ran where this was written or in our CI: there is no
Consul binary on our machines and none can be downloaded. What is tested here
is our own plumbing: the agent command lines, the one clear error without a
binary, and the client against recorded responses written from Consul's
documented HTTP API (``tests/unit/data/consul/``). Give a binary with
``-o consul_binary=PATH`` to run it for real.

Each node runs ``consul agent -server -bootstrap-expect=N -retry-join=...``
bound to the node's address, with its data in ``<work_dir>/consul``. The client
uses ``/v1/kv`` (``?cas=ModifyIndex`` for compare-and-set, the consistency mode
as a query parameter) and sessions for locks (``/v1/session/create`` with a TTL,
then ``?acquire=`` / ``?release=``).

Membership (the ``member`` fault: leave / force-leave / raft peer delete, then
rejoin until a voter) is written from the documented HTTP API and likewise tested
only against hand-written responses.
"""

from __future__ import annotations

import base64
import json
import math
import os
import threading
import time
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import (
    CAS,
    DELETE,
    LOCK,
    READ,
    WRITE,
    Client,
    System,
    SystemOption,
    all_answer,
)
from splitbrain.errors import ClientError, HarnessError
from splitbrain.retry import poll

HTTP_PORT = 8500
SERVER_PORT = 8300
KV_PREFIX = "splitbrain"
LOCK_PREFIX = "splitbrain-locks"
NO_BINARY = ("consul needs a binary: pass -o consul_binary=/path/to/consul, or use --backend "
             "docker where the hashicorp/consul image can be pulled")


# -- error mapping ----------------------------------------------------------------
#
# Reads have no effect: every failed read is definite. For writes (KV put /
# cas / delete, lock acquire / release):
# * Connection refused / connect timeout / pool timeout: never sent -> definite.
# * Read timeout, reset or closed connection after sending -> indefinite: the
#   agent may have forwarded it to the leader, which may apply it.
# * HTTP 400 / 403 / 405 / 413 / 429: rejected by the HTTP layer, the ACL check
#   or the rate limiter before any RPC -> definite.
# * HTTP 500 whose body is one of _DEFINITE_MESSAGES -> definite:
#     - "No cluster leader": the RPC forwarder found no leader (after its hold
#       timeout) and never sent the request;
#     - "node is not the leader": raft refused to enqueue the entry (it was not
#       leader when asked, or the entry was still in the apply queue when it
#       stepped down, which also fails with this error without appending);
#     - "timed out enqueuing operation": the entry never entered raft's queue;
#     - "rate limit exceeded": rejected on arrival.
# * Any other 5xx on a write -> indefinite, in particular "leadership lost
#   while committing log" (appended, may still commit), "raft is already
#   shutdown", and "rpc error making call: EOF / i/o timeout" (the forwarded
#   RPC may have reached the leader).

_DEFINITE_STATUS = frozenset({400, 403, 405, 413, 429})
_DEFINITE_MESSAGES = (
    "no cluster leader",
    "node is not the leader",
    "timed out enqueuing operation",
    "rate limit exceeded",
)


def classify_error(status: int, body: str, *, mutating: bool) -> bool:
    """True if a Consul error response means the request certainly had no effect."""
    if not mutating or status in _DEFINITE_STATUS:
        return True
    low = body.lower()
    return any(m in low for m in _DEFINITE_MESSAGES)


def _enc(v: Any) -> bytes:
    return json.dumps(v, sort_keys=True, separators=(",", ":")).encode()


def _dec_b64(s: str | None) -> Any:
    if s is None:
        return None
    raw = base64.b64decode(s)
    return None if raw == b"" else json.loads(raw)


def _line(text: str, limit: int = 200) -> str:
    """``text`` on one line (Consul error bodies hold newlines and tabs), cut at ``limit``."""
    return " ".join(text.split())[:limit]


def kv_path(key: str, prefix: str = KV_PREFIX) -> str:
    return f"/v1/kv/{prefix}/{quote(str(key), safe='')}"


CONSISTENCY = ("default", "consistent", "stale")


class ConsulClient(Client):
    """A client pinned to one Consul agent's HTTP API."""

    capabilities: ClassVar[frozenset[str]] = frozenset({READ, WRITE, CAS, DELETE, LOCK})

    def __init__(self, node: Node, *, consistency: str = "default", timeout: float = 5.0,
                 lock_timeout: float = 10.0, transport: httpx.BaseTransport | None = None,
                 sleep: Any = time.sleep) -> None:
        super().__init__(node)
        if consistency not in CONSISTENCY:
            raise HarnessError(f"-o consistency={consistency}: expected one of "
                               f"{', '.join(CONSISTENCY)}")
        self.consistency = consistency
        self.lock_timeout = lock_timeout
        self._sleep = sleep
        self._http = httpx.Client(base_url=f"http://{node.address}:{HTTP_PORT}",
                                  transport=transport,
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)))

    def call(self, method: str, path: str, *, mutating: bool, params: dict | None = None,
             content: bytes | None = None, json_body: Any = None,
             ok404: bool = False) -> httpx.Response | None:
        """One request; None for a 404 when ``ok404``; ClientError per the mapping above."""
        what = f"consul {self.node.name} {method} {path}"
        try:
            r = self._http.request(method, path, params=params, content=content, json=json_body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            raise ClientError(f"{what}: not sent: {type(e).__name__}: {e}", definite=True) from None
        except httpx.TimeoutException as e:
            raise ClientError(f"{what}: timed out after sending: {type(e).__name__}",
                              definite=not mutating) from None
        except httpx.TransportError as e:
            raise ClientError(f"{what}: connection failed after sending: {type(e).__name__}: {e}",
                              definite=not mutating) from None
        if r.status_code == 404 and ok404:
            return None
        if r.status_code != 200:
            body = r.text.strip()
            raise ClientError(f"{what}: HTTP {r.status_code}: {body[:200]}",
                              definite=classify_error(r.status_code, body, mutating=mutating))
        return r

    def _read_params(self) -> dict[str, str]:
        return {} if self.consistency == "default" else {self.consistency: ""}

    def get_entry(self, key: str) -> dict[str, Any] | None:
        """The raw KV entry (ModifyIndex included) or None."""
        r = self.call("GET", kv_path(key), params=self._read_params(), mutating=False, ok404=True)
        if r is None:
            return None
        entries = r.json()
        return entries[0] if entries else None

    def read(self, key: str) -> Any:
        e = self.get_entry(key)
        return None if e is None else _dec_b64(e.get("Value"))

    def _bool(self, r: httpx.Response | None) -> bool:
        return r is not None and r.text.strip() == "true"

    def write(self, key: str, value: Any) -> None:
        if not self._bool(self.call("PUT", kv_path(key), content=_enc(value), mutating=True)):
            raise ClientError(f"consul put {key!r} answered false", definite=True)

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        """``?cas=ModifyIndex`` of the entry read (``?cas=0``: create only if absent)."""
        if expected is None:
            index = 0
        else:
            e = self.get_entry(key)
            if e is None or _dec_b64(e.get("Value")) != expected:
                return False
            index = int(e["ModifyIndex"])
        return self._bool(self.call("PUT", kv_path(key), params={"cas": str(index)},
                                    content=_enc(new), mutating=True))

    def delete(self, key: str) -> None:
        self.call("DELETE", kv_path(key), mutating=True)

    # -- locks: sessions -------------------------------------------------------------
    def lock_acquire(self, name: str, lease_s: float) -> Any:
        """Create a session with TTL >= ``lease_s`` (Consul's minimum is 10 s) and acquire.

        A failed session create holds nothing: definite. ``?acquire`` answering
        false means another session holds the lock: retried until the lock
        timeout, then the session is destroyed and the acquire failed definitely.
        An ``?acquire`` that errored indefinitely may hold the lock: indefinite
        (and the session is destroyed best-effort, which releases it).
        Token: ``{"session": ID}``.
        """
        ttl = max(10, math.ceil(lease_s))
        try:
            r = self.call("PUT", "/v1/session/create", mutating=True,
                          json_body={"Name": f"splitbrain-lock-{name}", "TTL": f"{ttl}s"})
            sid = r.json()["ID"]
        except ClientError as e:
            raise ClientError(f"lock {name!r}: session create failed, nothing acquired: {e}",
                              definite=True) from None
        def attempt() -> bool | None:
            return self._bool(self.call("PUT", kv_path(name, LOCK_PREFIX),
                                        params={"acquire": sid}, content=_enc(sid),
                                        mutating=True)) or None

        try:
            if poll(attempt, timeout=self.lock_timeout, interval=0.1, sleep=self._sleep):
                return {"session": sid}
            raise ClientError(f"consul lock {name!r} not acquired within "
                              f"{self.lock_timeout:.0f}s", definite=True)
        except ClientError:
            self._destroy(sid)
            raise

    def _destroy(self, sid: str) -> None:
        try:
            self.call("PUT", f"/v1/session/destroy/{sid}", mutating=True)
        except ClientError:
            pass  # the TTL ends it anyway

    def lock_release(self, name: str, token: Any) -> None:
        """``?release`` then destroy the session; false = the session lost it already."""
        self.call("PUT", kv_path(name, LOCK_PREFIX), params={"release": token["session"]},
                  mutating=True)
        self._destroy(token["session"])

    # -- cluster-level calls used by the system -------------------------------------
    def status_leader(self) -> str:
        r = self.call("GET", "/v1/status/leader", mutating=False)
        return str(r.json() or "")

    def raft_configuration(self) -> list[dict[str, Any]]:
        r = self.call("GET", "/v1/operator/raft/configuration", mutating=False)
        return r.json().get("Servers") or []

    def agent_leave(self) -> None:
        """Ask this agent to leave gracefully (a server leaves the raft peer set) and exit."""
        self.call("PUT", "/v1/agent/leave", mutating=True)

    def force_leave(self, node_name: str) -> None:
        """Ask this agent to move a failed (stopped) member to the "left" state."""
        self.call("PUT", f"/v1/agent/force-leave/{quote(node_name, safe='')}", mutating=True)

    def raft_remove_peer(self, address: str) -> None:
        """Remove the server at ``address`` (``ip:8300``) from the raft configuration."""
        self.call("DELETE", "/v1/operator/raft/peer", params={"address": address},
                  mutating=True)

    def agent_join(self, address: str) -> None:
        """Ask this agent to join the LAN pool through the agent at ``address``."""
        self.call("PUT", f"/v1/agent/join/{quote(address, safe='')}", mutating=True)

    def close(self) -> None:
        self._http.close()


class ConsulSystem(System):
    """Consul servers, one ``consul agent -server`` per node (binary from -o consul_binary)."""

    name: ClassVar[str] = "consul"
    daemon: ClassVar[str] = "consul"
    supports: ClassVar[frozenset[str]] = frozenset({"kill", "pause", "member"})
    capabilities: ClassVar[frozenset[str] | None] = ConsulClient.capabilities
    options: ClassVar[dict[str, SystemOption]] = {
        "consul_binary": SystemOption("", "path of a consul binary on this host, copied to "
                                      "every node"),
        "consistency": SystemOption("default", "KV read consistency mode", str, CONSISTENCY),
        "timeout": SystemOption(5.0, "client request timeout in seconds", float),
        "raft_multiplier": SystemOption(1, "Consul performance.raft_multiplier (1: fastest "
                                        "failure detection)", int),
        "member_timeout": SystemOption(60.0, "seconds a membership change may take (leave "
                                       "confirmed, or a new server promoted to voter)", float),
    }

    def __init__(self, nodes: list[Node], opts: dict[str, Any], test_name: str = "test") -> None:
        super().__init__(nodes, opts, test_name)
        self._binary: dict[str, str] = {}
        self._from_image: str | None = None
        self._image_lock = threading.Lock()
        # Seams for unit tests (no real Consul exists where this was written): the
        # HTTP transport of the system's own admin clients, and the poll clock.
        self.transport: httpx.BaseTransport | None = None
        self.sleep: Any = time.sleep
        self.clock: Any = time.monotonic

    def _opt(self, key: str) -> Any:
        return self.opts.get(key, self.options[key].default)

    def data_dir(self, node: Node) -> str:
        return f"{node.work_dir}/consul/data"

    def binary(self, node: Node) -> str:
        return self._binary.get(node.name) or f"{node.work_dir}/bin/consul"

    def endpoint(self, node: Node) -> str:
        return f"http://{node.address}:{HTTP_PORT}"

    def command(self, node: Node) -> list[str]:
        """``consul agent -server`` bound to the node's address, joining every other node."""
        cmd = [
            self.binary(node), "agent", "-server",
            f"-bootstrap-expect={len(self.nodes)}",
            f"-node={node.name}",
            f"-data-dir={self.data_dir(node)}",
            f"-bind={node.address}", f"-advertise={node.address}", f"-client={node.address}",
            "-disable-host-node-id",           # nodes on one host must not share a node id
            "-dns-port=-1",                    # no DNS interface: nothing else to collide on
            "-log-level=info",
            f"-hcl=performance {{ raft_multiplier = {int(self._opt('raft_multiplier'))} }}",
        ]
        cmd += [f"-retry-join={n.address}" for n in self.nodes if n.name != node.name]
        return cmd

    def install(self, node: Node) -> None:
        """Copy ``-o consul_binary`` to the node, else use a ``consul`` on its PATH, else
        the binary from the official image (see :func:`consul_from_image`)."""
        local = self._opt("consul_binary")
        node.exec(["mkdir", "-p", self.data_dir(node), f"{node.work_dir}/logs",
                   f"{node.work_dir}/run", f"{node.work_dir}/bin"])
        if local:
            if not (os.path.isfile(local) and os.access(local, os.X_OK)):
                raise HarnessError(f"-o consul_binary={local}: not an executable file on this "
                                   f"host; give the path of a consul binary")
            node.put_file(local, f"{node.work_dir}/bin/consul")
            node.exec(["chmod", "755", f"{node.work_dir}/bin/consul"])
            self._binary[node.name] = f"{node.work_dir}/bin/consul"
            return
        r = node.exec(["sh", "-c", "command -v consul"], check=False)
        if r.rc == 0 and r.stdout.strip():
            self._binary[node.name] = r.stdout.strip().splitlines()[0]
            return
        with self._image_lock:                 # nodes install in parallel: extract once
            if self._from_image is None:
                self._from_image = consul_from_image() or ""
        if not self._from_image:
            raise HarnessError(NO_BINARY)
        node.put_file(self._from_image, f"{node.work_dir}/bin/consul")
        node.exec(["chmod", "755", f"{node.work_dir}/bin/consul"])
        self._binary[node.name] = f"{node.work_dir}/bin/consul"

    def start(self, node: Node) -> None:
        if node.daemon_running(self.daemon):
            self._expected_up.add(node.name)
            return
        if node.name not in self._binary:
            self.install(node)
        node.start_daemon(self.daemon, self.command(node), log_file=self.log_files(node)[0])
        self._expected_up.add(node.name)

    def wipe(self, node: Node) -> None:
        node.exec(["rm", "-rf", f"{node.work_dir}/consul"])

    def log_files(self, node: Node) -> list[str]:
        return [f"{node.work_dir}/logs/consul.log"]

    def client(self, node: Node) -> ConsulClient:
        return ConsulClient(node, consistency=str(self._opt("consistency")),
                            timeout=float(self._opt("timeout")))

    def _admin(self, node: Node, timeout: float = 2.0) -> ConsulClient:
        return ConsulClient(node, consistency="consistent", timeout=timeout,
                            transport=self.transport)

    def _node_by_server_addr(self, addr: str) -> Node | None:
        host = addr.rsplit(":", 1)[0]
        return next((n for n in self.nodes if n.address == host), None)

    def leader(self) -> Node | None:
        """The node named by the agents' ``/v1/status/leader`` (most votes wins)."""
        votes: dict[str, int] = {}
        for n in self.nodes:
            c = self._admin(n)
            try:
                addr = c.status_leader()
            except ClientError:
                continue
            finally:
                c.close()
            ld = self._node_by_server_addr(addr) if addr else None
            if ld is not None:
                votes[ld.name] = votes.get(ld.name, 0) + 1
        return self.node(max(votes, key=lambda k: votes[k])) if votes else None

    def _member_name(self, server: dict[str, Any]) -> str:
        """Our node name for a raft server entry: by Node name, else by its address.

        Consul reports ``(unknown)`` for a stale peer it has no member for; such an
        entry is mapped through its ``Address``, and kept as that address when it
        is none of our nodes (so a leftover peer stays visible).
        """
        name = str(server.get("Node") or "")
        if any(n.name == name for n in self.nodes):
            return name
        addr = str(server.get("Address") or "")
        n = self._node_by_server_addr(addr) if addr else None
        return n.name if n is not None else (addr or name)

    def _raft_servers(self, among: list[Node]) -> tuple[list[dict[str, Any]] | None, str]:
        """The raft configuration from the first of ``among`` that answers, or (None, error)."""
        last = "no node to ask"
        for n in among:
            c = self._admin(n)
            try:
                return c.raft_configuration(), ""
            except ClientError as e:
                last = str(e)
            finally:
                c.close()
        return None, last

    def members(self) -> list[str]:
        """Our names of the servers in the raft configuration (first agent that answers)."""
        servers, _ = self._raft_servers(self.nodes)
        return sorted(self._member_name(s) for s in servers or [])

    def _entry_for(self, servers: list[dict[str, Any]], node: Node) -> dict[str, Any] | None:
        return next((s for s in servers if self._member_name(s) == node.name), None)

    def member_remove(self, node: Node) -> None:
        """Take ``node`` out of the cluster through Consul's API, stop it and wipe it.

        The node is first asked to leave gracefully (its server removes itself from
        the raft peer set, then the agent exits). If it cannot (down, paused) or is
        still listed afterwards, a surviving agent force-leaves it and removes its
        raft peer by address. Raises HarnessError if no survivor confirms the
        removal within ``member_timeout``. Not run against a real Consul.
        """
        timeout = float(self._opt("member_timeout"))
        c = self._admin(node, timeout=min(timeout, 15.0))
        try:
            c.agent_leave()
        except ClientError:
            pass                        # down or paused (a read timeout): forced out below
        finally:
            c.close()
        self.stop(node)                 # force-leave only takes effect on a stopped agent
        survivors = [n for n in self.nodes if n.name != node.name]
        address = f"{node.address}:{SERVER_PORT}"
        err: Any = None

        def gone() -> bool | None:
            nonlocal err
            servers, err = self._raft_servers(survivors)
            if servers is not None:
                if self._entry_for(servers, node) is None:
                    return True
                err = f"{node.name} still in the raft configuration"
                self._force_out(survivors, node, address)   # again each poll: harmless
            return None

        if not poll(gone, timeout=timeout, interval=0.5, clock=self.clock, sleep=self.sleep):
            raise HarnessError(f"consul: could not remove {node.name} from the cluster "
                               f"within {timeout:.0f}s ({_line(err)}); check the survivors' "
                               f"logs or raise -o member_timeout")
        self.wipe(node)

    def _force_out(self, survivors: list[Node], node: Node, address: str) -> bool:
        """Force-leave ``node`` and delete its raft peer via the first survivor that
        takes both; True once one did."""
        for n in survivors:
            c = self._admin(n, timeout=10.0)
            try:
                c.force_leave(node.name)
                c.raft_remove_peer(address)
                return True
            except ClientError:
                continue
            finally:
                c.close()
        return False

    def member_add(self, node: Node) -> None:
        """Wipe ``node``, start it with the setup command and wait until it is a voter.

        ``-bootstrap-expect`` cannot split the cluster: Consul only bootstraps when no
        server it sees has raft peers, and the survivors do. Besides ``-retry-join``
        (retried only every 30 s) the agent is asked to join a survivor explicitly.
        Autopilot adds a new server as a non-voter and promotes it once stable, hence
        the wait for ``Voter: true``. HarnessError (with the log tail if the agent
        exited) after ``member_timeout``. Not run against a real Consul.
        """
        timeout = float(self._opt("member_timeout"))
        if self.is_running(node):
            self.stop(node)
        self.wipe(node)
        self.start(node)
        survivors = [n for n in self.nodes if n.name != node.name]
        joined = False
        err: Any = "not asked yet"

        def voter() -> bool | None:
            nonlocal joined, err
            if not joined:
                joined, err = self._join(node, survivors)
            if joined:
                servers, err = self._raft_servers(survivors)
                if servers is not None:
                    entry = self._entry_for(servers, node)
                    if entry is not None and entry.get("Voter"):
                        return True
                    err = (f"{node.name} is not in the raft configuration" if entry is None
                           else f"{node.name} is still a non-voter")
            if not self.is_running(node):
                self._fail_if_exited()
            return None

        if not poll(voter, timeout=timeout, interval=0.5, clock=self.clock, sleep=self.sleep):
            raise HarnessError(f"consul: {node.name} did not rejoin as a voter within "
                               f"{timeout:.0f}s ({_line(err)}); see "
                               f"{self.log_files(node)[0]} or raise -o member_timeout")

    def _join(self, node: Node, survivors: list[Node]) -> tuple[bool, str]:
        """Ask ``node``'s agent to join the first survivor that lets it."""
        c = self._admin(node, timeout=10.0)
        err = "no survivor to join"
        try:
            for n in survivors:
                try:
                    c.agent_join(n.address)
                    return True, ""
                except ClientError as e:
                    err = str(e)
                    if "not sent" in err:       # our own agent is not up yet
                        break
            return False, err
        finally:
            c.close()

    def healthy(self) -> bool:
        """Every agent knows a leader and answers a consistent KV read."""
        def knows_leader_and_reads(c: ConsulClient) -> bool:
            if not c.status_leader():
                return False
            c.read("splitbrain-health")
            return True
        return all_answer(self.nodes, self._admin, knows_leader_and_reads)



CONSUL_IMAGE = "hashicorp/consul"


def consul_from_image(client: Any = None, image: str = CONSUL_IMAGE,
                      cache_dir: str | None = None) -> str | None:
    """The consul binary (``/bin/consul``) from the official image, or None without one."""
    from splitbrain.clusters.backends.docker.engine import file_from_image

    return file_from_image(image, "/bin/consul", name="consul", client=client,
                           cache_dir=cache_dir)

"""A small blocking client for the Raft KV HTTP API (``http.client``, standard library).

Every write carries this client's id and a fresh sequence number, so the server applies
it at most once even when it is retried (pass ``seq=`` to retry an earlier call with the
same number, e.g. from another ``RaftClient`` built with the same ``client_id``).

Like etcd's and ZooKeeper's clients, a write whose outcome is unknown (a timeout, a lost
connection, a leader change after proposing) is retried with the *same* client id and
sequence number, on the other nodes given as ``fallbacks`` in turn, for up to ``retry_s``
seconds: the server's session table applies the pair at most once and answers a retry
of an applied write with its first result. The call returns the first answer that
settles the outcome; once an attempt may have applied, only such an answer can make
the error definite, so an indeterminate write stays indeterminate (``definite=False``)
if no retry settles it.

Errors raise :class:`RaftError` whose ``definite`` is True only when the operation
certainly did not take effect. One instance serializes its calls (a lock); use one
instance per concurrent worker.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("splitbrain.raft.client")


class RaftError(Exception):
    """A failed request. ``definite``: True = certainly not applied; False = unknown."""

    def __init__(self, message: str, definite: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.definite = definite
        self.status = status


class RaftClient:
    """Client for one node's API at ``base_url`` (``http://HOST:PORT``)."""

    def __init__(self, base_url: str, timeout: float = 5.0, client_id: str | None = None, *,
                 fallbacks: list[str] | tuple[str, ...] = (), retry_s: float = 0.0) -> None:
        u = urlsplit(base_url if "//" in base_url else "http://" + base_url)
        if not u.hostname or not u.port:
            raise ValueError(f"base_url {base_url!r} must look like http://HOST:PORT")
        self.host, self.port = u.hostname, u.port
        self.base_url = f"http://{u.hostname}:{u.port}"
        self.timeout = timeout
        self.client_id = client_id or uuid.uuid4().hex
        self.next_seq = 1
        self.fallbacks = [f for f in fallbacks if f.rstrip("/") != self.base_url]
        self.retry_s = retry_s
        self.retries = 0               # attempts after the first, over this client's life
        self._peers: dict[str, RaftClient] = {}
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------- transport
    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        for peer in self._peers.values():
            peer.close()

    def _new_conn(self) -> http.client.HTTPConnection:
        self.close()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.connect()
        except OSError as e:  # refused / unreachable / connect timeout: nothing was sent
            raise RaftError(f"cannot connect to {self.host}:{self.port}: {e}", True) from e
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        return conn

    def request(self, method: str, path: str, body: dict | None = None,
                write: bool = True) -> dict:
        """Send one request and return the JSON answer; raises RaftError on any error.

        Reads (``write=False``) always fail definitely: a read never takes effect.
        """
        with self._lock:
            try:
                return self._request(method, path, body)
            except RaftError as e:
                if not write:
                    e.definite = True
                raise

    def _request(self, method: str, path: str, body: dict | None) -> dict:
        payload = json.dumps(body if body is not None else {}).encode()
        headers = {"Content-Type": "application/json"}
        reused = self._conn is not None
        conn = self._conn or self._new_conn()
        try:
            conn.request(method, path, payload, headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
            self.close()
            if not reused:
                raise RaftError(f"connection lost: {e}", False) from e
            # A kept-alive connection the server had closed: retry once on a fresh one.
            # Writes carry a session seq, so a duplicate is deduplicated by the server;
            # but if this retry fails, the first attempt may still have applied.
            try:
                conn = self._new_conn()
                conn.request(method, path, payload, headers)
                resp = conn.getresponse()
                raw = resp.read()
            except RaftError as e2:
                raise RaftError(str(e2), False) from e2
            except (OSError, http.client.HTTPException) as e2:
                self.close()
                raise RaftError(f"request failed: {e2}", False) from e2
        except (OSError, http.client.HTTPException) as e:  # timeout etc. after sending
            self.close()
            raise RaftError(f"request failed after sending: {e or type(e).__name__}",
                            False) from e
        try:
            obj = json.loads(raw)
        except ValueError as e:
            raise RaftError(f"bad response from server: {raw[:200]!r}", False,
                            resp.status) from e
        if resp.status != 200 or not obj.get("ok", False):
            raise RaftError(obj.get("error", f"HTTP {resp.status}"),
                            bool(obj.get("definite", False)), resp.status)
        return obj

    def _write(self, path: str, body: dict, seq: int | None) -> dict:
        if seq is None:
            with self._lock:
                seq = self.next_seq
                self.next_seq += 1
        body = dict(body, client=self.client_id, seq=seq)
        try:
            return self.request("POST", path, body)
        except RaftError as e:
            if e.definite or self.retry_s <= 0:
                raise
            return self._retry(path, body, e)

    def _peer(self, url: str) -> RaftClient:
        """A client for another node with our id (its own connection and lock)."""
        peer = self._peers.get(url)
        if peer is None:
            peer = self._peers[url] = RaftClient(url, self.timeout, self.client_id)
        return peer

    def _retry(self, path: str, body: dict, first: RaftError) -> dict:
        """Resend an indeterminate write (same client id and seq) until an answer settles it.

        Tries the other nodes first, then this one, round and round, with a growing
        pause, for ``retry_s`` seconds. An answer settles it: success (the first
        result if it had applied), or a state-machine refusal (HTTP 409/400). Errors
        of later attempts only say that attempt did not apply: the write stays
        indeterminate.
        """
        deadline = time.monotonic() + self.retry_s
        targets = [*self.fallbacks, self.base_url] or [self.base_url]
        last: RaftError = first
        pause = 0.05
        attempt = 0
        while time.monotonic() + pause < deadline:
            time.sleep(pause)
            pause = min(1.0, pause * 2)
            url = targets[attempt % len(targets)]
            attempt += 1
            self.retries += 1
            client = self if url == self.base_url else self._peer(url)
            log.info("client %s seq %s: resending %s to %s after: %s", self.client_id,
                     body.get("seq"), path, url, last)
            try:
                return client.request("POST", path, body)
            except RaftError as e:
                if e.status in (400, 409):   # the state machine's answer to this (client, seq)
                    if e.definite:
                        raise
                    raise RaftError(f"{first}; retry: {e}", False, e.status) from e
                last = e
        raise RaftError(f"{first}; outcome still unknown after {attempt} retries "
                        f"(last: {last})", False, first.status)

    # ------------------------------------------------------------------ API
    def get(self, key: str) -> Any:
        """Linearizable read; None if the key is absent."""
        return self.request("POST", "/kv/get", {"key": key}, write=False)["value"]

    def put(self, key: str, value: Any, *, seq: int | None = None) -> None:
        self._write("/kv/put", {"key": key, "value": value}, seq)

    def cas(self, key: str, expected: Any, new: Any, create_only: bool = False, *,
            seq: int | None = None) -> bool:
        """Set ``key`` to ``new`` if it equals ``expected`` (or, create_only, is absent)."""
        body = {"key": key, "expected": expected, "new": new, "create_only": create_only}
        return bool(self._write("/kv/cas", body, seq)["succeeded"])

    def delete(self, key: str, *, seq: int | None = None) -> bool:
        """Delete ``key``; True if it existed."""
        return bool(self._write("/kv/delete", {"key": key}, seq)["deleted"])

    def txn(self, ops: list, *, seq: int | None = None) -> list:
        """Atomic micro-ops ``[["r", k, None], ["append", k, v], ["w", k, v]]``;
        returns them with read values filled in."""
        return self._write("/kv/txn", {"ops": ops}, seq)["results"]

    def lock_acquire(self, name: str, owner: str, lease_s: float, *,
                     seq: int | None = None) -> int:
        """Acquire a leased lock; returns a fencing token. Raises RaftError(definite=True)
        with status 409 when another owner holds it."""
        res = self._write("/lock/acquire", {"name": name, "owner": owner, "lease_s": lease_s},
                          seq)
        if not res["acquired"]:
            raise RaftError(f"lock {name!r} is held by {res.get('holder')}", True, 409)
        return int(res["token"])

    def lock_release(self, name: str, token: int, *, seq: int | None = None) -> bool:
        """Release a lock we hold; False if the token no longer holds it (lease lost)."""
        return bool(self._write("/lock/release", {"name": name, "token": token}, seq)["released"])

    def status(self) -> dict:
        """This node's view: role, term, leader, commit, applied, members, ..."""
        return self.request("GET", "/status", None, write=False)

    def member_add(self, node_id: str, addr: str) -> dict:
        """Add ``node_id`` at ``HOST:RAFTPORT[:CLIENTPORT]`` once it has caught up."""
        return self.request("POST", "/members/add", {"id": node_id, "addr": addr})["members"]

    def member_remove(self, node_id: str) -> dict:
        return self.request("POST", "/members/remove", {"id": node_id})["members"]

    def transfer_leader(self, node_id: str) -> None:
        self.request("POST", "/leader/transfer", {"id": node_id})

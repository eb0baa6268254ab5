"""The node: drives :class:`RaftCore` with ticks, peer messages and client requests.

One main loop owns the core. Each turn it takes everything queued (ticks, inbound
messages, client proposals), steps the core, then handles the Ready in the order Raft
needs: persist (one fsync for the whole batch: group commit), send, apply, answer.
HTTP handlers never touch the core directly; they queue work and await futures.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .core import LEADER, NotLeader, RaftCore
from .forward import Deadlines, PeerForwarder
from .httpapi import ApiError, HttpServer
from .kv import KVStore
from .log import RaftLog
from .storage import PREALLOC, Storage, encode_lines

log = logging.getLogger("splitbrain.raft")
_encode = json.JSONEncoder(separators=(",", ":")).encode
WRITE_PATHS = {"/kv/put", "/kv/cas", "/kv/delete", "/kv/txn", "/lock/acquire",
               "/lock/release"}
LEADER_MSGS = {"append", "heartbeat", "snap", "timeout_now"}
ADMIN_PATHS = {"/members/add", "/members/remove", "/leader/transfer"}


@dataclass
class Job:
    """One turn's durable state, written by the persister in order."""
    hard_state: tuple[int, str | None] | None
    log_from: int | None
    entries: list
    snapshot: dict | None
    last: tuple[int, int] | None
    late: list[tuple[str, dict]]
    lines: tuple[bytes, list[int]] | None = None  # ``entries`` encoded on the loop
    snap_bytes: bytes | None = None      # ``snapshot`` encoded (our own snapshots)


@dataclass
class Options:
    """Everything the command line configures."""
    node_id: str
    peers: dict[str, str]              # id -> "host:raftport:clientport"
    data_dir: str
    host: str | None = None
    join: bool = False
    bugs: set[str] = field(default_factory=set)
    tick_ms: float = 25.0
    heartbeat_ms: float = 75.0
    election_ms: float = 300.0
    request_timeout: float = 4.0
    snapshot_entries: int = 10000


def client_addr(member_addr: str) -> str:
    host, _raft, client = member_addr.split(":")
    return f"{host}:{client}"


class Node:
    """A running Raft KV server (peer transport + client HTTP API)."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.storage = Storage(opts.data_dir, fsync="no-fsync" not in opts.bugs)
        self.kv = KVStore(dedup="no-dedup" not in opts.bugs)
        self.inbox: list[dict] = []
        self.work: list[tuple[str, Any, asyncio.Future]] = []
        self.pending: dict[int, tuple[int, asyncio.Future]] = {}
        self.read_waits: list[tuple[int, asyncio.Future]] = []
        self.ticks = 0
        self.snapshot: dict | None = None
        self.deadlines = Deadlines()  # request timeouts, swept by the ticker
        self.forwarder = PeerForwarder(self._send_direct, self.deadlines)
        self.was_leader = False
        self.last_role: tuple = ()
        self.jobs: list[Job] = []
        self.lazy_jobs: list[Job] = []
        self.lazy_flushed = 0.0
        self.stats = {"turns": 0, "persists": 0, "proposals": 0, "messages_in": 0,
                      "persist_ms": 0.0}
        self.learned: dict[str, str] = {}  # sender addresses carried by leader messages
        self.my_addr = opts.peers[opts.node_id]
        self._disk_pipe: int | None = None  # wakes the disk thread
        self._disk_todo: deque[tuple[list[Job], asyncio.Future]] = deque()

    # ----------------------------------------------------------------- setup
    def _load(self) -> None:
        o = self.opts
        term, vote, snap, entries = self.storage.load()
        if self.storage.allocated - self.storage.end < PREALLOC // 2:
            self.storage.preallocate()  # now, not on the first client write
        boot_path = f"{o.data_dir}/bootstrap.json"
        try:
            with open(boot_path) as f:
                boot = json.load(f)
        except FileNotFoundError:
            boot = {} if o.join else dict(o.peers)
            with open(boot_path, "w") as f:
                json.dump(boot, f)
        rlog = RaftLog(snap["index"] if snap else 0, snap["term"] if snap else 0, entries)
        if snap:
            self.kv.restore(snap["data"])
            self.snapshot = snap
        ticks_e = max(2, round(o.election_ms / o.tick_ms))
        ticks_h = max(1, round(o.heartbeat_ms / o.tick_ms))
        self.core = RaftCore(o.node_id, boot, rlog, term, vote,
                             snapshot_config=snap["config"] if snap else None,
                             election_ticks=ticks_e, heartbeat_ticks=ticks_h, bugs=o.bugs)

    def _addr_of(self, peer: str) -> str | None:
        a = self.core.address_of(peer) or self.opts.peers.get(peer) or self.learned.get(peer)
        return None if a is None else ":".join(a.split(":")[:2])

    async def start(self) -> None:
        from .transport import Transport
        self._load()
        me = self.opts.peers[self.opts.node_id]
        host, raft_port, client_port = me.split(":")
        bind = self.opts.host or host
        self.wake = asyncio.Event()
        self.persist_wake = asyncio.Event()
        self.transport = Transport(bind, int(raft_port), self._addr_of, self._on_message,
                                   self._on_broken)
        await self.transport.start()
        self.http = HttpServer(bind, int(client_port), self.handle)
        await self.http.start()
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._ticker()), loop.create_task(self._main()),
                      loop.create_task(self._persister())]
        log.info("node %s up: raft %s:%s client %s:%s bugs=%s", self.opts.node_id, bind,
                 raft_port, bind, client_port, sorted(self.opts.bugs))

    async def _ticker(self) -> None:
        period = self.opts.tick_ms / 1000
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(period)
            self.ticks += 1
            self.deadlines.expire(loop.time())
            self.wake.set()

    def _send_direct(self, to: str, m: dict) -> bool:
        m["from"] = self.core.id
        return self.transport.send(to, m, require_connected=True)

    async def _serve_forwarded(self, m: dict) -> None:
        """Leader side of forwarding: run the request locally, answer on the link."""
        try:
            if self.core.state != LEADER:
                raise ApiError(f"not the leader (leader is {self.core.leader})", definite=True)
            status, obj = 200, await self._local(m["path"], m["req"])
        except ApiError as e:
            status, obj = e.status, {"ok": False, "error": str(e), "definite": e.definite}
        except Exception as e:
            log.exception("forwarded request failed")
            status, obj = 500, {"ok": False, "error": f"internal error: {e!r}",
                                "definite": False}
        self.transport.send(m["from"], {"type": "fwd_resp", "id": m["id"], "status": status,
                                        "obj": obj, "from": self.core.id})

    def _on_message(self, m: dict) -> None:
        t = m.get("type")
        if t == "fwd":
            asyncio.get_running_loop().create_task(self._serve_forwarded(m))
            return
        if t == "fwd_resp":
            self.forwarder.on_response(m)
            return
        if "addr" in m:  # a joining node learns how to answer the leader
            self.learned[m["from"]] = m["addr"]
        self.inbox.append(m)
        self.wake.set()

    def _on_broken(self, peer: str) -> None:
        self.work.append(("unreachable", peer, None))
        self.wake.set()

    # ------------------------------------------------------------- main loop
    async def _main(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                await self._turn()
            except Exception:  # keep the node alive; a bug here must not wedge it silently
                log.exception("main loop error")

    async def _turn(self) -> None:
        core = self.core
        st = self.stats
        st["turns"] += 1
        st["messages_in"] += len(self.inbox)
        st["proposals"] += len(self.work)
        # Messages first: ticks that piled up while we waited for a slow fsync must not
        # time out a leader whose heartbeats are already sitting in the inbox.
        msgs, self.inbox = self.inbox, []
        for m in msgs:
            core.step(m)
        ticks, self.ticks = self.ticks, 0
        for _ in range(ticks):
            core.tick()
        work, self.work = self.work, []
        for kind, arg, fut in work:
            self._do_work(kind, arg, fut)
        rd = core.take_ready()
        must_persist = (rd.hard_state is not None or rd.log_dirty_from is not None
                        or rd.snapshot is not None)
        if must_persist or self.jobs:
            # Anything a peer may take as a promise (votes, acks) waits for the fsync of
            # this turn's state, and of all earlier turns'. A leader's own appends can go
            # now: it counts itself toward commit only once durable (mark_stable).
            # Heartbeat acks promise nothing durable; holding them behind a slow fsync
            # would make the leader's CheckQuorum step down needlessly.
            now = {"heartbeat_resp"}
            if core.state == LEADER and rd.hard_state is None:
                now |= LEADER_MSGS
            self._send_all([(t, m) for t, m in rd.messages if m["type"] in now])
            late = [(t, m) for t, m in rd.messages if m["type"] not in now]
            lines = (encode_lines(rd.entries)
                     if rd.log_dirty_from is not None and rd.snapshot is None else None)
            self.jobs.append(Job(rd.hard_state, rd.log_dirty_from, rd.entries, rd.snapshot,
                                 rd.last if must_persist else None, late, lines))
            self.persist_wake.set()
        else:
            self._send_all(rd.messages)
        if rd.snapshot is not None:
            self.snapshot = rd.snapshot
            self.kv.restore(rd.snapshot["data"])
        for e in rd.committed:
            self._apply(e)
        for ctx in rd.dropped_reads:
            if not ctx.done():
                ctx.set_exception(ApiError("leadership lost during read", definite=True))
        for ctx, idx in rd.read_states:
            self.read_waits.append((idx, ctx))
        if self.read_waits:
            ready = [(i, f) for i, f in self.read_waits if i <= core.applied]
            self.read_waits = [(i, f) for i, f in self.read_waits if i > core.applied]
            for _i, f in ready:
                if not f.done():
                    f.set_result(None)
        is_leader = core.state == LEADER
        role = (core.state, core.term, core.leader)
        if role != self.last_role:
            log.info("role %s term %d leader %s (commit %d, last %d)", core.state, core.term,
                     core.leader, core.commit, core.log.last_index)
            if not self.last_role or role[2] != self.last_role[2]:
                self.forwarder.abandon(core.leader)  # retried with the new leader
            self.last_role = role
        if self.was_leader and not is_leader:
            self._fail_pending("leadership lost after proposing")
        self.was_leader = is_leader
        if core.applied - core.log.snapshot_index >= self.opts.snapshot_entries:
            await self._take_snapshot()

    def _send_all(self, msgs: list[tuple[str, dict]]) -> None:
        for to, m in msgs:
            if m.get("need_snapshot"):
                if self.snapshot is None:
                    continue
                m = {"type": "snap", "term": m["term"], "from": m["from"],
                     "snapshot": self.snapshot}
            if m["type"] in ("heartbeat", "snap") and to not in self.core.voters:
                m["addr"] = self.my_addr
            self.transport.send(to, m)

    async def _persister(self) -> None:
        """Writes queued turns' state with one fsync per batch (group commit), then
        releases the messages that depended on it."""
        while True:
            await self.persist_wake.wait()
            self.persist_wake.clear()
            while self.jobs:
                jobs, self.jobs = self.jobs, []
                self.stats["persists"] += 1
                t0 = time.monotonic()
                try:
                    if "no-fsync" in self.opts.bugs:
                        # BUG no-fsync: acknowledge at once, keep the state in process
                        # memory and write it out (never fsync'd) only every 2 s, so even
                        # a SIGKILL loses acknowledged entries, terms and votes.
                        self.lazy_jobs.extend(jobs)
                        if t0 - self.lazy_flushed >= 2.0:
                            self._write_jobs(self.lazy_jobs)
                            self.lazy_jobs, self.lazy_flushed = [], t0
                    else:
                        await self._on_disk_thread(jobs)
                except OSError:
                    log.exception("cannot persist Raft state; stopping this node")
                    os._exit(1)  # a node that cannot keep its promises must not run on
                self.stats["persist_ms"] += (time.monotonic() - t0) * 1000
                for j in jobs:
                    if j.last is not None:
                        self.core.mark_stable(*j.last)
                    self._send_all(j.late)
                self.wake.set()  # the commit index may have moved

    def _on_disk_thread(self, jobs: list[Job]) -> asyncio.Future:
        """Have the disk thread write ``jobs``; the future settles when they are durable.

        One long-lived thread, woken through a pipe: cheaper per batch than
        ``asyncio.to_thread`` (no executor bookkeeping, no context copy), and
        ``os.write`` drops the GIL, so the loop never sits holding it while the kernel
        switches to the woken thread. The lines were encoded on the loop: the thread
        mostly waits in pwrite/fdatasync, without the GIL.
        """
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if self._disk_pipe is None:
            r, w = os.pipe()
            self._disk_pipe = w
            threading.Thread(target=self._disk_thread, args=(loop, r), name="raft-disk",
                             daemon=True).start()
        self._disk_todo.append((jobs, fut))
        os.write(self._disk_pipe, b"\0")
        return fut

    def _disk_thread(self, loop: asyncio.AbstractEventLoop, wake: int) -> None:
        todo = self._disk_todo
        while True:
            os.read(wake, 4096)
            while todo:
                jobs, fut = todo.popleft()
                try:
                    self._write_jobs(jobs)
                    exc = None
                except BaseException as e:  # handed to the persister, which stops the node
                    exc = e
                loop.call_soon_threadsafe(_settle, fut, exc)

    def _write_jobs(self, jobs: list[Job]) -> None:
        dirty = False
        for j in jobs:
            if j.snapshot is not None:
                # Our own snapshots (encoded on the loop) may keep the log file as is;
                # one received from the leader always rewrites it.
                self.storage.save_snapshot(j.snapshot, j.entries, payload=j.snap_bytes,
                                           lazy=j.snap_bytes is not None)
            elif j.log_from is not None:
                self.storage.save_log(j.log_from, j.entries, sync=False, lines=j.lines)
                dirty = True
            if j.hard_state is not None:
                self.storage.save_hard_state(*j.hard_state)
        if dirty:
            self.storage.sync_log()

    async def _take_snapshot(self) -> None:
        core = self.core
        idx = core.applied
        # Encoded once: the copy we keep (and send to lagging followers) is decoded
        # from the very bytes the disk thread writes.
        head = {"index": idx, "term": core.log.term(idx), "config": core.config_at(idx)}
        data = _encode(self.kv.snapshot())
        snap = dict(head, data=json.loads(data))
        raw = (_encode(head)[:-1] + ',"data":' + data + "}").encode()
        core.compact(idx)
        core.log.mark_persisted()  # the job below covers the log file from idx+1
        self.jobs.append(Job(None, None, list(core.log.entries), snap, None, [],
                             snap_bytes=raw))
        self.persist_wake.set()
        self.snapshot = snap

    def _do_work(self, kind: str, arg: Any, fut: asyncio.Future | None) -> None:
        core = self.core
        try:
            if kind == "unreachable":
                core.report_unreachable(arg)
            elif kind == "propose":
                if kind == "propose" and arg.get("op") == "lock_acquire":
                    arg["ts"] = time.time()
                idx, term = core.propose(arg)
                self.pending[idx] = (term, fut)
            elif kind == "read":
                core.read_index(fut)
            elif kind == "add":
                core.add_member(*arg)
                fut.set_result(None)
            elif kind == "remove":
                idx, term = core.remove_member(arg)
                self.pending[idx] = (term, fut)
            elif kind == "transfer":
                core.transfer_leadership(arg)
                fut.set_result(None)
        except NotLeader as e:
            fut.set_exception(ApiError(str(e), definite=True))
        except ValueError as e:
            fut.set_exception(ApiError(str(e), definite=True, status=400))

    def _apply(self, e: list) -> None:
        idx, term, data = e
        result = self.kv.apply(idx, data)
        waiter = self.pending.pop(idx, None)
        if waiter is None:
            return
        pterm, fut = waiter
        if fut.done():
            return
        if pterm != term:
            fut.set_exception(ApiError("entry was overwritten by a new leader", definite=False))
        else:
            fut.set_result(result)

    def _fail_pending(self, why: str) -> None:
        for _term, fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ApiError(why, definite=False))
        self.pending.clear()

    # ------------------------------------------------------------ client API
    async def _submit(self, kind: str, arg: Any) -> Any:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.work.append((kind, arg, fut))
        self.wake.set()
        # Wait for ``fut`` up to the timeout without ever cancelling it (what
        # wait_for(shield(fut)) does, with one waiter and a swept deadline instead of
        # four futures, their callbacks and a loop timer: this runs for every request).
        waiter = loop.create_future()
        release = functools.partial(_release, waiter)
        fut.add_done_callback(release)
        self.deadlines.add(waiter, self.opts.request_timeout)
        try:
            await waiter
        finally:
            fut.remove_done_callback(release)
        if not fut.done():
            fut.add_done_callback(_retrieve)  # nobody awaits it now: no "never retrieved"
            definite = kind in ("read",)
            raise ApiError(f"timed out after {self.opts.request_timeout}s waiting for commit",
                           definite=definite)
        return fut.result()

    async def _await_leader(self) -> str | None:
        deadline = time.monotonic() + min(self.opts.request_timeout,
                                          4 * self.opts.election_ms / 1000)
        while self.core.leader is None and time.monotonic() < deadline:
            await asyncio.sleep(self.opts.tick_ms / 1000)
        return self.core.leader

    def status(self) -> dict:
        c = self.core
        leader_addr = c.address_of(c.leader) if c.leader else None
        return {"ok": True, "id": c.id, "role": c.state, "term": c.term, "leader": c.leader,
                "leader_client": client_addr(leader_addr) if leader_addr else None,
                "commit": c.commit, "applied": c.applied, "last_index": c.log.last_index,
                "snapshot_index": c.log.snapshot_index, "members": c.voters,
                "voter": c.promotable, "bugs": sorted(self.opts.bugs), "stats": self.stats}

    async def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        if method == "GET" and path == "/status":
            return 200, self.status()
        if method != "POST":
            raise ApiError(f"unknown endpoint {method} {path}", definite=True, status=404)
        try:
            req = json.loads(body or b"{}")
            if not isinstance(req, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as e:
            raise ApiError(f"bad JSON body: {e}", definite=True, status=400) from None
        if path == "/kv/get" and "stale-read" in self.opts.bugs:
            return 200, self.kv.get(_str(req, "key"))  # BUG: local state, no ReadIndex
        if path not in WRITE_PATHS | ADMIN_PATHS | {"/kv/get"}:
            raise ApiError(f"unknown endpoint POST {path}", definite=True, status=404)
        # Definite failures (no leader yet, leader unreachable, just stepped down) are
        # retried until the request deadline: the cluster may elect a new leader. So is
        # a write with a session (client, seq) whose proposal was dropped (leadership
        # lost, entry overwritten, no answer from the leader): the state machine applies
        # a (client, seq) at most once, so re-proposing it is safe (unless no-dedup).
        # Once an attempt may have applied, the final error is indefinite.
        deadline = time.monotonic() + self.opts.request_timeout
        session = path in WRITE_PATHS and req.get("client") is not None
        maybe_applied = False
        while True:
            try:
                return await self._route(method, path, headers, body, req)
            except ApiError as e:
                maybe_applied = maybe_applied or not e.definite
                retry = e.status == 503 and (e.definite or session)
                if not retry or time.monotonic() >= deadline:
                    if maybe_applied:
                        e.definite = False
                    raise
                await asyncio.sleep(2 * self.opts.tick_ms / 1000)

    async def _route(self, method: str, path: str, headers: dict, body: bytes,
                     req: dict) -> tuple[int, dict]:
        leader = await self._await_leader()
        if leader is None:
            raise ApiError("no leader known", definite=True)
        if leader == self.core.id:
            return 200, await self._local(path, req)
        try:
            status, obj = await self.forwarder.forward(leader, path, req,
                                                       self.opts.request_timeout + 1,
                                                       self.core.term)
        except ApiError as e:
            if path == "/kv/get":
                e.definite = True
            raise
        if status == 503:
            raise ApiError(obj.get("error", "leader unavailable"),
                           definite=obj.get("definite") is True)
        return status, obj

    async def _local(self, path: str, req: dict) -> dict:
        if path == "/kv/get":
            key = _str(req, "key")
            await self._submit("read", None)
            return self.kv.get(key)
        if path in WRITE_PATHS:
            cmd = _command(path, req)
            res = await self._submit("propose", cmd)
            if isinstance(res, dict) and "error" in res:
                raise ApiError(res["error"], definite=res.get("definite", True), status=409)
            return res
        if path == "/members/add":
            return await self._member_add(_str(req, "id"), _str(req, "addr"))
        if path == "/members/remove":
            await self._submit("remove", _str(req, "id"))
            return {"ok": True, "members": self.core.voters}
        target = _str(req, "id")
        await self._submit("transfer", target)
        deadline = time.monotonic() + 4 * self.opts.election_ms / 1000
        while time.monotonic() < deadline:
            if self.core.leader == target:
                return {"ok": True, "leader": target}
            await asyncio.sleep(self.opts.tick_ms / 1000)
        raise ApiError("leadership transfer did not complete in time", definite=False)

    async def _member_add(self, node: str, addr: str) -> dict:
        parts = addr.split(":")
        if len(parts) == 2:
            parts.append(self.opts.peers[self.opts.node_id].split(":")[2])
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise ApiError("addr must be HOST:RAFTPORT[:CLIENTPORT]", definite=True, status=400)
        await self._submit("add", (node, ":".join(parts)))
        deadline = time.monotonic() + max(self.opts.request_timeout,
                                          12 * self.opts.election_ms / 1000)
        while time.monotonic() < deadline:
            res = self.core.learner_result(node)
            if res is not None and res[0] == "failed":
                raise ApiError(f"member add failed: {res[1]}", definite=True)
            if res is not None and res[0] == "proposed":
                _, idx, term = res
                if self.core.log.term(idx) not in (term, None):
                    raise ApiError("membership entry overwritten", definite=False)
                if self.core.applied >= idx:
                    return {"ok": True, "members": self.core.voters}
            await asyncio.sleep(self.opts.tick_ms / 1000)
        res = self.core.learner_result(node)
        raise ApiError("member add timed out", definite=res is None or res[0] != "proposed")


def _release(waiter: asyncio.Future, _done: Any) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _retrieve(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


def _settle(fut: asyncio.Future, exc: BaseException | None) -> None:
    if not fut.done():
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)


def _str(req: dict, name: str) -> str:
    v = req.get(name)
    if not isinstance(v, str) or not v:
        raise ApiError(f"field {name!r} must be a non-empty string", definite=True, status=400)
    return v


def _command(path: str, req: dict) -> dict:
    """Validate a write request and build the log command (session fields included)."""
    op = path.rsplit("/", 1)[1]
    cmd: dict[str, Any] = {"op": op}
    if path.startswith("/lock/"):
        cmd["op"] = "lock_" + op
        cmd["name"] = _str(req, "name")
        if op == "acquire":
            cmd["owner"] = _str(req, "owner")
            lease = req.get("lease_s", 10)
            if not isinstance(lease, int | float) or lease <= 0:
                raise ApiError("lease_s must be a positive number", definite=True, status=400)
            cmd["lease_s"] = lease
        else:
            cmd["token"] = req.get("token")
    elif op == "txn":
        if not isinstance(req.get("ops"), list):
            raise ApiError("ops must be a list of [f, key, value]", definite=True, status=400)
        cmd["ops"] = req["ops"]
    else:
        cmd["key"] = _str(req, "key")
        if op == "put":
            cmd["value"] = req.get("value")
        elif op == "cas":
            cmd["expected"] = req.get("expected")
            cmd["new"] = req.get("new")
            cmd["create_only"] = bool(req.get("create_only", False))
    if req.get("client") is not None:
        if not isinstance(req.get("seq"), int):
            raise ApiError("seq must be an integer when client is given", definite=True,
                           status=400)
        cmd["client"], cmd["seq"] = str(req["client"]), req["seq"]
    return cmd

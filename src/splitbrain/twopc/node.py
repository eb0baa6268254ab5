"""Two-phase commit: every node a participant, every node coordinates its clients' txns.

A client sends ``POST /txn {"ops": [[f, key, value], ...]}`` to any node; that node
coordinates the transaction (the txn id names it, so participants know whom to ask):

1. **prepare**: the micro-ops go to the owners of their keys (:func:`shard.owner`),
   one participant after another in node order; each locks its keys (strict 2PL),
   answers its reads, logs its vote durably and votes yes — or no when a key stays
   locked by another txn for ``lock_wait`` seconds.
2. **decide**: all yes -> commit, anything else (a no, a silent participant) ->
   abort. The decision is fsynced to the coordinator's log *before* the client
   hears it, then delivered to the participants in the background (retried until
   each acknowledges). An abort caused by a no vote is retried as a new txn for
   ``retry_s`` seconds; what the client finally hears is definite either way.

Presumed commit: before its first prepare the coordinator fsyncs a ``collecting``
record naming the participants. After a crash every collecting txn without a
decision is aborted (and the participants told); a txn the log does not know at
all is answered "committed" — only committed txns may be forgotten.

A participant that voted yes is *in doubt*: it may neither commit nor abort on its
own, since the others may have done either. It holds its locks and asks the
coordinator (``/decision``) until it learns the outcome — 2PC blocks while the
coordinator is down or cut off; other txns on those keys are refused (a definite
failure: their coordinator aborts them).

Switches (``--opt bug=a,b``), the textbook ways to get 2PC wrong:

* ``commit-on-timeout``: an in-doubt participant that cannot reach the coordinator
  for ``decision_timeout`` seconds commits on its own. When the coordinator decided
  abort (or crashed before deciding, and aborts at recovery) the txn is half applied.
* ``forget-decision``: the coordinator's log is not fsynced, so a crash loses its
  records; after a restart it presumes commit for a txn it was still collecting
  votes for (later participants never prepared it) or had decided to abort: the
  participants that ask are told the opposite of what the others did.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from splitbrain.nodekit import AppendLog, NodeError, PeerDown, call, opt_bool
from splitbrain.twopc.shard import ABORTED, COMMITTED, Shard, Txn, owner

log = logging.getLogger("splitbrain.twopc")

BUGS = ("commit-on-timeout", "forget-decision")


def parse_bugs(text: str, known: tuple[str, ...]) -> set[str]:
    bugs = {b.strip() for b in text.split(",") if b.strip()}
    bad = bugs - set(known)
    if bad:
        raise SystemExit(f"error: unknown bug(s) {sorted(bad)}; known: {', '.join(known)}")
    return bugs


class Conflict(Exception):
    """A participant voted no (a lock conflict): the txn aborts and may be retried."""


Parts = dict[str, list[tuple[int, list[Any]]]]


class CommitNode:
    """What 2PC and 3PC nodes share: the shard, the routes, prepare and delivery."""

    known_bugs: tuple[str, ...] = BUGS

    def __init__(self, me: str, peers: dict[str, str], data_dir: str,
                 opts: dict[str, str]) -> None:
        self.me, self.peers, self.ids = me, peers, sorted(peers)
        self.bugs = parse_bugs(opts.get("bug", ""), self.known_bugs)
        self.lock_wait = float(opts.get("lock_wait", "0.5"))
        self.rpc_timeout = float(opts.get("rpc_timeout", "1.0"))
        self.decision_timeout = float(opts.get("decision_timeout", "1.0"))
        self.retry_s = float(opts.get("retry_s", "1.0"))
        self.verbose = opt_bool(opts, "verbose", False)
        self.shard = Shard(data_dir)
        self.pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="peer")
        self.boot = uuid.uuid4().hex[:8]
        self.counter = 0
        self.conflicts = 0
        self.mu = threading.Lock()
        self.outbox: dict[tuple[str, str], str] = {}    # (tid, participant) -> outcome
        threading.Thread(target=self._deliver_loop, daemon=True, name="deliver").start()
        threading.Thread(target=self._resolve_loop, daemon=True, name="resolve").start()

    # -- plumbing --------------------------------------------------------------------
    def routes(self) -> dict[str, Any]:
        return {"/txn": self.h_txn, "/prepare": self.h_prepare, "/finish": self.h_finish,
                "/status": self.h_status}

    def send(self, node: str, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request to ``node``; the local participant is called directly."""
        if node == self.me:
            return self.routes()[route](body)
        return call(self.peers[node], route, body, timeout=self.rpc_timeout)

    def to_each(self, bodies: dict[str, dict[str, Any]], route: str
                ) -> dict[str, dict[str, Any] | None]:
        """Send each node its body at once; None for a node that did not answer."""
        futs = {n: self.pool.submit(self.send, n, route, b) for n, b in bodies.items()}
        out: dict[str, dict[str, Any] | None] = {}
        for n, f in futs.items():
            try:
                out[n] = f.result(timeout=self.rpc_timeout + 0.5)
            except Exception:   # PeerDown, NodeError, a timeout: no answer
                out[n] = None
        return out

    def new_tid(self) -> str:
        with self.mu:
            self.counter += 1
            return f"{self.me}.{self.boot}.{self.counter}"

    def split(self, ops: list[list[Any]]) -> Parts:
        parts: Parts = {}
        for i, op in enumerate(ops):
            if not (isinstance(op, list) and len(op) == 3):
                raise NodeError(f"micro-op {op!r} is not [f, key, value]", True, 400)
            op = [op[0], str(op[1]), op[2]]
            parts.setdefault(owner(op[1], self.ids), []).append((i, op))
        return parts

    def prepare_all(self, tid: str, parts: Parts) -> list[list[Any]] | None:
        """Phase one, one participant after another in node order: every txn takes
        its locks in the same global order, so no two can wait for each other (no
        deadlock). The completed ops in the client's order if all voted yes; None if
        one did not answer; :class:`Conflict` if one voted no."""
        meta = {"coord": self.me, "parts": sorted(parts)}
        done: list[list[Any]] = [[] for _ in range(sum(len(p) for p in parts.values()))]
        for n in sorted(parts):
            body = {"tid": tid, "ops": [o for _, o in parts[n]], "meta": meta}
            try:
                vote = self.send(n, "/prepare", body)
            except (PeerDown, NodeError):
                return None
            if vote.get("vote") != "yes":
                raise Conflict(tid)
            for (i, _), op in zip(parts[n], vote["ops"], strict=True):
                done[i] = op
        return done

    def run_txn(self, ops: list[list[Any]]) -> dict[str, Any]:
        """Run the protocol (:meth:`attempt`), retrying a txn aborted by a lock conflict
        (a definite abort, so a retry cannot apply it twice) for ``retry_s`` seconds."""
        parts = self.split(ops)
        deadline = time.monotonic() + self.retry_s
        while True:
            tid = self.new_tid()
            try:
                return {"ops": self.attempt(tid, parts), "tid": tid}
            except Conflict:
                self.conflicts += 1
                if time.monotonic() > deadline:
                    raise NodeError(f"txn {tid} aborted: lock conflicts", True, 409) from None
                time.sleep(random.uniform(0.0, 0.02))

    def h_txn(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.run_txn(body["ops"])

    def deliver(self, tid: str, nodes: list[str], outcome: str) -> None:
        """Tell the participants the outcome in the background, one after another (in
        ``nodes`` order), and again every half second until each has it."""
        with self.mu:
            for n in nodes:
                self.outbox[(tid, n)] = outcome
        self.pool.submit(lambda: [self._deliver_one(tid, n, outcome) for n in nodes])

    def _deliver_one(self, tid: str, node: str, outcome: str) -> None:
        try:
            got = self.send(node, "/finish", {"tid": tid, "outcome": outcome})
        except (PeerDown, NodeError):
            return
        if got.get("state") not in (outcome, "unknown"):
            log.error("txn %s: %s ended %s, not %s", tid, node, got.get("state"), outcome)
        with self.mu:
            self.outbox.pop((tid, node), None)

    def _deliver_loop(self) -> None:
        while True:
            time.sleep(0.5)
            with self.mu:
                items = list(self.outbox.items())
            for (tid, n), outcome in items:
                self.pool.submit(self._deliver_one, tid, n, outcome)

    def _resolve_loop(self) -> None:
        while True:
            time.sleep(0.2)
            for txn in self.shard.in_doubt():
                try:
                    self.resolve(txn)
                except Exception:  # keep resolving the others
                    log.exception("resolving %s", txn.tid)

    # -- participant routes ----------------------------------------------------------
    def h_prepare(self, body: dict[str, Any]) -> dict[str, Any]:
        done = self.shard.prepare(body["tid"], body["ops"], body["meta"], self.lock_wait)
        return {"vote": "no"} if done is None else {"vote": "yes", "ops": done}

    def h_finish(self, body: dict[str, Any]) -> dict[str, Any]:
        outcome = body["outcome"]
        if outcome not in (COMMITTED, ABORTED):
            raise NodeError(f"bad outcome {outcome!r}", True, 400)
        return {"state": self.shard.finish(body["tid"], outcome)}

    def h_status(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"id": self.me, "in_doubt": len(self.shard.in_doubt()),
                "keys": len(self.shard.data), "attempts": self.counter,
                "conflicts": self.conflicts, "bugs": sorted(self.bugs)}

    # -- what each protocol fills in ---------------------------------------------------
    def attempt(self, tid: str, parts: Parts) -> list[list[Any]]:
        """One try: the completed ops, or Conflict (retry), or NodeError."""
        raise NotImplementedError

    def resolve(self, txn: Txn) -> None:
        """Settle an in-doubt txn of this participant (called every 0.2 s)."""
        raise NotImplementedError

    def stop(self) -> None:
        """A clean stop keeps what was buffered (only a SIGKILL loses it)."""


class TwoPCNode(CommitNode):
    """A 2PC node: a participant for its keys, a coordinator for its clients' txns."""

    def __init__(self, me: str, peers: dict[str, str], data_dir: str,
                 opts: dict[str, str]) -> None:
        super().__init__(me, peers, data_dir, opts)
        path = os.path.join(data_dir, "decisions.jsonl")
        self.decisions = AppendLog(path, fsync="forget-decision" not in self.bugs)
        self.decided: dict[str, str] = {}
        collecting: dict[str, list[str]] = {}
        for r in self.decisions.replay():
            if r["outcome"] == "collecting":
                collecting[r["tid"]] = r["parts"]
            else:
                self.decided[r["tid"]] = r["outcome"]
        self.active: set[str] = set()
        self.dmu = threading.Lock()
        undecided = {t: p for t, p in collecting.items() if t not in self.decided}
        log.info("2pc node %s up: %d decisions on disk, %d undecided (abort), %d txns in "
                 "doubt here, bugs %s", me, len(self.decided), len(undecided),
                 len(self.shard.in_doubt()), sorted(self.bugs) or "none")
        for tid, parts in undecided.items():   # crashed while collecting votes: abort
            self.decide(tid, ABORTED)
            self.deliver(tid, parts, ABORTED)

    def routes(self) -> dict[str, Any]:
        return {**super().routes(), "/decision": self.h_decision}

    def decide(self, tid: str, outcome: str) -> None:
        with self.dmu:
            self.decisions.append({"tid": tid, "outcome": outcome})
            self.decided[tid] = outcome
            self.active.discard(tid)

    def attempt(self, tid: str, parts: Parts) -> list[list[Any]]:
        nodes = sorted(parts, key=lambda n: (n != self.me, n))   # my own share first
        with self.dmu:   # presumed commit: a txn is on disk before any vote is asked
            self.decisions.append({"tid": tid, "outcome": "collecting", "parts": nodes})
            self.active.add(tid)
        done: list[list[Any]] | None = None
        try:
            done = self.prepare_all(tid, parts)
        finally:   # a no vote, silence or an error: abort (logged, told to all)
            outcome = COMMITTED if done is not None else ABORTED
            self.decide(tid, outcome)
            self.deliver(tid, nodes, outcome)
        if done is None:
            raise NodeError(f"txn {tid} aborted (a participant did not answer)", True, 409)
        return done

    def h_decision(self, body: dict[str, Any]) -> dict[str, Any]:
        """A participant asks for the outcome. No record at all: presumed commit (every
        txn that may abort was logged as collecting before its first prepare)."""
        tid = body["tid"]
        with self.dmu:
            if tid in self.decided:
                return {"outcome": self.decided[tid]}
            if tid in self.active:
                return {"outcome": "pending"}
        return {"outcome": COMMITTED}

    def resolve(self, txn: Txn) -> None:
        """An in-doubt participant asks its coordinator; correct 2PC then waits."""
        if time.monotonic() - txn.since < self.decision_timeout / 2:
            return
        coord = txn.meta["coord"]
        try:
            outcome = self.send(coord, "/decision", {"tid": txn.tid})["outcome"]
        except (PeerDown, NodeError):
            outcome = None
        if outcome in (COMMITTED, ABORTED):
            log.info("txn %s: in doubt, coordinator %s says %s", txn.tid, coord, outcome)
            self.shard.finish(txn.tid, outcome)
        elif (outcome is None and "commit-on-timeout" in self.bugs
              and time.monotonic() - txn.since >= self.decision_timeout):
            log.warning("txn %s: coordinator %s silent for %.1fs: committing on my own",
                        txn.tid, coord, self.decision_timeout)
            self.shard.finish(txn.tid, COMMITTED)

    def stop(self) -> None:
        self.decisions.flush()

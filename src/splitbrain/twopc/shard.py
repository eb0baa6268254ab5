"""A participant's share of the data: the keys it owns, their locks and its log.

Shared by two- and three-phase commit (standard library + nodekit only). Keys are
sharded over the nodes by a stable hash (:func:`owner`); each node is the only
holder of its keys, so a transaction over several keys is an atomic commitment
problem between their owners, which is what 2PC and 3PC solve.

Concurrency control is strict two-phase locking: ``prepare`` takes an exclusive
lock on every key the transaction touches (reads too); locks are held until the
outcome is applied. A prepare takes all its keys at once or none, waiting up to
``lock_wait`` seconds, then votes no; coordinators prepare the participants one
after another in node order, so the waits cannot form a cycle. Reads are answered
at prepare time, under the locks, so every committed transaction sees a state no other one changes before it
commits: serializable, and strict, as each commit point lies inside its request.

The log (``wal.jsonl``, fsynced per record) holds ``prep`` (the transaction's writes,
its participants and coordinator: the vote is durable before it is sent), ``pre``
(3PC's pre-commit), ``commit`` and ``abort``. Replaying it rebuilds the data, the
locks of every transaction still in doubt, and its state.
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from typing import Any

from splitbrain.nodekit import AppendLog, NodeError

PREPARED, PRECOMMIT, COMMITTED, ABORTED = "prepared", "precommit", "committed", "aborted"


def owner(key: str, ids: list[str]) -> str:
    """The node that holds ``key``: a stable hash (crc32) over the sorted node ids."""
    ids = sorted(ids)
    return ids[zlib.crc32(key.encode()) % len(ids)]


def evaluate(ops: list[list[Any]], data: dict[str, Any]) -> tuple[list[list[Any]], list[list[Any]]]:
    """Run micro-ops ``[f, key, value]`` over ``data`` (not changed).

    Returns the completed ops (reads filled in, seeing the txn's own earlier writes)
    and the write ops to apply at commit. Raises NodeError (definite) on bad input.
    """
    local: dict[str, Any] = {}
    done: list[list[Any]] = []
    writes: list[list[Any]] = []
    for f, k, v in ops:
        cur = local[k] if k in local else data.get(k)
        if f == "r":
            done.append([f, k, list(cur) if isinstance(cur, list) else cur])
        elif f == "w":
            local[k] = v
            done.append([f, k, v])
            writes.append([f, k, v])
        elif f == "append":
            if cur is not None and not isinstance(cur, list):
                raise NodeError(f"append to {k!r} whose value is not a list", True, 400)
            local[k] = [*(cur or []), v]
            done.append([f, k, v])
            writes.append([f, k, v])
        else:
            raise NodeError(f"unknown micro-op {f!r}", True, 400)
    return done, writes


def apply_writes(data: dict[str, Any], writes: list[list[Any]]) -> None:
    for f, k, v in writes:
        data[k] = v if f == "w" else [*(data.get(k) or []), v]


class Txn:
    """What a participant knows of one transaction."""

    def __init__(self, tid: str, state: str, keys: list[str], writes: list[list[Any]],
                 meta: dict[str, Any], recovered: bool = False) -> None:
        self.tid, self.state, self.keys, self.writes, self.meta = tid, state, keys, writes, meta
        self.since = time.monotonic()     # when the state last changed
        self.recovered = recovered        # loaded from the log at start: in doubt after a crash


class Shard:
    """The owned keys, the lock table and the participant log of one node."""

    def __init__(self, data_dir: str) -> None:
        self.data: dict[str, Any] = {}
        self.txns: dict[str, Txn] = {}
        self.locks: dict[str, str] = {}
        self.cond = threading.Condition()
        self.log = AppendLog(os.path.join(data_dir, "wal.jsonl"), fsync=True)
        self._replay()

    def _replay(self) -> None:
        for r in self.log.replay():
            tid, t = r["tid"], r["t"]
            if t == "prep":
                self.txns[tid] = Txn(tid, PREPARED, r["keys"], r["writes"], r["meta"], True)
            elif t == "pre":
                self.txns[tid].state = PRECOMMIT
            elif t == "commit":
                txn = self.txns[tid]
                apply_writes(self.data, txn.writes)
                txn.state = COMMITTED
            elif t == "abort":
                if tid in self.txns:
                    self.txns[tid].state = ABORTED
                else:
                    self.txns[tid] = Txn(tid, ABORTED, [], [], {})
        for txn in self.txns.values():
            if txn.state in (PREPARED, PRECOMMIT):
                for k in txn.keys:
                    self.locks[k] = txn.tid

    # -- the participant's steps ---------------------------------------------------
    def prepare(self, tid: str, ops: list[list[Any]], meta: dict[str, Any],
                lock_wait: float) -> list[list[Any]] | None:
        """Lock, evaluate, log the vote. The completed ops (yes) or None (no)."""
        keys = sorted({str(o[1]) for o in ops})
        deadline = time.monotonic() + lock_wait
        with self.cond:
            while True:
                if tid in self.txns:      # already decided (terminated) or a duplicate
                    return None
                if all(self.locks.get(k) in (None, tid) for k in keys):
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return None           # a conflict: vote no (nothing logged)
                self.cond.wait(left)
            done, writes = evaluate(ops, self.data)
            self.log.append({"t": "prep", "tid": tid, "keys": keys, "writes": writes,
                             "meta": meta})
            self.txns[tid] = Txn(tid, PREPARED, keys, writes, meta)
            for k in keys:
                self.locks[k] = tid
            return done

    def state(self, tid: str, *, unknown_aborts: bool = False) -> str | None:
        """The txn's state; ``unknown_aborts``: an unknown txn is logged aborted first
        (so a prepare still on its way is refused: the asker may decide abort on it)."""
        with self.cond:
            txn = self.txns.get(tid)
            if txn is None and unknown_aborts:
                self._finish(tid, ABORTED)
                return ABORTED
            return txn.state if txn else None

    def precommit(self, tid: str) -> bool:
        """3PC: prepared -> pre-committed (logged). False if the txn is not prepared."""
        with self.cond:
            txn = self.txns.get(tid)
            if txn is None or txn.state not in (PREPARED, PRECOMMIT):
                return False
            if txn.state == PREPARED:
                self.log.append({"t": "pre", "tid": tid})
                txn.state, txn.since = PRECOMMIT, time.monotonic()
            return True

    def finish(self, tid: str, outcome: str) -> str:
        """Apply ``committed`` or ``aborted``; returns the state the txn ends in (an
        already final state wins: the caller sees a conflicting outcome that way)."""
        with self.cond:
            return self._finish(tid, outcome)

    def _finish(self, tid: str, outcome: str) -> str:
        txn = self.txns.get(tid)
        if txn is not None and txn.state in (COMMITTED, ABORTED):
            return txn.state
        if txn is None:
            if outcome == COMMITTED:      # never prepared here: nothing to commit
                return "unknown"
            txn = self.txns[tid] = Txn(tid, ABORTED, [], [], {})
            self.log.append({"t": "abort", "tid": tid})
            return ABORTED
        self.log.append({"t": "commit" if outcome == COMMITTED else "abort", "tid": tid})
        if outcome == COMMITTED:
            apply_writes(self.data, txn.writes)
        txn.state, txn.since, txn.recovered = outcome, time.monotonic(), False
        for k in txn.keys:
            if self.locks.get(k) == tid:
                del self.locks[k]
        self.cond.notify_all()
        return outcome

    def in_doubt(self) -> list[Txn]:
        """Transactions voted yes and not yet finished."""
        with self.cond:
            return [t for t in self.txns.values() if t.state in (PREPARED, PRECOMMIT)]

"""A leaderless quorum key-value store (Dynamo-style), standard library only.

Every node is a replica of every key (N = all nodes) and any node coordinates a
client request. A key holds either a *register* — a value with a version — or a
*grow-only set* whose replicas merge by union (Dynamo's shopping cart).

Correct mode is the multi-writer ABD register (Attiya, Bar-Noy, Dolev), which is
linearizable whenever ``W + R > N``:

* **write**: read the versions of ``R`` replicas, pick ``(highest counter + 1,
  this node, a unique tag)``, send the value to every replica and answer once ``W``
  have stored it (a replica keeps a record only if its version is higher);
* **read**: read ``R`` replicas, take the highest version, *write it back* to ``W``
  replicas, then answer. The write-back is what makes a read that saw a value
  (perhaps from a write still in flight) guarantee that every later read sees it.

The switches (``--opt``) that break it, each a textbook anomaly:

* ``w=`` / ``r=`` with ``W + R <= N``: a read quorum can miss the last write quorum —
  stale reads under a partition;
* ``write_back=false``: reads answer without writing back. A write that reached one
  replica and then timed out can be seen by one read and unseen by a later one (new
  then old: not linearizable, although ``W + R > N``);
* ``lww=true``: last-writer-wins — a write's version is the coordinator's wall clock
  ``(time, node, tag)`` and it skips the read phase. A node whose clock is behind
  writes versions lower than what the replicas hold: they keep the old value, yet
  the write is acknowledged — lost acknowledged writes under clock skew.

Errors are honest: a read that found no quorum took no effect (``definite``); a
write that failed its read phase sent nothing (``definite``); a write that sent its
value but got fewer than ``W`` acknowledgements may be on some replica
(indeterminate, ``definite=False``).

HTTP API (``POST``, JSON): ``/read {key}`` -> ``{value}``, ``/write {key, value}``,
``/add {key, element}``, ``/status``; replica-to-replica ``/replica/get {key}`` ->
``{rec}`` and ``/replica/put {key, rec}``. A record is ``{"ver": [counter, node,
tag], "val": value}`` (register) or ``{"set": [elements]}`` (grow-only set).

This module holds the protocol logic (records, merging, the replica store, the
coordinator); ``__main__`` wires it to :mod:`splitbrain.nodekit`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from splitbrain.nodekit import AppendLog, NodeError

Record = dict[str, Any]
#: ``fanout(route, body, need)`` -> the replies of the replicas that answered
Fanout = Callable[[str, dict[str, Any], int], list[dict[str, Any]]]


def freeze(v: Any) -> str:
    """A canonical text of a JSON value: set elements are compared by it."""
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def is_set(rec: Record | None) -> bool:
    return rec is not None and "set" in rec


def newer(a: Record | None, b: Record | None) -> bool:
    """Whether register record ``a`` has a higher version than ``b`` (None is lowest)."""
    if a is None:
        return False
    if b is None:
        return True
    return tuple(a["ver"]) > tuple(b["ver"])


def union(elements: list[Any], more: list[Any]) -> list[Any]:
    """``elements`` plus those of ``more`` not in it, in a canonical order."""
    seen = {freeze(e): e for e in elements}
    for e in more:
        seen.setdefault(freeze(e), e)
    return [seen[k] for k in sorted(seen)]


def merge(records: list[Record | None]) -> Record | None:
    """What a coordinator makes of the replies of a read quorum.

    Registers: the record with the highest version. Sets: the union. A key that is
    a register on one replica and a set on another is a client's mistake (the
    workload never mixes them): a definite error.
    """
    present = [r for r in records if r is not None]
    if not present:
        return None
    sets = [r for r in present if is_set(r)]
    if sets:
        if len(sets) != len(present):
            raise NodeError("key holds a register on some replicas and a set on others",
                            definite=True, status=409)
        out: list[Any] = []
        for r in sets:
            out = union(out, r["set"])
        return {"set": out}
    best = present[0]
    for r in present[1:]:
        if newer(r, best):
            best = r
    return best


def value_of(rec: Record | None) -> Any:
    """The client-visible value: the register's value, the set's elements, or None."""
    if rec is None:
        return None
    return list(rec["set"]) if is_set(rec) else rec["val"]


class Replica:
    """One node's copy of every key, logged to disk (fsync per record, switchable).

    ``put`` keeps a register record only if its version is higher than the stored
    one, and merges a set by union; either way it acknowledges — a replica that
    already holds something newer has done its part (this is what makes LWW lose
    writes silently, as in Cassandra).
    """

    def __init__(self, log: AppendLog | None) -> None:
        self.log = log
        self.data: dict[str, Record] = {}
        self.lock = threading.Lock()
        if log is not None:
            for entry in log.replay():
                self._apply(entry["k"], entry["rec"])

    def get(self, key: str) -> Record | None:
        with self.lock:
            rec = self.data.get(key)
            return dict(rec) if rec is not None else None

    def put(self, key: str, rec: Record) -> bool:
        """Store ``rec`` (what it adds to the current record); True if anything changed."""
        if not isinstance(rec, dict) or not ("set" in rec or "ver" in rec):
            raise NodeError(f"bad record {rec!r}", definite=True, status=400)
        with self.lock:
            delta = self._apply(key, rec)
            if delta is not None and self.log is not None:
                self.log.append({"k": key, "rec": delta})
            return delta is not None

    def _apply(self, key: str, rec: Record) -> Record | None:
        cur = self.data.get(key)
        if is_set(rec):
            if cur is not None and not is_set(cur):
                raise NodeError(f"{key} holds a register, not a set", definite=True, status=409)
            have = cur["set"] if cur is not None else []
            merged = union(have, rec["set"])
            if len(merged) == len(have):
                return None
            known = {freeze(e) for e in have}
            self.data[key] = {"set": merged}
            return {"set": [e for e in rec["set"] if freeze(e) not in known]}
        if is_set(cur):
            raise NodeError(f"{key} holds a set, not a register", definite=True, status=409)
        if not newer(rec, cur):
            return None
        self.data[key] = {"ver": list(rec["ver"]), "val": rec["val"]}
        return self.data[key]

    def flush(self) -> None:
        if self.log is not None:
            self.log.flush()


@dataclass
class Settings:
    """The protocol switches of one node (see the module docstring)."""

    n: int
    w: int
    r: int
    write_back: bool = True
    lww: bool = False


class Coordinator:
    """Runs client requests against the replicas through ``fanout`` (the quorum calls)."""

    def __init__(self, node_id: str, settings: Settings, fanout: Fanout,
                 clock: Callable[[], float] = time.time) -> None:
        self.id = node_id
        self.s = settings
        self.fanout = fanout
        self.clock = clock

    def _tag(self) -> int:
        # Unique per write, so two writes never share a version (even from one node
        # across a restart): a version names exactly one value.
        return random.getrandbits(62)

    def _read_quorum(self, key: str) -> tuple[Record | None, list[Record | None]]:
        replies = self.fanout("/replica/get", {"key": key}, self.s.r)
        if len(replies) < self.s.r:
            raise NodeError(f"read quorum not reached: {len(replies)} of {self.s.r} replicas "
                            f"answered", definite=True)
        recs = [r.get("rec") for r in replies]
        return merge(recs), recs

    def _write_quorum(self, key: str, rec: Record) -> int:
        return len(self.fanout("/replica/put", {"key": key, "rec": rec}, self.s.w))

    def read(self, key: str) -> Any:
        """Read R replicas; write the highest back to W (unless switched off); answer."""
        best, recs = self._read_quorum(key)
        if best is not None and self.s.write_back and not self._on_w(best, recs):
            acks = self._write_quorum(key, best)
            if acks < self.s.w:
                # The read answers nothing, so it took no effect a client could rely
                # on (the write-back only spreads a value some replica already had).
                raise NodeError(f"read write-back reached {acks} of {self.s.w} replicas",
                                definite=True)
        return value_of(best)

    def _on_w(self, best: Record, recs: list[Record | None]) -> bool:
        """Whether ``best`` is already on W of the replicas just read (no write-back needed)."""
        if is_set(best):
            return sum(1 for r in recs if r is not None and len(r["set"]) == len(best["set"])
                       ) >= self.s.w
        return sum(1 for r in recs if r is not None and not is_set(r)
                   and list(r["ver"]) == list(best["ver"])) >= self.s.w

    def write(self, key: str, value: Any) -> None:
        """ABD write (read the highest version, write version + 1), or LWW by wall clock."""
        if self.s.lww:
            ver: list[Any] = [self.clock(), self.id, self._tag()]
        else:
            best, _ = self._read_quorum(key)   # definite error: nothing was sent yet
            if is_set(best):
                raise NodeError(f"{key} holds a set, not a register", definite=True, status=409)
            ver = [(best["ver"][0] if best else 0) + 1, self.id, self._tag()]
        acks = self._write_quorum(key, {"ver": ver, "val": value})
        if acks < self.s.w:
            raise NodeError(f"write reached {acks} of {self.s.w} replicas: it may be on some "
                            f"of them", definite=False)

    def add(self, key: str, element: Any) -> None:
        """Add ``element`` to the grow-only set at ``key`` on W replicas (merged by union)."""
        acks = self._write_quorum(key, {"set": [element]})
        if acks < self.s.w:
            raise NodeError(f"add reached {acks} of {self.s.w} replicas: it may be on some "
                            f"of them", definite=False)


def settings_from(opts: dict[str, str], n: int, opt_bool: Callable[[dict[str, str], str, bool],
                                                                    bool]) -> Settings:
    """Settings from ``--opt`` values: ``w`` / ``r`` (0 or absent: a majority of n)."""
    majority = n // 2 + 1
    w = int(opts.get("w") or 0) or majority
    r = int(opts.get("r") or 0) or majority
    if not (1 <= w <= n and 1 <= r <= n):
        raise SystemExit(f"error: w={w} and r={r} must be between 1 and N={n}")
    return Settings(n=n, w=w, r=r, write_back=opt_bool(opts, "write_back", True),
                    lww=opt_bool(opts, "lww", False))

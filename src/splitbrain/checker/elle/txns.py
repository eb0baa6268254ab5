"""Transactions from a history: pair invocations with completions, and order them.

A transaction is one ``txn`` operation: its micro-ops (from the completion when there is
one), its outcome (``ok`` / ``fail`` / ``info``), its process, and where it began and
ended in the history (for the real-time order).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from splitbrain.errors import HarnessError
from splitbrain.history.ops import Op, pair

from .graph import PROCESS, REALTIME, DepGraph

READ, APPEND, WRITE = "r", "append", "w"


@dataclass(slots=True)
class Txn:
    """One transaction; ``node`` is its vertex in the dependency graph (-1 for failures)."""

    type: str
    process: Any
    mops: list[list[Any]]
    index: int  # op index of the completion (of the invocation if it never completed)
    inv_pos: int
    cmp_pos: int | None  # None: never known to have completed (info / unfinished)
    node: int = -1


def _is_txn(op: Op) -> bool:
    return op.f in ("txn", None) and op.process != "nemesis"


def _check_mops(value: Any, op: Op, pos: int, kinds: frozenset[str]) -> list[list[Any]]:
    if not isinstance(value, (list, tuple)):
        raise HarnessError(f"op {pos}: a txn value must be a list of [f key value] micro-ops, "
                           f"got {type(value).__name__}; is this a transactional history?")
    if type(value) is list:
        for mop in value:
            if not (type(mop) is list and len(mop) == 3 and mop[0] in kinds
                    and type(mop[1]) is not list and type(mop[2]) is not tuple):
                break
        else:
            return value  # the common, already-normal case: no copy (we never mutate it)
    out = []
    for mop in value:
        if type(mop) is list and len(mop) == 3 and mop[0] in kinds \
                and type(mop[1]) is not list and type(mop[2]) is not tuple:
            out.append(mop)
            continue
        if not isinstance(mop, (list, tuple)) or len(mop) not in (2, 3) or (
                len(mop) == 2 and mop[0] != READ):
            raise HarnessError(f"op {pos}: micro-op {mop!r} is not [f key value]; "
                               f"fix the history or use another checker")
        f, k, v = mop if len(mop) == 3 else (mop[0], mop[1], None)
        if f not in kinds:
            raise HarnessError(f"op {pos}: micro-op function {f!r} is not one of "
                               f"{sorted(kinds)}; pick the checker matching the workload")
        if isinstance(k, list):
            k = tuple(k)
        if isinstance(v, tuple):
            v = list(v)
        out.append([f, k, v])
    return out


def collect(ops: list[Op], kinds: frozenset[str]) -> list[Txn]:
    """Pair txn ops into transactions (with :func:`splitbrain.history.ops.pair`), in
    invocation order.

    Completions without an invocation (histories of completions only, as in many Elle
    tests) begin where they end. Invocations never completed count as ``info``.
    """
    txns: list[Txn] = []
    for p in pair(ops):
        first, done = p.invoke, p.complete
        if first.f not in ("txn", None):
            continue
        if done is None:   # never completed: its outcome is unknown
            pos = p.invoke_pos
            idx = first.index if first.index is not None and first.index >= 0 else pos
            mops = _check_mops(first.value if first.value is not None else [], first, pos,
                               kinds)
            txns.append(Txn("info", first.process, mops, idx, pos, None))
            continue
        typ, pos = done.type, p.complete_pos
        if typ not in ("ok", "fail", "info"):
            raise HarnessError(f"op {pos}: unknown op type {typ!r}; expected invoke, ok, "
                               f"fail or info")
        idx = done.index if done.index is not None and done.index >= 0 else pos
        value = done.value
        if value is None and done is not first:
            value = first.value
        mops = _check_mops(value if value is not None else [], done, pos, kinds)
        txns.append(Txn(typ, done.process, mops, idx, p.invoke_pos, pos if typ == "ok" else None))
    txns.sort(key=_inv_pos)
    return txns


_inv_pos = attrgetter("inv_pos")


def add_process_edges(g: DepGraph, txns: list[Txn]) -> None:
    """Link consecutive possibly-committed transactions of each process."""
    last: dict[Any, int] = {}
    for t in txns:
        if t.node < 0:
            continue
        prev = last.get(t.process)
        if prev is not None:
            g.link(prev, t.node, PROCESS)
        last[t.process] = t.node


def add_realtime_edges(g: DepGraph, txns: list[Txn]) -> int:
    """Encode "T1 completed before T2 was invoked" with a chain of clock vertices.

    Returns the number of transaction pairs that have a real-time edge between their
    neighbours in the chain (0 means the real-time order is empty).
    """
    done = sorted((t for t in txns if t.node >= 0 and t.cmp_pos is not None),
                  key=attrgetter("cmp_pos"))
    if not done:
        return 0
    # Clock j (vertex base + j) stands for the j-th completion: T -> its clock, each
    # clock -> the next, and the clock of the last completion before T began -> T.
    out = g.out
    base = len(out)
    clocks: list[dict[int, int]] = [{} for _ in done]
    for j, t in enumerate(done):
        d = out[t.node]
        c = base + j
        d[c] = d.get(c, 0) | REALTIME
        if j:
            clocks[j - 1][c] = REALTIME
    out.extend(clocks)
    positions = [t.cmp_pos for t in done]
    linked = 0
    for t in txns:
        if t.node < 0:
            continue
        j = bisect_left(positions, t.inv_pos) - 1
        if j >= 0:
            clocks[j][t.node] = REALTIME
            linked += 1
    return linked

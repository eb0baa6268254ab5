"""Linearizability checking: a port of Porcupine's algorithm.

Wing & Gong's search with Lowe's just-in-time linearization and a cache of
``(linearized set, model state)`` pairs (Porcupine's ``checkSingle``), applied per
history partition (P-compositionality). Our own code; the algorithm is Porcupine's.

Jepsen semantics: ``fail`` ops did not happen and are dropped (unless
``failed_cas_observes``, where a failed cas is an observation with a return time);
an ``info`` op, or an invocation never completed, may take effect at any point
after its invocation, or never. Such ops have no return entry: the search may
linearize them whenever it likes and succeeds once every *completed* op is
linearized, so an info op left out simply never happened. Info ops whose effect
is nil (reads with an unknown result) are dropped up front.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Generator, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from splitbrain.checker.base import Checker
from splitbrain.checker.models import NOT_READ as _NOT_READ
from splitbrain.checker.models import UNKNOWN, Model, get_model
from splitbrain.checker.result import LinResult
from splitbrain.history.ops import FAIL, INFO, INVOKE, NEMESIS, OK, Op
from splitbrain.verdict import UNKNOWN as UNKNOWN_VERDICT
from splitbrain.verdict import merge as merge_valid

#: memory budget for the search cache of one check, in bytes (approximate)
DEFAULT_MEMORY_BUDGET = 1 << 30
MAX_FAILURES = 3
#: go parallel only when the history is at least this many ops in this many partitions
PARALLEL_MIN_OPS = 20_000
PARALLEL_MIN_PARTITIONS = 8
#: ... of at least this many ops on average (small searches cost less than shipping them)
PARALLEL_MIN_MEAN_OPS = 200


@dataclass(slots=True)
class Call:
    """One operation of a partition, prepared for the search."""

    call: int            # position of the invocation in the history (orders entries)
    ret: int | None      # position of the completion; None: info / never completed
    inp: Any
    out: Any
    index: int           # the invocation op's index
    process: Any
    f: str
    call_time: int
    ret_time: int | None
    outcome: str
    value_in: Any = None     # the invocation's value, as recorded
    value_out: Any = None    # the completion's value (None for info)


@dataclass(slots=True)
class Partition:
    key: Any
    calls: list[Call]


def prepare(ops: list[Op], model: Model, failed_cas_observes: bool = False) -> list[Partition]:
    """Pair ops, apply Jepsen semantics (drop fails and no-op infos) and split by key."""
    open_: dict[Any, int] = {}
    pairs: list[list[Any]] = []
    for pos, op in enumerate(ops):
        if op.process == NEMESIS:
            continue
        if op.type == INVOKE:
            open_[op.process] = len(pairs)
            pairs.append([pos, op, None, None])
        else:
            j = open_.pop(op.process, None)
            if j is not None:
                pairs[j][2], pairs[j][3] = pos, op
    parts: dict[Any, list[Call]] = {}
    timed = any(op.time for op in ops)  # no clock in the file: positions stand in for times
    for pos, inv, cpos, comp in pairs:
        outcome = comp.type if comp is not None else INFO
        if outcome == FAIL and not (failed_cas_observes and inv.f == "cas"):
            continue
        io = model.prepare(inv, comp, outcome, failed_cas_observes)
        if io is None:
            continue
        done = outcome in (OK, FAIL)
        c = Call(pos, cpos if done else None, io[0], io[1],
                 inv.index if inv.index >= 0 else pos, inv.process, inv.f,
                 inv.time if timed else pos,
                 (comp.time if timed else cpos) if done else None, outcome,
                 inv.value, comp.value if done else None)
        parts.setdefault(model.partition(inv), []).append(c)
    return [Partition(k, v) for k, v in parts.items()]


def _search(model: Model, calls: list[Call], deadline: float | None, max_cache: int,
             track: bool) -> dict[str, Any]:
    """Run :func:`_search_gen` to the end."""
    g = _search_gen(model, calls, deadline, max_cache, track)
    try:
        while True:
            next(g)
    except StopIteration as stop:
        return stop.value


def _search_gen(model: Model, calls: list[Call], deadline: float | None, max_cache: int,
                track: bool) -> Generator[int, None, dict[str, Any]]:
    """Porcupine's ``checkSingle`` over one partition, with info ops handled lazily.

    Completed ops sit in Porcupine's doubly linked list of call/return entries.
    Info ops have no return entry and live apart: at each configuration they are
    tried only after every completed candidate, and the cache maps
    ``(completed-set, state)`` to the info-sets seen with it; a configuration whose
    info-set is a superset of one already seen is pruned (an info op may also never
    happen, so the smaller set can do everything the larger can).
    Returns ``{"valid": ...}``; with ``track`` and invalid, the partial linearizations.
    A generator: it yields its cache size every 1024 steps so a scheduler can interleave
    partitions (and stop the rest once one is invalid, as Porcupine does).
    """
    req = [i for i, c in enumerate(calls) if c.ret is not None]
    inf = sorted((i for i, c in enumerate(calls) if c.ret is None), key=lambda i: calls[i].call)
    if not req:
        return {"valid": True}
    steps = [model.stepper(c.inp) for c in calls]
    inps = [c.inp for c in calls]
    outs = [c.out for c in calls]
    reads = [model.read_expects(c.inp, c.out) for c in calls]
    events: list[tuple[int, int, bool]] = []
    for i in req:
        events.append((calls[i].call, i, True))
        events.append((calls[i].ret, i, False))  # type: ignore[arg-type]
    events.sort()
    size = len(events)
    tail = size + 1
    nxt = list(range(1, size + 2)) + [tail]
    prv = [0, *range(0, size + 1)]
    match = [-1] * (size + 2)
    oid = [-1] * (size + 2)
    pos = [0] * (size + 2)
    rbit = [0] * (size + 2)
    retnode = {}
    for node, (p_, i, is_call) in enumerate(events, 1):
        oid[node] = i
        pos[node] = p_
        if not is_call:
            retnode[i] = node
    for j, i in enumerate(req):
        node_bit = 1 << j
        rbit[retnode[i]] = node_bit
    for node, (_, i, is_call) in enumerate(events, 1):
        if is_call:
            match[node] = retnode[i]
            rbit[node] = rbit[retnode[i]]
    pos[tail] = 1 << 62
    ninfo = len(inf)
    icall = [calls[i].call for i in inf]
    ibit = [1 << k for k in range(ninfo)]
    istep = [steps[i] for i in inf]
    iinp = [inps[i] for i in inf]
    iout = [outs[i] for i in inf]

    remaining = len(req)
    cache: dict[tuple[int, Any], Any] = {}
    csize = 0
    # stack entries: (node >= 1 | -1 - info k, state, rl, il, return node of the info scan)
    stack: list[tuple[int, Any, int, int, int]] = []
    state = model.init()
    rl = il = 0
    e = nxt[0]
    k0 = 0
    ticks = 0
    best_depth = -1
    failing = -1
    best_state = state
    n = len(calls)
    longest: list[list[int] | None] = [None] * n
    longest_len = [0] * n
    clock = time.monotonic
    while True:
        m = match[e]
        if m > 0:  # the call entry of a completed op
            i = oid[e]
            x = reads[i]
            if x is _NOT_READ:
                ok, ns = steps[i](state, inps[i], outs[i])
            else:  # a read: legal iff the state is what it saw; no call needed
                ok = state == x
                ns = state
            if ok:
                nl = rl | rbit[e]
                key = (nl, ns)
                seen = cache.get(key)
                if seen is None:
                    cache[key] = il
                elif seen.__class__ is int:
                    if seen | il == il:
                        e = nxt[e]
                        continue
                    cache[key] = [seen, il]
                else:
                    if any(x | il == il for x in seen):
                        e = nxt[e]
                        continue
                    seen.append(il)
                csize += 1
                stack.append((e, state, rl, il, 0))
                state = ns
                rl = nl
                p = prv[e]
                q = nxt[e]
                nxt[p] = q
                prv[q] = p
                p = prv[m]
                q = nxt[m]
                nxt[p] = q
                prv[q] = p
                remaining -= 1
                if not remaining:
                    return {"valid": True}
                ticks += 1
                if not ticks & 1023:
                    yield csize
                    if deadline is not None and clock() > deadline:
                        return {"valid": UNKNOWN_VERDICT, "reason": "time limit ran out"}
                    if csize > max_cache:
                        return {"valid": UNKNOWN_VERDICT,
                                "reason": f"memory budget ran out ({csize} cached configurations)"}
                e = nxt[0]
            else:
                e = nxt[e]
            continue
        # e is the first return entry: its op cannot be linearized yet. Try info ops.
        k = k0
        k0 = 0
        limit = pos[e]
        pushed = False
        while k < ninfo and icall[k] < limit:
            b = ibit[k]
            if not il & b:
                ok, ns = istep[k](state, iinp[k], iout[k])
                if ok:
                    nil_ = il | b
                    key = (rl, ns)
                    seen = cache.get(key)
                    dominated = False
                    if seen is None:
                        cache[key] = nil_
                    elif seen.__class__ is int:
                        if seen | nil_ == nil_:
                            dominated = True
                        else:
                            cache[key] = [seen, nil_]
                    elif any(x | nil_ == nil_ for x in seen):
                        dominated = True
                    else:
                        seen.append(nil_)
                    if not dominated:
                        csize += 1
                        stack.append((-1 - k, state, rl, il, e))
                        state = ns
                        il = nil_
                        pushed = True
                        break
            k += 1
        # Count info pushes and backtracks too: a search that only tries crashed ops
        # (e.g. a queue with many crashed enqueues) must still meet its deadline.
        ticks += 1
        if not ticks & 1023:
            yield csize
            if deadline is not None and clock() > deadline:
                return {"valid": UNKNOWN_VERDICT, "reason": "time limit ran out"}
            if csize > max_cache:
                return {"valid": UNKNOWN_VERDICT,
                        "reason": f"memory budget ran out ({csize} cached configurations)"}
        if pushed:
            e = nxt[0]
            continue
        # backtrack
        if track:
            d = len(stack)
            if d > best_depth:
                best_depth, failing, best_state = d, oid[e], state
            seq: list[int] | None = None
            for x in stack:
                j = oid[x[0]] if x[0] > 0 else inf[-1 - x[0]]
                if longest_len[j] < d:
                    if seq is None:
                        seq = [oid[y[0]] if y[0] > 0 else inf[-1 - y[0]] for y in stack]
                    longest[j] = seq
                    longest_len[j] = d
        if not stack:
            break
        x, state, rl, il, ret = stack.pop()
        if x > 0:
            m = match[x]
            p = prv[m]
            nxt[p] = m
            prv[nxt[m]] = m
            nxt[prv[x]] = x
            prv[nxt[x]] = x
            remaining += 1
            e = nxt[x]
        else:
            k0 = -x  # resume the info scan after info op -1 - x
            e = ret
    if not track:
        return {"valid": False}
    return {"valid": False, "failing": failing, "longest": longest, "best_state": best_state}


def _failure(model: Model, part: Partition, res: dict[str, Any]) -> dict[str, Any]:
    """The report data for one invalid partition (see ``LinResult.to_dict``)."""
    calls = part.calls
    ops = []
    for i, c in enumerate(calls):
        ops.append({"id": i, "process": c.process, "f": c.f, "input": _jsonable(c.value_in),
                    "output": _jsonable(c.value_out),
                    "call": c.call_time, "return": c.ret_time, "outcome": c.outcome,
                    "index": c.index, "desc": model.describe_operation(c.inp, c.out)})
    seqs: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    op_longest: dict[str, int] = {}
    for i, seq in enumerate(res.get("longest") or []):
        if seq is None:
            continue
        k = seen.get(id(seq))
        if k is None:
            k = seen[id(seq)] = len(seqs)
            states, st = [], model.init()
            for j in seq:
                _, st = model.step(st, calls[j].inp, calls[j].out)
                states.append(model.describe_state(st))
            seqs.append({"ops": list(seq), "states": states})
        op_longest[str(i)] = k
    order = sorted(range(len(seqs)), key=lambda k: -len(seqs[k]["ops"]))
    remap = {old: new for new, old in enumerate(order)}
    return {"key": _jsonable(part.key), "valid": False, "ops": ops,
            "failing_op": res.get("failing"), "longest": [seqs[k] for k in order],
            "op_longest": {i: remap[k] for i, k in op_longest.items()},
            "state_before_failing": (model.describe_state(res["best_state"])
                                     if res.get("failing") is not None else None)}


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_jsonable(x) for x in v]
    if isinstance(v, frozenset | set):
        return sorted((_jsonable(x) for x in v), key=repr)
    if v is UNKNOWN:
        return None
    return v


def _check_parts(model: Model, parts: list[Partition], deadline: float | None,
                 max_cache_bytes: int, stop: Any = None) -> list[dict[str, Any]]:
    """Check partitions, interleaving their searches round-robin.

    Once one partition is invalid the verdict is known: the others get a little more
    time (as long again) to find more failures, then stop (Porcupine kills them at
    once). An invalid partition is searched again to record partial linearizations.
    ``stop`` (a multiprocessing Event) stops the round when another worker found one.
    The memory budget covers all searches in flight: past it the largest one stops.
    """
    t0 = time.monotonic()
    out: list[dict[str, Any] | None] = [None] * len(parts)
    per_entry = [120 + len(p.calls) // 8 for p in parts]
    active: deque[tuple[int, Generator[int, None, dict[str, Any]]]] = deque()
    sizes: dict[int, int] = {}
    for i, part in enumerate(parts):
        cap = max(1000, max_cache_bytes // per_entry[i])
        active.append((i, _search_gen(model, part.calls, deadline, cap, False)))
    first_fail: float | None = None
    stopped_why = "time limit ran out"
    while active:
        now = time.monotonic()
        if deadline is not None and now > deadline:
            break
        if first_fail is not None and now - t0 > 2 * (first_fail - t0) + 0.05:
            stopped_why = "stopped: another partition is already invalid"
            break
        if stop is not None and stop.is_set():
            stopped_why = "stopped: another partition is already invalid"
            break
        i, g = active.popleft()
        try:
            sizes[i] = next(g)
        except StopIteration as fin:
            sizes.pop(i, None)
            res = fin.value
            if res["valid"] is False:
                res = {"valid": False, "failure": _details(model, parts[i], deadline,
                                                          max(1000, max_cache_bytes // per_entry[i]))}
                if first_fail is None:
                    first_fail = time.monotonic()
                if stop is not None:
                    stop.set()
            out[i] = res
            continue
        active.append((i, g))
        if sum(sizes[j] * per_entry[j] for j in sizes) > max_cache_bytes:
            big = max(sizes, key=lambda j: sizes[j] * per_entry[j])
            out[big] = {"valid": UNKNOWN_VERDICT,
                        "reason": f"memory budget ran out ({sizes.pop(big)} cached configurations)"}
            for k, (j, gj) in enumerate(active):
                if j == big:
                    del active[k]
                    gj.close()
                    break
    for _, g in active:
        g.close()
    return [r if r is not None else {"valid": UNKNOWN_VERDICT, "reason": stopped_why,
                                     "skipped": True} for r in out]


def _details(model: Model, part: Partition, deadline: float | None, max_cache: int) -> dict[str, Any]:
    """Search an invalid partition again, recording partial linearizations; bounded in time."""
    t = time.monotonic()
    cap = t + 5.0 if deadline is None else max(deadline, t + 1.0)
    full = _search(model, part.calls, cap, max_cache, True)
    if full["valid"] is not False:  # ran out: report the verdict without the details
        full = {"valid": False, "failing": None, "longest": [], "best_state": model.init()}
    return _failure(model, part, full)


def check(ops: list[Op], model: str | Model, *, time_limit: float | None = None,
          failed_cas_observes: bool = False, parallel: bool = True,
          memory_budget: int = DEFAULT_MEMORY_BUDGET) -> LinResult:
    """Check a history for linearizability against ``model``.

    ``valid`` is ``"unknown"`` when ``time_limit`` (seconds, for the whole check) or
    ``memory_budget`` (bytes of search cache) runs out first; never ``True`` by default.
    """
    t0 = time.monotonic()
    m = get_model(model)
    deadline = t0 + time_limit if time_limit is not None else None
    parts = prepare(ops, m, failed_cas_observes)
    total = sum(len(p.calls) for p in parts)
    workers = min(os.cpu_count() or 1, 8)
    if (parallel and workers > 1 and total >= PARALLEL_MIN_OPS
            and len(parts) >= PARALLEL_MIN_PARTITIONS
            and total >= PARALLEL_MIN_MEAN_OPS * len(parts)):
        results = _check_parallel(m, parts, deadline, memory_budget, workers)
    else:
        results = _check_parts(m, parts, deadline, memory_budget)
    verdict = merge_valid([r["valid"] for r in results])
    res = LinResult(model=m.name, valid=verdict, elapsed_s=time.monotonic() - t0,
                    partitions=len(parts),
                    partitions_checked=sum(1 for r in results if not r.get("skipped")),
                    keys_invalid=sum(1 for r in results if r["valid"] is False))
    for r in results:
        if r["valid"] is False and len(res.failures) < MAX_FAILURES:
            res.failures.append(r["failure"])
    if verdict is False:
        f = res.failures[0]
        op = f["ops"][f["failing_op"]] if f["failing_op"] is not None else None
        where = f" key {f['key']!r}:" if f["key"] is not None else ""
        n_bad = sum(1 for r in results if r["valid"] is False)
        n_skip = sum(1 for r in results if r.get("skipped"))
        res.reason = f"{n_bad} of {len(parts)} key(s) not linearizable"
        if n_skip:
            res.reason += f" ({n_skip} not finished: stopped once one was invalid)"
        if op is not None:
            res.reason += (f";{where} {op['desc']} (process {op['process']}, history index "
                           f"{op['index']}) cannot be linearized after state "
                           f"{f['state_before_failing']}")
        elif where:
            res.reason += f";{where[:-1]}"
    elif not results:
        res.reason = "no completed op to check: an empty history proves nothing"
    elif verdict == UNKNOWN_VERDICT:
        why = next(r["reason"] for r in results if r["valid"] == UNKNOWN_VERDICT)
        n_unk = sum(1 for r in results if r["valid"] == UNKNOWN_VERDICT)
        limit = f" ({time_limit:g}s)" if time_limit is not None and "time" in why else ""
        res.reason = f"{n_unk} of {len(parts)} key(s) undecided: {why}{limit}"
    return res


def _check_parallel(model: Model, parts: list[Partition], deadline: float | None,
                    memory_budget: int, workers: int) -> list[dict[str, Any]]:
    """Spread partitions over processes in balanced batches; results in partition order."""
    order = sorted(range(len(parts)), key=lambda i: -len(parts[i].calls))
    nb = workers * 4
    batches: list[list[int]] = [[] for _ in range(nb)]
    loads = [0] * nb
    for i in order:
        b = loads.index(min(loads))
        batches[b].append(i)
        loads[b] += len(parts[i].calls)
    results: list[dict[str, Any] | None] = [None] * len(parts)
    per_worker_budget = max(1 << 24, memory_budget // workers)
    ctx = multiprocessing.get_context()
    stop = ctx.Event()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(stop,)) as ex:
        futs = [(b, ex.submit(_worker_check, model, [parts[i] for i in b], deadline,
                              per_worker_budget)) for b in batches if b]
        for b, fut in futs:
            for i, r in zip(b, fut.result(), strict=True):
                results[i] = r
    return [r if r is not None else {"valid": UNKNOWN_VERDICT, "reason": "not checked"}
            for r in results]


_STOP: Any = None


def _worker_init(stop: Any) -> None:
    """Pool initializer: the event that tells every worker a partition is invalid."""
    global _STOP
    _STOP = stop


def _worker_check(model: Model, parts: list[Partition], deadline: float | None,
                  budget: int) -> list[dict[str, Any]]:
    return _check_parts(model, parts, deadline, budget, _STOP)


class LinearizabilityChecker(Checker):
    """Linearizability of the client ops whose f is in ``fs``, under ``model``
    (ops are partitioned by ``op.key`` and each key checked on its own)."""

    name = "linearizability"

    def __init__(self, model: str, fs: Iterable[str], *, time_limit: float | None = None,
                 name: str | None = None) -> None:
        self.model = model
        self.fs = frozenset(fs)
        self.time_limit = time_limit
        if name:
            self.name = name

    def check(self, history: list[Op], *, time_limit: float | None = None) -> LinResult:
        ops = [op for op in history if op.process != NEMESIS and op.f in self.fs]
        limit = time_limit if time_limit is not None else self.time_limit
        return check(ops, self.model, time_limit=limit)

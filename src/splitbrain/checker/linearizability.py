"""Linearizability checking: Porcupine's search, driven by the history's events.

Wing & Gong's search with Lowe's just-in-time linearization and a cache of
``(linearized set, model state)`` pairs (as in Porcupine's ``checkSingle``),
applied per history partition (P-compositionality). Our own code.

Jepsen semantics: ``fail`` ops did not happen and are dropped (unless
``failed_cas_observes``, where a failed cas is an observation with a return time);
an ``info`` op, or an invocation never completed, may take effect at any point
after its invocation, or never. Such ops have no return entry: the search may
linearize them whenever it likes and succeeds once every *completed* op is
linearized, so an info op left out simply never happened. Info ops whose effect
is nil (reads with an unknown result) are dropped up front. A history with no
completed op proves nothing: its verdict is ``unknown``.

The search (:func:`_search_gen`) walks a partition's return events in history order.
At each configuration the candidates are the ops invoked before the first return of
an op not linearized yet: a legal read (an op that cannot change the state) is
linearized at once, without a choice; otherwise each other completed candidate is
tried in invocation order, then each crashed (info) op. A configuration
``(linearized ops, state)`` that was fully explored is cached and never explored
again; crashed ops are kept apart in the cache (a configuration whose set of crashed
ops is a superset of one already explored is pruned: a crashed op may also never
happen, so the smaller set can do everything the larger can).

Speed, all in pure Python: the history is paired, split by key and compiled in one
pass (each distinct read / write / cas value once); each op becomes an opcode (read /
write / cas run inline, without a call into the model); linearized sets are Python
ints used as bitsets; a configuration is cached only once the search has to leave it
(a greedy run over a valid history caches nothing); a model that says how its states
grow (kv appends, set adds: ``Model.reach``) lets the search drop a configuration
whose next read can no longer succeed, and treat alike the states that no pending
read can see; the cyclic garbage collector is paused during the check; and on a
machine with several cores, partitions are shared with a forked process once the
history is compiled (the child touches compiled ops only, never the history, so
copy-on-write copies little).
"""

from __future__ import annotations

import gc
import mmap
import os
import pickle
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

from splitbrain.checker.base import Checker
from splitbrain.checker.models import _SCALARS, CAS, DIFFERS, READ, WRITE, Model, get_model, thaw
from splitbrain.checker.result import LinResult
from splitbrain.history.ops import FAIL, INFO, INVOKE, NEMESIS, OK, Op
from splitbrain.verdict import UNKNOWN as UNKNOWN_VERDICT
from splitbrain.verdict import merge as merge_valid

#: memory budget for the search cache of one check, in bytes (approximate)
DEFAULT_MEMORY_BUDGET = 1 << 30
MAX_FAILURES = 3
#: a check with at least this many ops in two or more partitions shares its partitions
#: with forked processes from the start ...
PARALLEL_MIN_OPS = 20_000
#: ... and any other check still running after this long (s) shares what is left
LATE_FORK_AFTER_S = 0.03
#: processes at most (this one included)
MAX_WORKERS = 4
#: the search looks at the clock (and yields to the scheduler) after this much work:
#: one unit per candidate op tried, per cache entry compared
WORK_QUANTUM = 1024
#: the history pass reads the clock every this many events
_BUILD_CHUNK = 1 << 16
#: approximate bytes of memory per cached configuration (plus one bit per op)
_CACHE_ENTRY_BYTES = 120
# the search tests opcodes by value, in this order
assert (READ, WRITE, CAS, DIFFERS) == (0, 1, 2, 3)

_STOPPED = "stopped: another partition is already invalid"
#: a state no pending read can see (see ``Model.steps_total``)
_GARBAGE = object()


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


class _Part:
    """One partition, compiled. Its ops are numbered by invocation (``raw`` ids, dropped
    ones included): ``code[j]`` is op j's opcode ``(code, a, b)``, ``None`` when it is
    dropped. ``ret`` lists the completed ops in the order of their returns, ``rc[i]`` how
    many ops were invoked before the i-th return; ``infos`` the crashed ops, by raw id.
    ``index`` orders partitions by their first op in the history."""

    __slots__ = ("key", "index", "code", "ret", "rc", "infos")

    def __init__(self, key: Any, index: int) -> None:
        self.key = key
        self.index = index
        self.code: list[Any] = []
        self.ret: list[int] = []
        self.rc: list[int] = []
        self.infos: list[int] = []

    @property
    def n_done(self) -> int:
        return len(self.ret)

    def kept(self) -> list[int]:
        """Raw ids of the ops the search sees, in invocation order (report ids 0..)."""
        return [j for j, c in enumerate(self.code) if c is not None]


def _key_fn(model: Model) -> Callable[[Op], Any] | None:
    """``None`` when the partition key is ``op.key`` itself (the fast path)."""
    if model.partition_by_key and type(model).partition is Model.partition:
        return None
    return model.partition


class _OutOfTime(Exception):
    """The time limit ran out before the search began."""


def _build(ops: list[Op], model: Model, fco: bool,
           deadline: float | None = None) -> tuple[list[_Part], int]:
    """One pass over the history: pair invocations and completions, split by partition
    key, apply Jepsen semantics and compile each op (see :class:`_Part`). Returns the
    partitions and their number; raises :class:`_OutOfTime` past ``deadline`` (the
    clock is read every :data:`_BUILD_CHUNK` events)."""
    key_fn = _key_fn(model)
    part_of = model.partition
    compile_ = model.compile
    same: Callable[[Any, Any], Any] = {}.setdefault
    by_value = {f: ({}, {"in": 0, "out": 1, "pair": 2}[side])
                for f, side in model.compile_by_value.items()}
    scalar = _SCALARS
    parts: dict[Any, _Part] = {}
    get = parts.get
    owned: list[_Part] = []
    open_: dict[Any, tuple[_Part, int]] = {}
    pop = open_.pop
    nkeys = 0
    for start in range(0, len(ops), _BUILD_CHUNK):
        if deadline is not None and time.monotonic() > deadline:
            raise _OutOfTime
        for op in ops[start:start + _BUILD_CHUNK] if len(ops) > _BUILD_CHUNK else ops:
            t = op.type
            if t == INVOKE:
                p = op.process
                if p.__class__ is str and p == NEMESIS:
                    continue
                if key_fn is None:
                    k = op.key
                    if k.__class__ is not str and k.__class__ is not int and k is not None:
                        k = part_of(op)
                else:
                    k = key_fn(op)
                P = get(k)
                if P is None:
                    P = parts[k] = _Part(k, nkeys)
                    owned.append(P)
                    nkeys += 1
                code = P.code
                open_[p] = (P, len(code))
                code.append(op)  # the invocation, until the op completes
                continue
            x = pop(op.process, None)
            if x is None:
                continue
            P, j = x
            code = P.code
            inv = code[j]
            if t == OK:
                by = by_value.get(inv.f)
                if by is not None:  # compile each distinct value once
                    memo, side = by
                    v = op.value if side == 1 else inv.value
                    if side == 2:  # a pair [a, b]: memo[a][b]
                        if v.__class__ is list and len(v) == 2 and v[0].__class__ in scalar \
                                and v[1].__class__ in scalar:
                            memo = memo.get(v[0])
                            if memo is None:
                                memo = by[0][v[0]] = {}
                            v = v[1]
                        else:
                            v = memo = None
                    if v.__class__ in scalar and memo is not None:
                        c = memo.get(v)
                        if c is None:
                            c = compile_(inv, op, t, fco)
                            if len(memo) < 4096:  # values that repeat, not unique tokens
                                memo[v] = c
                    else:
                        c = compile_(inv, op, t, fco)
                else:
                    c = compile_(inv, op, t, fco)
                    c = same(c, c)  # one tuple per distinct opcode: less memory
                code[j] = c
                if c is not None:
                    P.ret.append(j)
                    P.rc.append(len(code))
            elif t == FAIL:
                if fco and inv.f == "cas":
                    c = code[j] = compile_(inv, op, t, fco)
                    if c is not None:
                        P.ret.append(j)
                        P.rc.append(len(code))
                else:
                    code[j] = None
            else:  # info: may have happened
                c = code[j] = compile_(inv, op, INFO, fco)
                if c is not None:
                    P.infos.append(j)
    for P in owned:  # ops never completed: as info
        code = P.code
        for j, c in enumerate(code):
            if c.__class__ is Op:
                c = code[j] = compile_(c, None, INFO, fco)
                if c is not None:
                    P.infos.append(j)
        P.infos.sort()
    return owned, nkeys


def _positions(ops: list[Op], model: Model, key: Any) -> tuple[list[int], list[int]]:
    """The history positions of the invocation and completion (-1: none) of each op of
    partition ``key``, by raw id (the same pairing as :func:`_build`; for reports)."""
    key_fn = _key_fn(model) or model.partition
    inv: list[int] = []
    comp: list[int] = []
    open_: dict[Any, int] = {}
    for pos, op in enumerate(ops):
        if op.type == INVOKE:
            if op.process == NEMESIS:
                continue
            if key_fn(op) == key:
                open_[op.process] = len(inv)
                inv.append(pos)
                comp.append(-1)
            else:
                open_[op.process] = -1
        else:
            j = open_.pop(op.process, -1)
            if j >= 0:
                comp[j] = pos
    return inv, comp


def _calls(model: Model, ops: list[Op], P: _Part, timed: bool, fco: bool) -> list[Call]:
    """The partition's kept ops as :class:`Call` records (reports, tests); without a
    clock in the history (``timed`` false), positions stand in for times."""
    inv_pos, comp_pos = _positions(ops, model, P.key)
    done = set(P.ret)
    out = []
    for j in P.kept():
        ip = inv_pos[j]
        inv = ops[ip]
        cp = comp_pos[j]
        comp = ops[cp] if cp >= 0 else None
        outcome = comp.type if comp is not None else INFO
        io = model.prepare(inv, comp, outcome, fco)
        assert io is not None
        d = j in done
        out.append(Call(ip, cp if d else None, io[0], io[1],
                        inv.index if inv.index >= 0 else ip, inv.process, inv.f,
                        inv.time if timed else ip,
                        (comp.time if timed else cp) if d and comp is not None else None,
                        outcome, inv.value, comp.value if d and comp is not None else None))
    return out


def _any_time(ops: list[Op]) -> bool:
    return any(op.time for op in ops)


def prepare(ops: list[Op], model: Model, failed_cas_observes: bool = False) -> list[Partition]:
    """Pair ops, apply Jepsen semantics (drop fails and no-op infos) and split by key."""
    timed = _any_time(ops)  # no clock in the file: positions stand in for times
    parts, _ = _build(ops, model, failed_cas_observes)
    return [Partition(P.key, _calls(model, ops, P, timed, failed_cas_observes))
            for P in parts if P.kept()]


# ------------------------------------------------------------------------------ search


def _over_budget(work: int, max_work: int | None, deadline: float | None,
                 clock: Callable[[], float], csize: int, max_cache: int
                 ) -> dict[str, Any] | None:
    """The unknown verdict once a search ran out of work, time or cache; else None.
    Asked every WORK_QUANTUM steps, so the call costs nothing on the hot path."""
    if max_work is not None and work > max_work:
        return {"valid": UNKNOWN_VERDICT, "reason": "work budget ran out", "work": work}
    if deadline is not None and clock() > deadline:
        return {"valid": UNKNOWN_VERDICT, "reason": "time limit ran out", "work": work}
    if csize > max_cache:
        return {"valid": UNKNOWN_VERDICT, "work": work,
                "reason": f"memory budget ran out ({csize} cached configurations)"}
    return None


def _search_gen(model: Model, P: _Part, deadline: float | None, max_cache: int,
                track: bool = False, max_work: int | None = None
                ) -> Generator[int, None, dict[str, Any]]:
    """The search over one partition (see the module docstring).

    At each configuration the first return of an op not linearized yet bounds the
    candidates: ops invoked before it. A candidate that cannot change the state (a read,
    an observed failed cas) and is legal now is linearized at once and is not a choice:
    if any linearization exists, one with that read first exists too (it sees the same
    state, and every op it must follow is linearized already). Other candidates are
    choices, tried in invocation order, then crashed ops.

    A generator: it yields its cache size every :data:`WORK_QUANTUM` units of work so
    a scheduler can interleave partitions, and looks at ``deadline`` then. Returns
    ``{"valid": ..., "work": units}``; invalid also gives the failing op (raw id), the
    state before it and the deepest partial linearization; with ``track``, each op's
    longest partial linearization too. ``max_work`` bounds the work (an exact replay
    of an earlier search needs exactly that search's work): past it, unknown.
    """
    ret, rc, code, infos = P.ret, P.rc, P.code, P.infos
    n_e = len(ret)
    if not n_e:
        return {"valid": True, "work": 0}
    n = len(code)
    # completed ops not linearized yet, in invocation order: two doubly linked lists
    # over raw ids, reads (state-preserving ops) from head_r, the others from head_w
    head_r, head_w, tail = n, n + 1, n + 2
    nxt = [tail] * (n + 3)
    prv = [tail] * (n + 3)
    last_r, last_w = head_r, head_w
    for j in sorted(ret):
        c = code[j][0]
        if c == 0 or c == 3:
            nxt[last_r] = j
            prv[j] = last_r
            last_r = j
        else:
            nxt[last_w] = j
            prv[j] = last_w
            last_w = j
    nxt[last_r] = nxt[last_w] = tail
    lin = bytearray(n)   # raw id -> linearized now
    ninfo = len(infos)
    cache: dict[tuple[int, Any], Any] = {}
    csize = 0
    # frames, one per linearized op: (return index, state, rl, il, resume cursor, op);
    # cursor -1: a read linearized at once (no alternative); >= 0: other completed ops
    # after list node ``cursor``; <= -2: crashed ops from info index -2 - cursor on
    stack: list[tuple[Any, ...]] = []
    push = stack.append
    pop = stack.pop
    s = model.init()
    rl = il = 0
    i = 0
    cur = -1        # -1: a configuration not looked at yet
    rfrom = head_r  # the read scan starts after this list node
    work = 0
    next_check = WORK_QUANTUM
    best_depth = -1
    failing = -1
    best_ops: list[int] = []
    clock = time.monotonic
    reach = model.reach
    if reach is not None:
        # nread[i]: the first return at or after i of a read; resets: the writes and cas
        nread = [n_e] * (n_e + 1)
        for x in range(n_e - 1, -1, -1):
            nread[x] = x if code[ret[x]][0] == 0 else nread[x + 1]
        resets = [r for r, c in enumerate(code) if c is not None and (c[0] == 1 or c[0] == 2)]
        ibit_of = [0] * n
        for k, r in enumerate(infos):
            ibit_of[r] = 1 << k
        # merging unseen states needs steps legal everywhere and no op testing the state
        canon = model.steps_total and not any(
            c is not None and (c[0] == 2 or c[0] == 3) for c in code)
    garbage = _GARBAGE
    # track: per stack level, the deepest dead end below it (depth, cell); cells are
    # persistent (op, parent) pairs so a snapshot costs nothing
    tdepth: list[int] = [0]
    tcell: list[Any] = [None]
    cells: list[Any] = [None]
    lng = [0] * n
    lcell: list[Any] = [None] * n
    while True:
        pushed = False
        dead = False
        if cur == -1:
            # a new configuration: the next return of an op not linearized yet
            while i < n_e and lin[ret[i]]:
                i += 1
            if i == n_e:
                return {"valid": True, "work": work}
            cnt = rc[i]
            r = nxt[rfrom]
            while r < cnt:  # a legal read goes first, no choice
                work += 1
                c, a, b = code[r]
                if (s == a) if c == 0 else (s != a):
                    nl = rl | (1 << r)
                    if cache:
                        seen = cache.get((nl, s))
                        if seen is not None:
                            if seen.__class__ is int:
                                dead = seen | il == il
                            else:
                                work += len(seen)
                                for y in seen:
                                    if y | il == il:
                                        dead = True
                                        break
                    if not dead:
                        push((i, s, rl, il, -1, r))
                        if track:
                            cells.append((r, cells[-1]))
                            tdepth.append(0)
                            tcell.append(None)
                        lin[r] = 1
                        p = prv[r]
                        q = nxt[r]
                        nxt[p] = q
                        prv[q] = p
                        rl = nl
                        pushed = True
                        rfrom = r  # the reads before it stay illegal: same state
                    break
                r = nxt[r]
            if pushed:
                if work >= next_check:
                    next_check = work + WORK_QUANTUM
                    yield csize
                    out = _over_budget(work, max_work, deadline, clock, csize, max_cache)
                    if out is not None:
                        return out
                continue
            if reach is not None and not dead:
                # the next read to return must see its value: if the state can no longer
                # grow into it, only a write / cas invoked before that read returns and
                # not linearized yet could help, and only one whose value can
                i2 = nread[i]
                while i2 < n_e and lin[ret[i2]]:
                    i2 = nread[i2 + 1]
                if i2 < n_e:
                    a = code[ret[i2]][1]
                    if s is garbage or not reach(s, a):
                        cnt2 = rc[i2]
                        dead = True
                        for r in resets:
                            if r >= cnt2:
                                break
                            if lin[r] or il & ibit_of[r]:
                                continue
                            c, va, vb = code[r]
                            if reach(va if c == 1 else vb, a):
                                dead = False
                                break
                        if not dead and canon and s is not garbage:
                            # no read that can come before that write can see this state
                            # either: its value no longer matters, only that it is none
                            # of theirs (states are merged, so are their searches)
                            r = nxt[head_r]
                            while r < cnt2 and not reach(s, code[r][1]):
                                r = nxt[r]
                            if r >= cnt2:
                                s = garbage
                                seen = cache.get((rl, s))
                                if seen is not None:
                                    if seen.__class__ is int:
                                        dead = seen | il == il
                                    else:
                                        work += len(seen)
                                        for y in seen:
                                            if y | il == il:
                                                dead = True
                                                break
            cur = head_w
        else:
            cnt = rc[i]
        if dead:
            cur = -2
            k = ninfo
        if cur >= 0:  # other completed ops invoked before that return, in invocation order
            r = nxt[cur]
            while r < cnt:
                work += 1
                c, a, b = code[r]
                if c == 1:
                    ok, ns = True, a
                elif c == 2:
                    ok, ns = s == a, b
                elif s is garbage:
                    ok, ns = True, s
                else:
                    ok, ns = a(s, b[0], b[1])
                if ok:
                    nl = rl | (1 << r)
                    if cache:
                        seen = cache.get((nl, ns))
                        if seen is not None:
                            if seen.__class__ is int:
                                ok = seen | il != il
                            else:
                                work += len(seen)
                                for y in seen:
                                    if y | il == il:
                                        ok = False
                                        break
                    if ok:
                        push((i, s, rl, il, r, r))
                        if track:
                            cells.append((r, cells[-1]))
                            tdepth.append(0)
                            tcell.append(None)
                        lin[r] = 1
                        p = prv[r]
                        q = nxt[r]
                        nxt[p] = q
                        prv[q] = p
                        rl = nl
                        s = ns
                        pushed = True
                        rfrom = head_r
                        break
                r = nxt[r]
            if pushed:
                if work >= next_check:
                    next_check = work + WORK_QUANTUM
                    yield csize
                    out = _over_budget(work, max_work, deadline, clock, csize, max_cache)
                    if out is not None:
                        return out
                cur = -1
                continue
            cur = -2
        if cur == -2:
            # every completed candidate has been tried from here: cache it
            key = (rl, s)
            seen = cache.get(key)
            if seen is None:
                cache[key] = il
            elif seen.__class__ is int:
                cache[key] = il if il | seen == seen else [seen, il]
            else:
                work += len(seen)
                seen[:] = [y for y in seen if y | il != y]
                seen.append(il)
            csize += 1
        if not pushed and not dead:  # crashed ops invoked before that return
            k = -2 - cur
            while k < ninfo:
                r = infos[k]
                if r >= cnt:
                    break
                bk = 1 << k
                if not il & bk:
                    work += 1
                    c, a, b = code[r]
                    if c == 0:
                        ok, ns = s == a, s
                    elif c == 1:
                        ok, ns = True, a
                    elif c == 2:
                        ok, ns = s == a, b
                    elif c == 3:
                        ok, ns = s != a, s
                    elif s is garbage:
                        ok, ns = True, s
                    else:
                        ok, ns = a(s, b[0], b[1])
                    if ok:
                        nil_ = il | bk
                        seen = cache.get((rl, ns))
                        if seen is not None:
                            if seen.__class__ is int:
                                ok = seen | nil_ != nil_
                            else:
                                work += len(seen)
                                for y in seen:
                                    if y | nil_ == nil_:
                                        ok = False
                                        break
                        if ok:
                            push((i, s, rl, il, -3 - k, r))
                            if track:
                                cells.append((r, cells[-1]))
                                tdepth.append(0)
                                tcell.append(None)
                            il = nil_
                            s = ns
                            pushed = True
                            rfrom = head_r
                            break
                k += 1
                if work >= next_check:
                    break
        if work >= next_check:
            next_check = work + WORK_QUANTUM
            yield csize
            out = _over_budget(work, max_work, deadline, clock, csize, max_cache)
            if out is not None:
                return out
            if not pushed and k < ninfo and infos[k] < cnt:
                cur = -2 - k  # the info scan was cut short: go on with it
                continue
        if pushed:
            cur = -1
            continue
        # a dead end: backtrack
        depth = len(stack)
        if depth > best_depth:
            best_depth, failing = depth, ret[i]
            best_ops = [f[5] for f in stack]
        if track and depth > tdepth[-1]:
            tdepth[-1] = depth
            tcell[-1] = cells[-1]
        rfrom = head_r
        while stack:
            i, s, rl, il, cur, r = pop()
            if cur >= -1:  # a completed op: back into its list
                lin[r] = 0
                nxt[prv[r]] = r
                prv[nxt[r]] = r
            if track:
                cells.pop()
                dd = tdepth.pop()
                cc = tcell.pop()
                if dd > lng[r]:
                    lng[r] = dd
                    lcell[r] = cc
                if dd > tdepth[-1]:
                    tdepth[-1] = dd
                    tcell[-1] = cc
            if cur != -1:
                break  # go on with the alternatives of that configuration
            # a read taken without choice failed: so does the configuration before it
            key = (rl, s)
            seen = cache.get(key)
            if seen is None:
                cache[key] = il
            elif seen.__class__ is int:
                cache[key] = il if il | seen == seen else [seen, il]
            else:
                work += len(seen)
                seen[:] = [y for y in seen if y | il != y]
                seen.append(il)
            csize += 1
        else:
            break  # nothing left to try: not linearizable
    res: dict[str, Any] = {"valid": False, "work": work, "failing": failing,
                           "deepest": best_ops}
    if track:
        snaps: dict[int, list[int]] = {}
        longest: dict[int, list[int]] = {}
        for j in range(n):
            cl = lcell[j]
            if cl is None:
                continue
            sq = snaps.get(id(cl))
            if sq is None:
                sq = []
                y = cl
                while y is not None:
                    sq.append(y[0])
                    y = y[1]
                sq.reverse()
                snaps[id(cl)] = sq
            longest[j] = sq
        res["longest"] = longest
    return res


def _search(model: Model, P: _Part, deadline: float | None, max_cache: int,
            track: bool = False, max_work: int | None = None) -> dict[str, Any]:
    """Run :func:`_search_gen` to the end."""
    g = _search_gen(model, P, deadline, max_cache, track, max_work)
    try:
        while True:
            next(g)
    except StopIteration as stop:
        return stop.value


def _cache_cap(P: _Part, budget: int) -> int:
    return max(1000, budget // (_CACHE_ENTRY_BYTES + len(P.code) // 8))


# ------------------------------------------------------------------------------ reports


def _details(model: Model, ops: list[Op], P: _Part, first: dict[str, Any], fco: bool,
             deadline: float | None, max_cache: int) -> dict[str, Any]:
    """The report data of an invalid partition: the first search's failing op and deepest
    linearization, and each op's longest one from an exact replay of that search with
    tracking on. The replay is bounded by the first search's work, so it is deterministic;
    only the time limit can cut it short (then only the deepest linearization is shown)."""
    full = _search(model, P, deadline, max_cache, True, first["work"])
    if full["valid"] is not False or full["failing"] != first["failing"]:
        full = dict(first)
        deepest = first["deepest"]
        full["longest"] = dict.fromkeys(deepest, deepest)
    return _failure(model, ops, P, full, fco)


def _failure(model: Model, ops: list[Op], P: _Part, res: dict[str, Any],
             fco: bool) -> dict[str, Any]:
    """The report data for one invalid partition (see ``LinResult.to_dict``); op ids are
    the partition's kept ops in invocation order."""
    calls = _calls(model, ops, P, _any_time(ops), fco)
    dense = {j: i for i, j in enumerate(P.kept())}
    out_ops = []
    for i, c in enumerate(calls):
        out_ops.append({"id": i, "process": c.process, "f": c.f, "input": thaw(c.value_in),
                        "output": thaw(c.value_out),
                        "call": c.call_time, "return": c.ret_time, "outcome": c.outcome,
                        "index": c.index, "desc": model.describe_operation(c.inp, c.out)})
    seqs: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    op_longest: dict[str, int] = {}
    longest: dict[int, list[int]] = res.get("longest") or {}
    for j in sorted(longest, key=dense.__getitem__):
        sq = longest[j]
        k = seen.get(id(sq))
        if k is None:
            k = seen[id(sq)] = len(seqs)
            ids = [dense[x] for x in sq]
            states, st = [], model.init()
            for x in ids:
                _, st = model.step(st, calls[x].inp, calls[x].out)
                states.append(model.describe_state(st))
            seqs.append({"ops": ids, "states": states})
        op_longest[str(dense[j])] = k
    order = sorted(range(len(seqs)), key=lambda k: -len(seqs[k]["ops"]))
    remap = {old: new for new, old in enumerate(order)}
    failing = res.get("failing")
    failing = dense[failing] if failing is not None and failing >= 0 else None
    before = None
    if failing is not None:
        st = model.init()
        for x in res.get("deepest") or []:
            _, st = model.step(st, calls[dense[x]].inp, calls[dense[x]].out)
        before = model.describe_state(st)
    return {"key": thaw(P.key), "valid": False, "ops": out_ops,
            "failing_op": failing, "longest": [seqs[k] for k in order],
            "op_longest": {i: remap[k] for i, k in op_longest.items()},
            "state_before_failing": before}


# ------------------------------------------------------------------------------ processes


class _Flag:
    """A flag in memory shared with forked children: "a partition is invalid"."""

    def __init__(self) -> None:
        self.mem = mmap.mmap(-1, 1)

    def is_set(self) -> bool:
        return self.mem[0] == 1

    def set(self) -> None:
        self.mem[0] = 1


def _workers() -> int:
    """How many processes a check may use: the CPUs this process may run on."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_WORKERS))


def _can_fork() -> bool:
    return hasattr(os, "fork")


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


_exiting: list[int] = []  # children that answered but had not quite exited yet


def _reap(pid: int | None = None) -> None:
    """Collect exited children without waiting for one still tearing itself down."""
    if pid is not None:
        _exiting.append(pid)
    for p in list(_exiting):
        try:
            done, _ = os.waitpid(p, os.WNOHANG)
        except ChildProcessError:
            done = p
        if done:
            _exiting.remove(p)


def _fork(work: Callable[[int], Any], n: int) -> list[Any]:
    """``work(w)`` for w = 0 here and w = 1 .. n-1 in forked children; their answers (a
    child that died answers ``None``). Children inherit everything by ``fork``; only the
    answers are pickled back."""
    _reap()
    kids: list[tuple[int, int]] = []
    try:
        for w in range(1, n):
            rr, rw = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: work, answer, leave without any cleanup
                status = 0
                try:
                    os.close(rr)
                    view = memoryview(pickle.dumps(work(w), protocol=pickle.HIGHEST_PROTOCOL))
                    while view:
                        view = view[os.write(rw, view):]
                    os.close(rw)  # the parent reads on now, not once this process is gone
                except BaseException:  # noqa: BLE001 - the parent sees no answer
                    status = 1
                finally:
                    os._exit(status)
            os.close(rw)
            kids.append((pid, rr))
        answers = [work(0)]
        for pid, rr in kids:
            raw = _read_all(rr)
            os.close(rr)
            _reap(pid)
            try:
                answers.append(pickle.loads(raw) if raw else None)
            except Exception:  # noqa: BLE001 - a truncated answer: as no answer
                answers.append(None)
        kids = []
        return answers
    finally:
        for pid, rr in kids:  # interrupted: stop the children
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                os.close(rr)
            except OSError:
                pass


# ------------------------------------------------------------------------------ scheduling


class _Scheduler:
    """Checks partitions, interleaving their searches round-robin.

    Once one partition is invalid the verdict is known and the others stop (as in
    Porcupine); the invalid one's report data comes from a replay of its search. The
    memory budget covers all searches in flight: past it the largest one stops. With
    ``workers`` > 1, a check still running after :data:`LATE_FORK_AFTER_S` (or at once,
    with ``fork_now``) shares its unfinished partitions with forked processes: each
    search goes on where it was, and a child touches only its own partitions' compiled
    ops, never the history (so copy-on-write copies little)."""

    def __init__(self, model: Model, ops: list[Op], parts: list[_Part], fco: bool,
                 deadline: float | None, budget: int, workers: int = 1,
                 fork_now: bool = False) -> None:
        self.model, self.ops, self.parts, self.fco = model, ops, parts, fco
        self.deadline, self.budget = deadline, budget
        self.stop: _Flag | None = None
        self.workers = workers
        self.fork_after = 0.0 if fork_now else LATE_FORK_AFTER_S
        self.out: dict[int, dict[str, Any]] = {}   # part index -> result
        self.active: deque[tuple[_Part, Generator[int, None, dict[str, Any]]]] = deque()
        self.pending: deque[_Part] = deque(parts)
        self.sizes: dict[int, int] = {}
        self.why = "time limit ran out"
        # after a fork: partitions still to take, in batches, from a pipe that every
        # process reads (4-byte batch numbers; a read of 4 bytes is atomic)
        self.queue: int | None = None
        self.batches: list[list[_Part]] = []

    def run(self) -> dict[int, dict[str, Any]]:
        """Check every partition; results by partition index (unchecked ones missing)."""
        t0 = time.monotonic()
        clock = time.monotonic
        deadline, active, pending = self.deadline, self.active, self.pending
        while active or pending or self.queue is not None:
            if not pending and self.queue is not None:
                b = os.read(self.queue, 4)
                if len(b) < 4:
                    self.queue = None
                    continue
                pending.extend(self.batches[int.from_bytes(b, "little")])
            now = clock()
            if deadline is not None and now > deadline:
                break
            if self.stop is not None and self.stop.is_set():
                self.why = _STOPPED
                break
            if (self.workers > 1 and now - t0 >= self.fork_after
                    and len(active) + len(pending) >= 2):
                return self._split()
            if pending and len(active) < 64:
                P = pending.popleft()
                g = _search_gen(self.model, P, deadline, _cache_cap(P, self.budget))
            else:
                P, g = active.popleft()
            try:
                self.sizes[P.index] = next(g)
            except StopIteration as fin:
                self.sizes.pop(P.index, None)
                if self._finished(P, fin.value):
                    break
                continue
            active.append((P, g))
            if len(self.sizes) > 1 or self.sizes[P.index] > 1000:
                self._memory()
        for _, g in active:
            g.close()
        return self.out

    def _finished(self, P: _Part, res: dict[str, Any]) -> bool:
        """Record a partition's result; true when the check can stop (it is invalid)."""
        if res["valid"] is False:
            self.out[P.index] = {"valid": False, "completed": P.n_done, "failure": _details(
                self.model, self.ops, P, res, self.fco, self.deadline,
                _cache_cap(P, self.budget))}
            if self.stop is not None:
                self.stop.set()
            self.why = _STOPPED
            return True
        if res["valid"] is True:
            self.out[P.index] = {"valid": True, "completed": P.n_done}
        else:
            self.out[P.index] = {"valid": res["valid"], "reason": res["reason"],
                                 "completed": P.n_done}
        return False

    def _memory(self) -> None:
        per = {P.index: _CACHE_ENTRY_BYTES + len(P.code) // 8 for P, _ in self.active}
        sizes = self.sizes
        if sum(sizes[j] * per.get(j, _CACHE_ENTRY_BYTES) for j in sizes) <= self.budget:
            return
        big = max(sizes, key=lambda j: sizes[j] * per.get(j, _CACHE_ENTRY_BYTES))
        self.out[big] = {"valid": UNKNOWN_VERDICT,
                         "reason": f"memory budget ran out ({sizes.pop(big)} cached configurations)"}
        for k, (P, g) in enumerate(self.active):
            if P.index == big:
                del self.active[k]
                g.close()
                break

    def _split(self) -> dict[int, dict[str, Any]]:
        """Share the unfinished partitions between ``workers`` processes (this one and
        forked children): the searches under way round-robin, the others through the
        queue, largest first, so that a process that is done early takes more."""
        running = list(self.active)
        waiting = sorted(self.pending, key=lambda P: -len(P.code))
        n = min(self.workers, len(running) + len(waiting))
        per_batch = max(1, len(waiting) // (n * 16))
        self.batches = [waiting[k:k + per_batch] for k in range(0, len(waiting), per_batch)]
        rq, wq = os.pipe()
        try:
            os.write(wq, b"".join(b.to_bytes(4, "little") for b in range(len(self.batches))))
        finally:
            os.close(wq)
        self.queue = rq
        self.stop = _Flag()
        self.budget //= n
        self.workers = 1
        done = self.out
        sizes = dict(self.sizes)

        def work(w: int) -> tuple[dict[int, dict[str, Any]], str]:
            mine = running[w::n]
            self.out = dict(done) if w == 0 else {}
            self.active = deque(mine)
            self.pending = deque()
            self.sizes = {P.index: sizes[P.index] for P, _ in mine if P.index in sizes}
            return self.run(), self.why

        try:
            answers = _fork(work, n)
        finally:
            os.close(rq)
        out: dict[int, dict[str, Any]] = {}
        failed = False
        for a in answers:
            if a is None:
                failed = True
                continue
            got, why = a
            out.update(got)
            if why == _STOPPED:
                self.why = why
        if failed:  # whatever a dead worker had taken is unknown, never valid
            for P in self.parts:
                out.setdefault(P.index, {"valid": UNKNOWN_VERDICT,
                                         "reason": "a worker process failed"})
        return out


def check(ops: list[Op], model: str | Model, *, time_limit: float | None = None,
          failed_cas_observes: bool = False, parallel: bool = True,
          memory_budget: int = DEFAULT_MEMORY_BUDGET) -> LinResult:
    """Check a history for linearizability against ``model``.

    ``valid`` is ``"unknown"`` when ``time_limit`` (seconds, for the whole check) or
    ``memory_budget`` (bytes of search cache) runs out first, or when the history
    holds no completed op; never ``True`` by default. ``parallel`` lets the check use
    forked processes on a machine with several cores.
    """
    t0 = time.monotonic()
    m = get_model(model)
    deadline = t0 + time_limit if time_limit is not None else None
    fco = failed_cas_observes
    workers = _workers() if parallel and _can_fork() else 1
    gc_was = gc.isenabled()
    gc.disable()  # the search allocates many small objects, none of them in cycles
    try:
        try:
            parts, nparts = _build(ops, m, fco, deadline)
        except _OutOfTime:
            return LinResult(model=m.name, valid=UNKNOWN_VERDICT,
                             elapsed_s=time.monotonic() - t0, reason=(
                                 f"time limit ran out ({time_limit:g}s) while reading the "
                                 f"history"))
        sched = _Scheduler(m, ops, parts, fco, deadline, memory_budget, workers,
                           fork_now=sum(len(P.code) for P in parts) >= PARALLEL_MIN_OPS)
        results, why = sched.run(), sched.why
        # free the compiled history while the collector is off: it held no cycles, and
        # a collector turned back on with all of it still alive would walk it all
        del parts, sched
        ordered = [results.get(i) or {"valid": UNKNOWN_VERDICT, "reason": why, "skipped": True}
                   for i in range(nparts)]
        return _result(m, ordered, nparts, time_limit, time.monotonic() - t0)
    finally:
        if gc_was:
            gc.enable()


def _result(m: Model, results: list[dict[str, Any]], n_parts: int, time_limit: float | None,
            elapsed: float) -> LinResult:
    """Merge per-partition results into the verdict and its one-line reason."""
    verdict = merge_valid([r["valid"] for r in results])
    completed = sum(r.get("completed", 0) for r in results)
    if verdict is True and not completed:
        verdict = UNKNOWN_VERDICT
    res = LinResult(model=m.name, valid=verdict, elapsed_s=elapsed, partitions=n_parts,
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
        res.reason = f"{n_bad} of {n_parts} key(s) not linearizable"
        if n_skip:
            res.reason += f" ({n_skip} not finished: stopped once one was invalid)"
        if op is not None:
            res.reason += (f";{where} {op['desc']} (process {op['process']}, history index "
                           f"{op['index']}) cannot be linearized after state "
                           f"{f['state_before_failing']}")
        elif where:
            res.reason += f";{where[:-1]}"
    elif verdict == UNKNOWN_VERDICT and not completed and all(r["valid"] is True for r in results):
        res.reason = ("nothing to check: the history has no completed client operation"
                      if n_parts else "nothing to check: the history is empty")
    elif verdict == UNKNOWN_VERDICT:
        why = next(r["reason"] for r in results if r["valid"] == UNKNOWN_VERDICT)
        n_unk = sum(1 for r in results if r["valid"] == UNKNOWN_VERDICT)
        limit = f" ({time_limit:g}s)" if time_limit is not None and "time" in why else ""
        res.reason = f"{n_unk} of {n_parts} key(s) undecided: {why}{limit}"
    return res


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

"""A linearization of a key the checker found valid, to draw (Porcupine draws one too).

The checker says *whether* a key is linearizable; the report wants to show *an order*.
This is a small depth-first search for one (Wing & Gong with a visited set), bounded
by a step budget: it decides nothing. Every order it returns has been replayed here
against the model and the real-time order of the ops, so a drawn linearization is
always a true one; when the budget runs out the report says so and draws none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from splitbrain.checker.models import Model


@dataclass(slots=True)
class KeyOp:
    """One op of a key as the checker sees it: its model input and output, the history
    positions of its call and return (``ret`` None: info, may happen any time or never)."""

    index: int          # history index of the invocation (the op's name in the report)
    call: int
    ret: int | None
    inp: Any
    out: Any


def find_linearization(model: Model, ops: list[KeyOp], max_steps: int = 200_000,
                       deadline: float | None = None) -> list[int] | None:
    """Positions in ``ops`` of one legal order (every completed op, and the info ops that
    took effect), or None when none is found within ``max_steps`` / ``deadline``."""
    order = sorted(range(len(ops)), key=lambda i: ops[i].call)
    at = [0] * len(ops)          # position of each op in ``order``
    for k, i in enumerate(order):
        at[i] = k
    required = sum(1 for o in ops if o.ret is not None)
    done = [False] * len(ops)
    seq: list[int] = []
    seen: set[tuple[int, Any]] = set()
    mask = 0
    steps = 0
    lo = 0                        # every op before order[lo] is done

    def candidates() -> list[int]:
        """Ops that may go next: called before the earliest return still pending;
        completed ones first (an info op may also never happen)."""
        nonlocal lo
        while lo < len(order) and done[order[lo]]:
            lo += 1
        min_ret = None
        req: list[int] = []
        opt: list[int] = []
        for k in range(lo, len(order)):
            i = order[k]
            if done[i]:
                continue
            o = ops[i]
            if min_ret is not None and o.call > min_ret:
                break
            if o.ret is not None:
                req.append(i)
                if min_ret is None or o.ret < min_ret:
                    min_ret = o.ret
            else:
                opt.append(i)
        return req + [i for i in opt if min_ret is None or ops[i].call < min_ret]

    # iterative DFS: each frame is (state, candidate list, next candidate to try)
    state = model.init()
    stack: list[tuple[Any, list[int], int]] = [(state, candidates(), 0)]
    n_done = 0
    while stack:
        if n_done == required:
            return seq
        steps += 1
        if steps > max_steps or (deadline is not None and not steps & 255
                                 and time.monotonic() > deadline):
            return None
        st, cands, k = stack[-1]
        if k >= len(cands):
            stack.pop()
            if seq:
                j = seq.pop()
                done[j] = False
                lo = min(lo, at[j])
                mask ^= 1 << j
                if ops[j].ret is not None:
                    n_done -= 1
            continue
        stack[-1] = (st, cands, k + 1)
        i = cands[k]
        o = ops[i]
        legal, nxt = model.step(st, o.inp, o.out)
        if not legal:
            continue
        m2 = mask | (1 << i)
        if (m2, nxt) in seen:
            continue
        seen.add((m2, nxt))
        done[i] = True
        mask = m2
        seq.append(i)
        if o.ret is not None:
            n_done += 1
        if n_done == required:
            return seq
        stack.append((nxt, candidates(), 0))
    return None


def verify(model: Model, ops: list[KeyOp], seq: list[int]) -> list[str] | None:
    """Replay ``seq``: the states after each step (as the model describes them), or None
    if it is not a linearization (an illegal step, an op ordered before one that returned
    before it was called, or a completed op left out)."""
    placed = set(seq)
    if len(placed) != len(seq) or any(not 0 <= i < len(ops) for i in seq):
        return None
    if any(o.ret is not None and i not in placed for i, o in enumerate(ops)):
        return None
    state = model.init()
    states: list[str] = []
    max_call = -1
    for i in seq:
        o = ops[i]
        if o.ret is not None and o.ret < max_call:
            return None  # an op placed earlier was called after this one returned
        max_call = max(max_call, o.call)
        legal, state = model.step(state, o.inp, o.out)
        if not legal:
            return None
        states.append(model.describe_state(state))
    return states

"""A minimal counterexample for each key the linearizability checker found invalid.

The failing op the checker names is where its search got stuck, not necessarily the
culprit. This module shrinks an invalid key to a small set of ops that cannot be
ordered, by delta debugging (Zeller's ddmin) over the key's completed ops, re-checking
every candidate with the linearizability checker itself under a time budget.

A candidate keeps some ops exactly as recorded and makes the others *optional*: an
optional op still happens between its call and its return if it happens at all, but
it may also not happen (a read then observes nothing). Making ops optional only adds
possible orders, so a candidate the checker finds invalid proves the whole key
invalid: the kept ops cannot be ordered whatever the other ops did. Optional ops are
expressed as a model (:class:`WithOptional`: the state is the set of states the model
may be in), so the one linearizability checker decides every candidate. A set that
cannot be ordered with the others optional cannot be ordered without them either, so
the kept ops are also not linearizable on their own; both statements are re-checked
and recorded. Nothing is reported that the checker did not find invalid itself.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable
from typing import Any

from splitbrain.checker.base import CheckResult
from splitbrain.checker.models import NOT_READ, Model, get_model
from splitbrain.checker.result import LinResult
from splitbrain.history.ops import INFO, INVOKE, NEMESIS, Op, pair

#: seconds of shrinking for all invalid keys of a run (the smallest set found so far is kept)
DEFAULT_BUDGET_S = 30.0
#: seconds the checker may take for one candidate (past it, the candidate is not shrunk to)
DEFAULT_CANDIDATE_LIMIT_S = 2.0
#: marks an op of a candidate history as optional (in ``Op.extra``; never written anywhere)
OPTIONAL = "_splitbrain_optional"


class WithOptional(Model):
    """``inner`` with optional ops: an op marked :data:`OPTIONAL` may take effect or not.

    The state is the set of states ``inner`` may be in (a subset construction), so the
    search stays exact: a required op is legal when it is legal in at least one of
    them, and leads to the states it leads to from those.
    """

    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.name = inner.name
        self.fs = inner.fs
        self.partition_by_key = inner.partition_by_key

    def init(self) -> Hashable:
        return frozenset((self.inner.init(),))

    def prepare(self, invoke: Op, complete: Op | None, outcome: str,
                failed_cas_observes: bool = False) -> tuple[Any, Any] | None:
        io = self.inner.prepare(invoke, complete, outcome, failed_cas_observes)
        if io is None:
            return None
        return (bool(invoke.extra.get(OPTIONAL)), io[0]), io[1]

    def stepper(self, inp: Any) -> Callable[[Any, Any, Any], tuple[bool, Any]]:
        return self._step

    def _step(self, state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
        optional, i = inp
        step = self.inner.step
        after = set(state) if optional else set()
        for s in state:
            legal, nxt = step(s, i, out)
            if legal:
                after.add(nxt)
        if not after:
            return False, state
        return True, frozenset(after)

    def partition(self, invoke: Op) -> Hashable:
        return self.inner.partition(invoke)

    def describe_operation(self, inp: Any, out: Any) -> str:
        return self.inner.describe_operation(inp[1], out)

    def describe_state(self, state: Any) -> str:
        shown = sorted(self.inner.describe_state(s) for s in state)
        return shown[0] if len(shown) == 1 else "one of " + ", ".join(shown)


@dataclasses.dataclass
class _Universe:
    """The key's ops as history events, ready to assemble candidates from."""

    pairs: list[tuple[int, Op, int | None, Op | None]]   # (inv pos, inv, comp pos, comp)
    ids: list[int]                                         # the failure's op id of each pair
    shrinkable: list[int]                                  # positions in ``pairs``: completed ops
    reads: set[int]                                        # plain reads: optional = absent


def _universe(history: list[Op], failure: dict[str, Any], model: Model,
              failed_cas_observes: bool) -> _Universe | None:
    """The failure's ops found in ``history`` by their history index (None if any is missing)."""
    fops = [o for o in failure.get("ops") or [] if isinstance(o, dict)]
    if not fops:
        return None
    by_index: dict[int, tuple[int, Op, int | None, Op | None]] = {}
    for p in pair(history):
        inv = p.invoke
        if inv.type != INVOKE:
            continue
        idx = inv.index if inv.index >= 0 else p.invoke_pos
        if idx in by_index:  # indices are not unique: cannot map the failure's ops safely
            return None
        by_index[idx] = (p.invoke_pos, inv, p.complete_pos, p.complete)
    pairs, ids, shrinkable, reads = [], [], [], set()
    for o in fops:
        found = by_index.get(o.get("index"))  # type: ignore[arg-type]
        if found is None or found[1].f != o.get("f"):
            return None
        j = len(pairs)
        ids.append(o.get("id"))
        if o.get("outcome") != INFO and o.get("return") is not None:
            shrinkable.append(j)
            comp = found[3]
            io = model.prepare(found[1], comp, comp.type if comp is not None else INFO,
                               failed_cas_observes)
            if io is not None and model.read_expects(io[0], io[1]) is not NOT_READ:
                reads.add(j)
        pairs.append(found)
    return _Universe(pairs, ids, shrinkable, reads)


def _candidate(u: _Universe, keep: set[int]) -> list[Op]:
    """The key's history with the ops in ``keep`` as recorded and every other op optional
    (an optional plain read constrains nothing, so it is left out)."""
    events: list[tuple[int, Op]] = []
    for j, (ipos, inv, cpos, comp) in enumerate(u.pairs):
        if j not in keep:
            if j in u.reads:
                continue
            inv = dataclasses.replace(inv, extra={**inv.extra, OPTIONAL: True})
        events.append((ipos, inv))
        if comp is not None and cpos is not None:
            events.append((cpos, comp))
    events.sort(key=lambda e: e[0])
    return [op for _, op in events]


def _alone(u: _Universe, keep: set[int]) -> list[Op]:
    """Only the ops in ``keep``, as recorded."""
    events: list[tuple[int, Op]] = []
    for j in keep:
        ipos, inv, cpos, comp = u.pairs[j]
        events.append((ipos, inv))
        if comp is not None and cpos is not None:
            events.append((cpos, comp))
    events.sort(key=lambda e: e[0])
    return [op for _, op in events]


def ddmin(items: list[int], invalid: Callable[[list[int]], bool],
          out_of_budget: Callable[[], bool]) -> tuple[list[int], bool]:
    """Zeller's ddmin: a 1-minimal sublist of ``items`` still ``invalid`` (``items`` is).

    Returns the smallest list found and whether it is 1-minimal (False when the budget
    ran out first: then it is still invalid, only perhaps not minimal).
    """
    cur = list(items)
    n = 2
    while len(cur) >= 2:
        if out_of_budget():
            return cur, False
        size = len(cur)
        chunks = [cur[size * i // n: size * (i + 1) // n] for i in range(n)]
        chunks = [c for c in chunks if c]
        reduced = False
        for c in chunks:  # a single chunk alone
            if out_of_budget():
                return cur, False
            if invalid(c):
                cur, n, reduced = c, 2, True
                break
        if not reduced and n > 2:
            for c in chunks:  # everything but one chunk
                if out_of_budget():
                    return cur, False
                rest = [x for x in cur if x not in set(c)]
                if invalid(rest):
                    cur, n, reduced = rest, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(cur):
                return cur, True
            n = min(len(cur), 2 * n)
    return cur, True


def minimize(history: list[Op], failure: dict[str, Any], model: str, *,
             failed_cas_observes: bool = False, budget_s: float = DEFAULT_BUDGET_S,
             candidate_limit_s: float = DEFAULT_CANDIDATE_LIMIT_S) -> dict[str, Any] | None:
    """Shrink one invalid key (a ``LinResult.failures`` entry) to a minimal counterexample.

    Returns ``{"ops": [op ids of the failure], "indices": [history indices], "of": n,
    "minimal": bool, "checks": c, "elapsed_s": s, "alone": verdict, "others_optional":
    verdict}``, or ``None`` when the ops cannot be found in ``history`` or the checker
    does not find the key invalid again within the budget.
    """
    from splitbrain.checker.linearizability import check

    t0 = time.monotonic()
    inner = get_model(model)
    u = _universe([op for op in history if op.process != NEMESIS], failure, inner,
                  failed_cas_observes)
    if u is None or not u.shrinkable:
        return None
    relaxed = WithOptional(inner)
    deadline = t0 + budget_s
    checks = 0

    def verdict(ops: list[Op], m: Model) -> Any:
        nonlocal checks
        checks += 1
        left = max(0.05, min(candidate_limit_s, deadline - time.monotonic()))
        return check(ops, m, time_limit=left, failed_cas_observes=failed_cas_observes,
                     parallel=False).valid

    def invalid(sub: list[int]) -> bool:
        return verdict(_candidate(u, set(sub)), relaxed) is False

    if not invalid(u.shrinkable):  # the key is not (or no longer provably) invalid
        return None
    kept, minimal = ddmin(u.shrinkable, invalid, lambda: time.monotonic() > deadline)
    keep = set(kept)
    # both claims, re-checked once more with a budget of their own
    candidate_limit_s = max(candidate_limit_s, 1.0)
    deadline = time.monotonic() + 2 * candidate_limit_s
    others_optional = verdict(_candidate(u, keep), relaxed)
    alone = verdict(_alone(u, keep), inner)
    if others_optional is not False or alone is not False:
        return None
    kept.sort(key=lambda j: u.pairs[j][0])
    return {"ops": [u.ids[j] for j in kept],
            "indices": [u.pairs[j][1].index for j in kept],
            "of": len(u.pairs), "minimal": minimal, "checks": checks,
            "elapsed_s": round(time.monotonic() - t0, 3),
            "alone": alone, "others_optional": others_optional}


def op_phrase(op: dict[str, Any]) -> str:
    """One op of a failure in words: ``write(1) by process 5 (history index 69)``."""
    desc = op.get("desc") or f"{op.get('f')} {op.get('input')}"
    idx = f" (history index {op['index']})" if op.get("index") is not None else ""
    return f"{desc} by process {op.get('process')}{idx}"


def counterexample_phrase(failure: dict[str, Any]) -> str | None:
    """``these 2 ops cannot be ordered: A; B`` for a failure with a counterexample."""
    m = failure.get("minimal")
    if not isinstance(m, dict):
        return None
    by_id = {o.get("id"): o for o in failure.get("ops") or [] if isinstance(o, dict)}
    parts = [op_phrase(by_id[i]) for i in m.get("ops") or [] if i in by_id]
    if not parts:
        return None
    if len(parts) == 1:
        return f"this op cannot take effect at any point: {parts[0]}"
    return f"these {len(parts)} ops cannot be ordered: " + "; ".join(parts)


def key_phrase(key: Any) -> str:
    """How a key is named in a sentence (a history of one key has none)."""
    import json

    return "the history" if key is None else f"key {json.dumps(key, default=str)}"


def lin_reason(res: LinResult) -> str:
    """The one-line reason of an invalid linearizability result, in one vocabulary (keys),
    with counts that agree with its JSON: invalid keys of all keys, how many are kept,
    and the first key's minimal counterexample (else the op its search stopped at)."""
    n_keys = max(res.partitions, res.partitions_checked, len(res.failures))
    n_bad = max(res.keys_invalid, len(res.failures))
    if n_keys == 1 and res.failures and res.failures[0].get("key") is None:
        s = "the history is not linearizable"
    else:
        s = f"{n_bad} of {n_keys} key{'s' if n_keys != 1 else ''} not linearizable"
    notes = []
    if n_bad > len(res.failures):
        notes.append(f"the first {len(res.failures)} are kept")
    unfinished = n_keys - max(res.partitions_checked, n_bad)
    if res.partitions and unfinished > 0:
        notes.append(f"{unfinished} not checked to the end: stopped once one was invalid")
    if notes:
        s += f" ({'; '.join(notes)})"
    if not res.failures:
        return s
    f0 = res.failures[0]
    where = "" if f0.get("key") is None else f"{key_phrase(f0.get('key'))}: "
    cx = counterexample_phrase(f0)
    if cx is not None:
        return f"{s}; {where}{cx}"
    fid = f0.get("failing_op")
    op = next((o for o in f0.get("ops") or [] if isinstance(o, dict) and o.get("id") == fid),
              None)
    if op is not None:
        return (f"{s}; {where}{op_phrase(op)} cannot be linearized after state "
                f"{f0.get('state_before_failing')}")
    return s


def explain(results: dict[str, CheckResult], history: list[Op], *,
            failed_cas_observes: bool = False, budget_s: float = DEFAULT_BUDGET_S) -> None:
    """Add a minimal counterexample (``failure["minimal"]``) to every invalid key of every
    linearizability result in ``results``, and say it in the result's one-line reason.

    ``budget_s`` is shared by all invalid keys (an even share each, and what one leaves
    unused goes to the next)."""
    todo = [(res, f) for res in results.values()
            if isinstance(res, LinResult) and res.valid is False and res.model
            for f in res.failures if "minimal" not in f]
    deadline = time.monotonic() + budget_s
    for n, (res, failure) in enumerate(todo):
        share = (deadline - time.monotonic()) / (len(todo) - n)
        if share <= 0:
            break
        m = minimize(history, failure, res.model, failed_cas_observes=failed_cas_observes,
                     budget_s=share)
        if m is not None:
            failure["minimal"] = m
    for res in results.values():
        if isinstance(res, LinResult) and res.valid is False:
            res.reason = lin_reason(res)

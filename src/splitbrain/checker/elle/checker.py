"""The Elle-style checker: infer dependencies, find anomalies, say which models they rule out."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from splitbrain.checker.base import Checker, CheckResult
from splitbrain.errors import HarnessError
from splitbrain.history.ops import NEMESIS, Op
from splitbrain.verdict import UNKNOWN

from . import models
from .explain import classify, cycle_case
from .graph import (
    CYCLE_SPECS,
    CYCLE_TYPES,
    DATA,
    PROCESS,
    REALTIME,
    RW,
    WR,
    WW,
    DepGraph,
    SearchBudget,
    SearchTimeout,
    collapse,
    find_cycle,
    sccs,
)
from .list_append import ListAppend
from .rw_register import RwRegister, lost_updates
from .txns import APPEND, READ, WRITE, Txn, add_process_edges, add_realtime_edges, collect

KINDS = {"list-append": frozenset({APPEND, READ}), "rw-register": frozenset({WRITE, READ})}


def _kind(kind: str) -> str:
    k = kind.strip().lower().replace("_", "-")
    k = k[len("elle-"):] if k.startswith("elle-") else k
    if k not in KINDS:
        raise HarnessError(f"unknown Elle workload kind {kind!r}; use list-append or "
                           f"rw-register")
    return k


def check(ops: list[Op], *, kind: str = "list-append",
          consistency_model: str = "strict-serializable", time_limit: float | None = None,
          wfr_keys: bool = False, sequential_keys: bool = False,
          linearizable_keys: bool = False, search_budget: int = 500_000) -> dict[str, Any]:
    """Check a transactional history for isolation anomalies, as Elle does.

    ``kind`` is ``list-append`` or ``rw-register``; ``consistency_model`` the model the
    system claims (aliases accepted); ``time_limit`` bounds the cycle search in seconds
    (running out makes the verdict ``unknown`` unless an anomaly was already proven).
    ``wfr_keys`` / ``sequential_keys`` / ``linearizable_keys`` are rw-register inference
    rules (Elle's ``:wfr-keys?``, ``:sequential-keys?``, ``:linearizable-keys?``), off by
    default as in Elle. ``search_budget`` caps the BFS steps spent looking for one anomaly
    type in one component; past it the component is still proven cyclic
    (``*-cycle-exists``) and ``cycle-search-timeout`` is reported, as Elle does.
    """
    # The history holds millions of small lists; the cyclic GC would rescan them over and
    # over while we allocate indexes, for nothing: we create no reference cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _check(ops, kind, consistency_model, time_limit, wfr_keys, sequential_keys,
                      linearizable_keys, search_budget)
    finally:
        if was_enabled:
            gc.enable()


def _check(ops: list[Op], kind: str, consistency_model: str, time_limit: float | None,
           wfr_keys: bool, sequential_keys: bool, linearizable_keys: bool,
           budget: int) -> dict[str, Any]:
    t0 = time.monotonic()
    k = _kind(kind)
    model = models.canonical_model(consistency_model)
    if model is None:
        raise HarnessError(f"unknown consistency model {consistency_model!r}; known: "
                           + ", ".join(sorted(models.ALL_MODELS)))
    deadline = t0 + time_limit if time_limit is not None else None
    txns = collect(ops, KINDS[k])
    analysis: ListAppend | RwRegister
    if k == "list-append":
        analysis = ListAppend(txns)
    else:
        analysis = RwRegister(txns, wfr_keys=wfr_keys, sequential_keys=sequential_keys,
                              linearizable_keys=linearizable_keys)
    possible = analysis.possible
    for i, t in enumerate(possible):
        t.node = i
    found: dict[str, list[dict]] = dict(analysis.find_anomalies())
    if isinstance(analysis, ListAppend):
        # Only a txn touching a key twice can read it and then append to it.
        lost = lost_updates([t for t in analysis.repeats if t.type == "ok"], APPEND,
                            lambda t, v: tuple(v or ()))
        if lost:
            found["lost-update"] = lost

    prohibited = models.prohibited_anomalies(model)
    search = [s for s in CYCLE_SPECS if s.name in prohibited]
    extra = 0
    if any(s.name.endswith("-realtime") for s in search):
        extra = REALTIME
    elif any(s.name.endswith("-process") for s in search):
        extra = PROCESS
    search = [s for s in search if not s.name.endswith(("-realtime", "-process"))
              or s.required[-1] == extra]

    g = DepGraph(len(possible))
    analysis.add_edges(g)
    rt_linked = 0
    if extra == PROCESS:
        add_process_edges(g, possible)
    elif extra == REALTIME:
        rt_linked = add_realtime_edges(g, possible)
    n = len(possible)
    if rt_linked == 0 and not any(b < n for d in g.out[:n] for b in d):
        found["empty-transaction-graph"] = [{
            "explanation": "no dependencies between transactions could be inferred, so "
                           "nothing can be proven either way"}]

    cycles = _search(g, possible, search, deadline, analysis.explain, prohibited, budget)
    for name, cases in cycles.items():
        found.setdefault(name, []).extend(cases)
    return _result(k, model, found, prohibited, len(txns), time.monotonic() - t0)


def _search(g: DepGraph, node_txn: list[Txn], specs: list, deadline: float | None,
            explain_data: Any, prohibited: set[str], budget: int) -> dict[str, list[dict]]:
    """Search each strongly connected component for each anomaly type, worst first.

    A search that runs out of its step budget is recorded as ``cycle-search-timeout``
    and, as Elle does, the component is still proven cyclic (``*-cycle-exists``).
    """
    out: dict[str, list[dict]] = {}
    if not specs:
        return out
    mask = DATA | PROCESS | REALTIME
    for comp in sorted(sccs(g, mask), key=lambda c: min(c)):
        if not any(v < g.n_txn for v in comp):
            continue
        if deadline is not None and time.monotonic() > deadline:
            _gave_up(out, g, comp, "any", prohibited)
            break
        cset = set(comp)
        skip: set[str] = set()
        parts: dict[int, list[list[int]]] = {}
        for spec in specs:
            if spec.name in skip:
                continue
            try:
                raw = find_cycle(g, spec, cset, deadline, budget, parts=parts)
            except (SearchBudget, SearchTimeout):
                _gave_up(out, g, comp, spec.name, prohibited)
                if deadline is not None and time.monotonic() > deadline:
                    break
                continue
            if raw is None:
                continue
            if classify(collapse(g, raw)) != spec.name:
                continue  # defensive: never report a cycle under the wrong name
            out.setdefault(spec.name, []).append(
                cycle_case(g, node_txn, raw, spec.name, explain_data))
            skip |= models.implied_anomalies([spec.name])
    if any(k.endswith("-cycle-exists") for k in out):
        named = models.impossible_models(k for k in out if not k.endswith("-cycle-exists"))
        for name, model, _rels in models.CYCLE_EXISTS:
            if name in out and model in named:
                del out[name]  # a named cycle already rules this model out
    return out


_REL_BITS = {"ww": WW, "wr": WR, "rw": RW, "process": PROCESS, "realtime": REALTIME}


def _gave_up(out: dict[str, list[dict]], g: DepGraph, comp: list[int], searching: str,
             prohibited: set[str]) -> None:
    size = sum(1 for v in comp if v < g.n_txn)
    out.setdefault("cycle-search-timeout", []).append({
        "scc_size": size, "searching_for": searching,
        "explanation": f"searching a strongly connected group of {size} transactions for "
                       f"{searching} took too long; it does contain a cycle"})
    cset = set(comp)
    for name, _model, rels in models.CYCLE_EXISTS:
        if name not in prohibited or name in out or _model in models.impossible_models(out):
            continue
        m = 0
        for r in rels:
            m |= _REL_BITS[r]
        found = sccs(g, m, within=cset)
        if found:
            sub = min(found, key=len)
            txs = sorted(g_txn for g_txn in sub if g_txn < g.n_txn)
            out[name] = [{"scc_size": len(txs), "rels": list(rels),
                          "explanation": f"{len(txs)} transactions depend on each other in a "
                                         f"cycle of {', '.join(rels)} edges, which {_model} "
                                         f"forbids (the exact cycle was not named in time)"}]


def _result(kind: str, model: str, found: dict[str, list[dict]], prohibited: set[str],
            n_txn: int, elapsed: float) -> dict[str, Any]:
    reportable = prohibited | models.UNKNOWN_ANOMALIES
    shown = {k: v for k, v in found.items() if k in reportable}
    bad = [k for k in shown if k in prohibited]
    valid: bool | str = False if bad else (UNKNOWN if shown else True)
    is_not, also_not = models.boundary(found)
    return {"checker": f"elle-{kind}", "valid": valid, "consistency_model": model,
            "anomaly_types": sorted(shown), "not": is_not, "also_not": also_not,
            "anomalies": {k: shown[k] for k in sorted(shown)},
            "txn_count": n_txn, "elapsed_s": round(elapsed, 4)}




@dataclass(kw_only=True)
class ElleResult(CheckResult):
    """Anomalies found in a transactional history, and the models they rule out."""

    kind: ClassVar[str] = "elle-list-append"
    key_sep: ClassVar[str] = "_"

    consistency_model: str = ""
    anomaly_types: list[str] = field(default_factory=list)
    not_: list[str] = field(default_factory=list)
    also_not: list[str] = field(default_factory=list)
    anomalies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    txn_count: int = 0
    checker_kind: str = "elle-list-append"

    def __post_init__(self) -> None:
        if not self.reason and self.anomaly_types:
            self.reason = "anomalies " + ", ".join(self.anomaly_types) + (
                f"; so not {', '.join(self.not_)}" if self.not_ else "") + "."

    def blamed(self) -> list[int]:
        """For each cycle, its latest transaction: the one that closed the cycle."""
        out = []
        for kind, cases in self.anomalies.items():
            if kind not in self.anomaly_types:
                continue
            for case in cases if isinstance(cases, list) else []:
                txns = [c.get("txn") for c in (case.get("cycle") or []) if isinstance(c, dict)]
                txns = [t for t in txns if isinstance(t, int)]
                if txns:
                    out.append(max(txns))
        return out

    def to_json(self) -> dict[str, Any]:
        d = super().to_json()
        d["checker"] = d.pop("checker_kind")
        d["not"] = d.pop("not_")
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CheckResult:
        d = dict(d)
        d["checker_kind"] = d.get("checker") or cls.kind
        if "not" in d:
            d["not_"] = d.pop("not")
        return super().from_json(d)


class ElleChecker(Checker):
    """Elle's analysis of the ``txn`` ops (``kind`` list-append or rw-register)
    against a consistency model."""

    name = "elle"

    def __init__(self, consistency_model: str = "strict-serializable",
                 time_limit: float | None = None, kind: str = "list-append") -> None:
        self.consistency_model = consistency_model
        self.time_limit = time_limit
        self.kind = kind

    def check(self, history: list[Op], *, time_limit: float | None = None) -> CheckResult:
        ops = [op for op in history if op.process != NEMESIS and op.f == "txn"]
        limit = time_limit if time_limit is not None else self.time_limit
        return ElleResult.from_json(check(ops, kind=self.kind,
                                          consistency_model=self.consistency_model,
                                          time_limit=limit))


__all__ = ["CYCLE_TYPES", "ElleChecker", "ElleResult", "check"]

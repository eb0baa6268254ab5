"""Data for the linearizability view: every key of a linearizability result, with a
linearization to draw, and the minimal counterexample of each invalid key in words.

Keys the checker found invalid come from its result (the ops it checked, its partial
linearizations, the op its search stopped at, and the minimal counterexample of
:mod:`splitbrain.checker.counterexample`). Every other key is rebuilt from the history
through the model, as the checker reads it, and drawn with one linearization found by
:mod:`splitbrain.reports.witness` (replayed before it is drawn). Op positions ("x") are
ranks of call/return events, as Porcupine draws them; the page rebuilds the time of
each rank from the op table (``times`` is sent only for ops not found in the history).
"""

from __future__ import annotations

import json
import time
from typing import Any

from splitbrain.checker.base import result_from_json
from splitbrain.checker.models import Model, get_model
from splitbrain.checker.result import LinResult
from splitbrain.errors import ModelError
from splitbrain.history.ops import FAIL, INFO
from splitbrain.reports.pagedata import OpTable, page_time, short
from splitbrain.reports.rundata import RunData
from splitbrain.reports.witness import KeyOp, find_linearization, verify

#: seconds spent finding linearizations of valid keys, per report
WITNESS_BUDGET_S = 3.0


def key_label(key: Any) -> str:
    """A key as the page names it (a history without keys is one unnamed key)."""
    return "(whole history)" if key is None else short(key, 80)


def _ranks(spans: list[tuple[int, int | None]]) -> tuple[list[int], list[int], list[int]]:
    """x0, x1 per op and the sorted distinct event times (x of a time = its position)."""
    times = sorted({t for a, b in spans for t in (a, b) if t is not None})
    pos = {t: i for i, t in enumerate(times)}
    end = len(times)
    x0 = [pos[a] for a, _ in spans]
    x1 = [pos[b] if b is not None else end for _, b in spans]
    return x0, x1, times


def _effect_end(table: OpTable, r: int) -> int | None:
    """Until when an op may take effect: its return, or (info) any time after its call."""
    return None if table.rows[r].type == "info" else table.ret(r)


def _failure_key(failure: dict[str, Any], table: OpTable, init: str) -> dict[str, Any]:
    """An invalid key as drawn: the checker's ops, partial linearizations, failing op."""
    ops = [o for o in failure.get("ops") or [] if isinstance(o, dict)]
    pos_of = {o.get("id"): p for p, o in enumerate(ops)}
    rows, spans, desc = [], [], []
    for o in ops:
        r = table.row_of.get(o.get("index"))  # type: ignore[arg-type]
        rows.append(-1 if r is None else r)
        if r is not None:
            spans.append((table.call(r), _effect_end(table, r)))
        else:
            spans.append((int(o.get("call") or 0), o.get("return")))
        desc.append(str(o.get("desc") or f"{o.get('f')} {short(o.get('input'))}"))
    x0, x1, times = _ranks(spans)
    lins = []
    for lin in failure.get("longest") or []:
        if isinstance(lin, dict):
            lins.append({"ops": [pos_of[i] for i in lin.get("ops") or [] if i in pos_of],
                         "states": [str(s) for s in lin.get("states") or []]})
    op_lin = [-1] * len(ops)
    for oid, k in (failure.get("op_longest") or {}).items():
        p = pos_of.get(int(oid)) if str(oid).lstrip("-").isdigit() else None
        if p is not None and isinstance(k, int) and 0 <= k < len(lins) and p in lins[k]["ops"]:
            op_lin[p] = k
    for k, lin in enumerate(lins):  # an op of a linearization not named in op_longest
        for p in lin["ops"]:
            if op_lin[p] < 0:
                op_lin[p] = k
    minimal = failure.get("minimal") if isinstance(failure.get("minimal"), dict) else {}
    failing = failure.get("failing_op")
    return {"key": key_label(failure.get("key")), "status": "invalid", "rows": rows,
            "desc": desc, "x0": x0, "x1": x1, "nx": len(times),
            "times": [page_time(t, table.timed) for t in times] if -1 in rows else None,
            "lins": lins, "opLin": op_lin, "init": init,
            "failing": pos_of.get(failing, -1) if failing is not None else -1,
            "beforeFailing": str(failure.get("state_before_failing") or ""),
            "minimal": [pos_of[i] for i in minimal.get("ops") or [] if i in pos_of],
            "note": ""}


def _history_keys(run: RunData, table: OpTable, model: Model, fco: bool
                  ) -> dict[Any, tuple[Any, list[int], list[KeyOp]]]:
    """The history's keys as the checker reads them: partition -> (key, rows, ops)."""
    keys: dict[Any, tuple[Any, list[int], list[KeyOp]]] = {}
    fs = set(model.fs)
    for r, p in enumerate(run.op_pairs):
        inv, comp = p.invoke, p.complete
        if inv.type != "invoke" or (fs and inv.f not in fs):
            continue
        outcome = p.outcome
        if outcome == FAIL and not (fco and inv.f == "cas"):
            continue
        io = model.prepare(inv, comp, outcome, fco)
        if io is None:
            continue
        done = outcome != INFO
        part = model.partition(inv)
        entry = keys.get(part)
        if entry is None:
            entry = keys[part] = (inv.key, [], [])
        entry[1].append(r)
        entry[2].append(KeyOp(inv.index, p.invoke_pos,
                              p.complete_pos if done and comp is not None else None,
                              io[0], io[1]))
    return keys


def _valid_key(key: Any, rows: list[int], kops: list[KeyOp], table: OpTable, model: Model,
               init: str, deadline: float, checked: Any) -> dict[str, Any]:
    """A key the checker did not find invalid, with one linearization if one is found."""
    descs = [model.describe_operation(k.inp, k.out) for k in kops]
    x0, x1, times = _ranks([(table.call(r), _effect_end(table, r)) for r in rows])
    lins: list[dict[str, Any]] = []
    op_lin = [-1] * len(kops)
    note = ""
    seq = None
    if time.monotonic() < deadline:
        seq = find_linearization(model, kops, max_steps=20 * len(kops) + 20_000,
                                 deadline=deadline)
    states = verify(model, kops, seq) if seq is not None else None
    if seq is not None and states is not None:
        lins.append({"ops": seq, "states": states})
        for p in seq:
            op_lin[p] = 0
        if checked is not True:
            note = "This order is legal, so the key is linearizable."
    elif checked is True:
        note = ("Linearizable (the checker decided); no order drawn: the search for one "
                "to draw ran out of its budget.")
    elif checked is False:
        note = ("The checker keeps only the first invalid keys; this one may be among the "
                "others: no legal order was found to draw.")
    else:
        note = "Not decided by the checker, and no legal order found to draw."
    return {"key": key_label(key), "status": "valid" if lins or checked is True else "undecided",
            "rows": rows, "desc": descs, "x0": x0, "x1": x1, "nx": len(times),
            "times": None, "lins": lins,
            "opLin": op_lin, "init": init, "failing": -1, "beforeFailing": "",
            "minimal": [], "note": note}


def lin_views(run: RunData, table: OpTable, results: dict[str, Any],
              budget_s: float = WITNESS_BUDGET_S) -> list[dict[str, Any]]:
    """One view per linearizability result: ``{"name", "model", "keys": [...]}``, invalid
    keys first (in the result's order), then the others by key."""
    views = []
    deadline = time.monotonic() + budget_s
    for name, doc in (results.get("checkers") or {}).items():
        if not isinstance(doc, dict):
            continue
        res = result_from_json(doc, name)
        if not isinstance(res, LinResult):
            continue
        model_name = res.model or results.get("model") or ""
        fco = bool(res.extra.get("failed_cas_observes"))
        note = ""
        try:
            model: Model | None = get_model(model_name) if model_name else None
        except ModelError:
            model = None
        init = model.describe_state(model.init()) if model is not None else "initial state"
        keys = [_failure_key(f, table, init) for f in res.failures if isinstance(f, dict)]
        failed_indices = {table.rows[r].i_invoke for k in keys for r in k["rows"] if r >= 0}
        if model is None:
            note = f"no model recorded ({model_name!r}): only the invalid keys are drawn"
        else:
            checked = res.valid if res.valid in (True, False) else None
            try:
                hist = _history_keys(run, table, model, fco)
            except ModelError as e:
                hist = {}
                note = f"only the invalid keys are drawn: {e}"
            others = [v for v in hist.values()
                      if not any(run.pairs[r].i_invoke in failed_indices for r in v[1])]
            others.sort(key=lambda v: json.dumps(v[0], default=str, sort_keys=True))
            for key, rows, kops in others:
                keys.append(_valid_key(key, rows, kops, table, model, init, deadline, checked))
        views.append({"name": name, "model": model_name, "valid": res.valid, "keys": keys,
                      "note": note})
    return views


# --- the minimal counterexample, in words -------------------------------------------------

def _who(o: dict[str, Any]) -> str:
    return f"process {o['process']}" + (f" on {o['node']}" if o.get("node") not in (None, "—") else "")


def _precedences(ops: list[dict[str, Any]], table: OpTable) -> list[str]:
    """The real-time order among the counterexample's ops, without the implied steps:
    ``A returned (6.742 s) before B was invoked (6.771 s)``."""
    def ends(o: dict[str, Any]) -> tuple[int, int | None]:
        return o["_call"], o["_ret"]

    before = {(a, b) for a, oa in enumerate(ops) for b, ob in enumerate(ops)
              if a != b and ends(oa)[1] is not None and ends(oa)[1] < ends(ob)[0]}  # type: ignore[operator]
    out = []
    for a, b in sorted(before, key=lambda ab: (ops[ab[0]]["_ret"], ops[ab[1]]["_call"])):
        if any((a, c) in before and (c, b) in before for c in range(len(ops))):
            continue
        oa, ob = ops[a], ops[b]
        out.append(f"{oa['desc']} ({_who(oa)}) returned at {table.when(oa['_ret'])}, "
                   f"before {ob['desc']} ({_who(ob)}) was invoked at {table.when(ob['_call'])}")
    return out


def counterexample_cards(run: RunData, table: OpTable, results: dict[str, Any]
                         ) -> list[dict[str, Any]]:
    """One card per invalid key with a minimal counterexample: its ops (node, times,
    faults in force at call and return), the real-time order among them, the sentence
    saying why, and the ops as JSONL to check on their own."""
    pairs_by_index = {p.invoke.index: p for p in run.op_pairs if p.invoke.type == "invoke"}
    cards = []
    for name, doc in (results.get("checkers") or {}).items():
        if not isinstance(doc, dict):
            continue
        res = result_from_json(doc, name)
        if not isinstance(res, LinResult) or res.valid is not False:
            continue
        model = res.model or results.get("model") or "?"
        for fi, failure in enumerate(res.failures):
            m = failure.get("minimal")
            if not isinstance(m, dict):
                continue
            by_id = {o.get("id"): o for o in failure.get("ops") or [] if isinstance(o, dict)}
            ops = []
            jsonl = []
            for oid in m.get("ops") or []:
                o = by_id.get(oid)
                if o is None:
                    continue
                r = table.row_of.get(o.get("index"))  # type: ignore[arg-type]
                row = table.rows[r] if r is not None else None
                call = table.call(r) if r is not None else int(o.get("call") or 0)
                ret = table.ret(r) if r is not None else o.get("return")
                ops.append({
                    "id": oid, "row": -1 if r is None else r, "index": o.get("index"),
                    "process": o.get("process"), "desc": o.get("desc") or o.get("f"),
                    "node": (row.node if row is not None else None) or "—",
                    "outcome": o.get("outcome", "ok"),
                    "call": table.when(call), "ret": table.when(ret),
                    "faults_call": table.faults_at(call), "faults_ret": table.faults_at(ret),
                    "_call": call, "_ret": ret})
                p = pairs_by_index.get(o.get("index"))  # type: ignore[arg-type]
                if p is not None:
                    jsonl.append(p.invoke.to_json())
                    if p.complete is not None and p.complete is not p.invoke:
                        jsonl.append(p.complete.to_json())
            if not ops:
                continue
            n_other = int(m.get("of") or len(by_id)) - len(ops)
            jsonl_sorted = sorted(jsonl, key=lambda line: json.loads(line).get("index", 0))
            cards.append({
                "checker": name, "model": model, "failure": fi,
                "key": key_label(failure.get("key")), "keyed": failure.get("key") is not None,
                "ops": ops, "precedes": _precedences(ops, table), "n_other": n_other,
                "minimal": bool(m.get("minimal")), "checks": m.get("checks"),
                "jsonl": "\n".join(jsonl_sorted), "timed": table.timed,
                "fco": bool(res.extra.get("failed_cas_observes"))})
    return cards

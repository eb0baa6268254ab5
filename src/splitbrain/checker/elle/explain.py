"""Plain-words explanations of dependency cycles, and the data a report needs to draw them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .graph import PROCESS, REALTIME, REL_NAMES, RW, DepGraph, collapse
from .txns import Txn

WHY = {
    "G0": "every edge is a write-write dependency, so the writes themselves are ordered "
          "in a circle (write cycle)",
    "G1c": "the edges are write-write and write-read dependencies: information flowed in a "
           "circle (cyclic information flow)",
    "G-single": "exactly one edge is an anti-dependency (a read that missed a write): some "
                "transaction saw part of another's effects but not all (read skew)",
    "G-nonadjacent": "it has several anti-dependencies (reads that missed writes), no two in "
                     "a row, which snapshot isolation forbids",
    "G2-item": "it has two or more anti-dependencies (reads that missed writes), two in a "
               "row (write skew / anti-dependency cycle)",
}


def describe(rel: int) -> str:
    return REL_NAMES.get(rel, "?")


def cycle_case(g: DepGraph, node_txn: list[Txn], raw: list[tuple[int, int, int]], name: str,
               explain_data: Callable[[Txn, Txn, int], dict]) -> dict:
    """Build the anomaly entry: the transactions, each step with its reason, and a paragraph."""
    steps = collapse(g, raw)
    cycle = []
    out_steps = []
    sentences = []
    for a, b, rel in steps:
        ta, tb = node_txn[a], node_txn[b]
        cycle.append({"txn": ta.index, "process": ta.process, "type": ta.type,
                      "value": ta.mops})
        step: dict[str, Any] = {"from": ta.index, "to": tb.index, "type": describe(rel)}
        if rel == PROCESS:
            step["process"] = ta.process
            step["explanation"] = (f"T{ta.index} and T{tb.index} ran on process "
                                   f"{ta.process!r}, T{ta.index} first, so T{ta.index} "
                                   f"precedes T{tb.index} (process)")
        elif rel == REALTIME:
            step["explanation"] = (f"T{ta.index} completed before T{tb.index} began, so "
                                   f"T{ta.index} precedes T{tb.index} (realtime)")
        else:
            data = explain_data(ta, tb, rel)
            for k in ("key", "value", "value'"):
                if k in data:
                    step[k] = _jsonable(data[k])
            step["explanation"] = data["explanation"]
        out_steps.append(step)
        sentences.append(step["explanation"])
    base = name.replace("-process", "").replace("-realtime", "")
    tail = ""
    if name.endswith("-realtime"):
        tail = " Real-time order is part of the cycle, so this rules out strict models only."
    elif name.endswith("-process"):
        tail = " Process (session) order is part of the cycle."
    first = node_txn[steps[0][0]].index
    text = ("; ".join(sentences) + f". That brings us back to T{first}: a cycle, so no "
            f"serial order explains these transactions. It is {name} because "
            f"{WHY.get(base, 'of its edge types')}.{tail}")
    return {"cycle": cycle, "steps": out_steps, "explanation": text}


def classify(steps: list[tuple[int, int, int]]) -> str:
    """Elle's name for a cycle, from the relations of its steps (used to double-check)."""
    rels = [r for _, _, r in steps]
    n_rw = rels.count(RW)
    if n_rw == 1:
        base = "G-single"
    elif n_rw > 1:
        adj = any(rels[i] == RW and rels[i - 1] == RW for i in range(len(rels)))
        base = "G2-item" if adj else "G-nonadjacent"
    elif 2 in rels:  # WR
        base = "G1c"
    else:
        base = "G0"
    if REALTIME in rels:
        return base + "-realtime"
    if PROCESS in rels:
        return base + "-process"
    return base


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v

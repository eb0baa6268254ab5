"""Fault periods from the nemesis ops of a history, for shading charts.

Convention (lenient on purpose, since nemeses name their ops freely):

* A nemesis op *ends* a fault when its ``f`` begins with ``stop``, ``heal``,
  ``resume``, ``unpause`` or ``thaw``, or is exactly ``start`` / ``restart`` /
  ``recover`` while a ``kill``/``crash`` fault is open (a node brought back).
  A bare ``start`` with no such fault open is classic Jepsen's "start the
  nemesis" and *begins* a fault (family ``nemesis``, ended by ``stop``).
  ``start-partition`` is never an end: only the bare words are.
* Every other nemesis ``f`` *begins* a fault (``start-partition``, ``kill``,
  ``pause``, ``start-clock-skew`` ...).
* The fault's family is ``f`` without a ``start-``/``stop-`` prefix; the ends
  ``start``/``restart``/``recover`` close ``kill``/``crash``, ``resume``/
  ``unpause``/``thaw`` close ``pause``. An end closes the open fault of its
  family, or every open fault when no family matches (``heal``, ``heal-all``).
* A period runs from the begin op's invocation to the end op's completion (the
  fault is in force from when the nemesis starts applying it until it has
  fully healed); a fault never ended runs to the end of the history.
* A begin of a family that is already open does not open a second period.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_END_EXACT = {"start": ("kill", "crash"), "restart": ("kill", "crash"),
              "recover": ("kill", "crash")}
_END_PREFIX = {"stop": None, "heal": None, "resume": ("pause",), "unpause": ("pause",),
               "thaw": ("pause",)}


@dataclass
class FaultPeriod:
    """One shaded period: ``start``/``end`` in ns since the test start."""

    name: str
    start: int
    end: int
    label: str
    open_ended: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start, "end": self.end, "label": self.label,
                "open_ended": self.open_ended}


def is_fault_end(f: str) -> bool:
    """True if a nemesis op named ``f`` ends (heals) a fault rather than beginning one."""
    f = f.lower()
    if f in _END_EXACT:
        return True
    return any(f == p or f.startswith(p + "-") or f.startswith(p + "_") or f == p + "all"
               for p in _END_PREFIX)


def _family(f: str) -> str:
    f = f.lower()
    for p in ("start-", "stop-", "start_", "stop_", "heal-", "resume-"):
        if f.startswith(p):
            return f[len(p):]
    return f


def _end_families(f: str) -> tuple[str, ...] | None:
    """Families an end op closes; ``None`` means "match by name, else close all"."""
    f = f.lower()
    if f in _END_EXACT:
        return _END_EXACT[f]
    for p, fams in _END_PREFIX.items():
        if f == p or f.startswith(p):
            if fams is not None:
                return fams
    return None


def _is_grudge(v: Any) -> bool:
    return (isinstance(v, dict) and bool(v)
            and all(isinstance(x, list) and all(isinstance(n, str) for n in x) for x in v.values()))


def grudge_label(grudge: dict[str, list[str]]) -> str:
    """A grudge (node -> nodes whose packets it drops) in words: the sides of a clean
    partition as ``n1 | n2 n3``, else the cut links as ``n1×n3 n2×n4``."""
    nodes = sorted(set(grudge) | {n for v in grudge.values() for n in v})
    cut = {(a, b) for a, v in grudge.items() for b in v} | \
          {(b, a) for a, v in grudge.items() for b in v}
    if not cut:
        return "no links cut"
    sides: list[list[str]] = []
    for n in nodes:
        for side in sides:
            if all((n, m) not in cut for m in side):
                side.append(n)
                break
        else:
            sides.append([n])
    clean = all((a, b) in cut for i, s1 in enumerate(sides) for s2 in sides[i + 1:]
                for a in s1 for b in s2)
    if clean and len(sides) > 1:
        return " | ".join(" ".join(s) for s in sides)
    pairs = sorted({tuple(sorted(p)) for p in cut})
    return " ".join(f"{a}×{b}" for a, b in pairs)


def _short(value: Any, limit: int = 60) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and "grudge" in value and _is_grudge(value["grudge"]):
        s = grudge_label(value["grudge"])
    elif _is_grudge(value):
        s = grudge_label(value)
    elif isinstance(value, dict) and isinstance(value.get("nodes"), list):
        s = ",".join(map(str, value["nodes"]))
    elif isinstance(value, str):
        s = value
    else:
        s = json.dumps(value, separators=(",", ":"), default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def value_label(value: Any, limit: int = 60) -> str:
    """A nemesis op's value in a few words (a grudge as the sides of its partition)."""
    return _short(value, limit)


def fault_periods(ops: list[dict[str, Any]], end_time: int | None = None) -> list[FaultPeriod]:
    """Pair the nemesis ops of a history (dicts as in history.jsonl) into fault periods.

    Invocations and completions of one nemesis op are merged: the begin time is
    the invoke's, the end time the completion's (or the invoke's if none).
    """
    nem = [o for o in ops if o.get("process") == "nemesis"]
    if end_time is None:
        end_time = max((int(o.get("time") or 0) for o in ops), default=0)
    # merge invoke/complete pairs (the nemesis is one logical process)
    events: list[tuple[str, int, int, Any]] = []  # f, t_begin, t_end, value
    pending: dict[str, tuple[int, Any]] = {}
    for o in nem:
        f = str(o.get("f"))
        t = int(o.get("time") or 0)
        if o.get("type") == "invoke":
            pending[f] = (t, o.get("value"))
        else:
            if f in pending:
                t0, v0 = pending.pop(f)
                v = o.get("value") if o.get("value") is not None else v0
                events.append((f, t0, t, v))
            else:
                events.append((f, t, t, o.get("value")))
    for f, (t0, v0) in pending.items():  # invoked, never completed
        events.append((f, t0, t0, v0))
    events.sort(key=lambda e: e[1])

    periods: list[FaultPeriod] = []
    open_: dict[str, tuple[int, str]] = {}  # family -> (start, label)
    for f, t0, t1, v in events:
        revive = f.lower() in _END_EXACT
        if revive and not any(x in open_ for x in _END_EXACT[f.lower()]):
            if "nemesis" not in open_:
                open_["nemesis"] = (t0, f"nemesis {_short(v)}".strip())
            elif open_["nemesis"][1] == "nemesis" and v is not None:  # Jepsen's 2nd :start
                open_["nemesis"] = (open_["nemesis"][0], f"nemesis {_short(v)}")
            continue
        if is_fault_end(f):
            fams = _end_families(f)
            fam = _family(f)
            if fams is None:
                targets = [fam] if fam in open_ else list(open_)
            else:
                targets = [x for x in fams if x in open_] or ([fam] if fam in open_ else [])
                if not targets and len(open_) == 1:
                    targets = list(open_)
            for name in targets:
                start, label = open_.pop(name)
                periods.append(FaultPeriod(name, start, max(t1, start), label))
        else:
            fam = _family(f)
            if fam not in open_:
                sv = _short(v)
                open_[fam] = (t0, f"{fam} {sv}".strip())
    for name, (start, label) in open_.items():
        periods.append(FaultPeriod(name, start, max(end_time, start), label, open_ended=True))
    periods.sort(key=lambda p: p.start)
    return periods

"""The report's own view of a history: every client op as one row (process, node, times,
outcome, faults), in the compact columnar JSON the page's views draw from.

Times on the page are seconds since the test start. A history with no clock (Jepsen
log lines) has positions instead: then an op's "time" is its history index, and faults
are placed by the positions of the nemesis ops.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from splitbrain.reports.faults import FaultPeriod, fault_periods, value_label
from splitbrain.reports.rundata import ClientPair, RunData

OUTCOME_CODES = {"ok": 0, "fail": 1, "info": 2}


def short(v: Any, limit: int = 48) -> str:
    """A value as compact text, cut at ``limit`` characters."""
    s = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


@dataclass
class OpTable:
    """Client ops of one run as rows, and the faults in force over time."""

    timed: bool
    rows: list[ClientPair]
    row_of: dict[int, int]                 # invocation index -> row
    periods: list[FaultPeriod]
    end: int                               # last time (ns, or position when untimed)
    nemesis: list[tuple[int, int, str]] = field(default_factory=list)  # (index, time, text)

    def call(self, r: int) -> int:
        p = self.rows[r]
        return p.t_invoke if self.timed else p.i_invoke

    def ret(self, r: int) -> int | None:
        p = self.rows[r]
        if self.timed:
            return p.t_complete
        return p.i_complete

    def when(self, t: int | None) -> str:
        """A time as shown on the page: ``6.741 s``, or ``#113`` without a clock."""
        if t is None:
            return "never"
        return f"{t / 1e9:.3f} s" if self.timed else f"#{t}"

    def faults_at(self, t: int | None) -> list[str]:
        """Labels of the faults in force at ``t`` (none for ``None``)."""
        if t is None:
            return []
        return [p.label for p in self.periods if p.start <= t <= p.end]

    def row_text(self, r: int) -> str:
        """An op in a few words, for the timeline."""
        p = self.rows[r]
        val = p.value_out if p.type == "ok" and p.value_out is not None else p.value_in
        txt = f"{p.f} {'' if p.key is None else short(p.key, 16) + ' '}{short(val)}"
        if p.error is not None:
            txt += f" ({short(p.error, 40)})"
        return txt


def op_table(run: RunData) -> OpTable:
    """The rows of a run: one per client invocation, in invocation order."""
    rows = run.pairs
    timed = any(p.t_invoke or p.t_complete for p in rows) or any(
        o.time for o in run.history if o.process == "nemesis")
    row_of: dict[int, int] = {}
    for r, p in enumerate(rows):
        row_of.setdefault(p.i_invoke, r)
    if timed:
        nem_ops = run.ops
        end = run.end_time
    else:  # no clock: place the nemesis ops by their positions
        nem_ops = [{**o.to_dict(), "time": o.index} for o in run.history
                   if o.process == "nemesis"]
        end = max((o.index for o in run.history), default=0)
    periods = fault_periods(nem_ops, end)
    nemesis = []
    for o in run.history:
        if o.process == "nemesis" and o.type != "invoke":
            nemesis.append((o.index, o.time if timed else o.index,
                            f"{o.f} {value_label(o.value)}".strip()))
    return OpTable(timed, rows, row_of, periods, end, nemesis)


def page_time(t: int | None, timed: bool) -> int:
    """Times in the page's JSON: microseconds (positions when untimed); -1 for none."""
    if t is None:
        return -1
    return t // 1000 if timed else t


def ops_json(table: OpTable, descs: dict[int, str] | None = None) -> dict[str, Any]:
    """Every row as columns (short arrays parse fast), with lookup tables for the
    repeated strings: f, key and node names."""
    fs: dict[str, int] = {}
    keys: dict[str, int] = {}
    nodes: dict[str, int] = {}
    procs: list[Any] = []
    cols: dict[str, list[Any]] = {c: [] for c in "ijpfkoabnd"}
    descs = descs or {}
    timed = table.timed
    for r, p in enumerate(table.rows):
        cols["i"].append(p.i_invoke)
        cols["j"].append(-1 if p.i_complete is None else p.i_complete)
        procs.append(p.process)
        cols["f"].append(fs.setdefault(p.f, len(fs)))
        cols["k"].append(-1 if p.key is None else keys.setdefault(short(p.key, 60), len(keys)))
        cols["o"].append(OUTCOME_CODES.get(p.type, 2))
        cols["a"].append(page_time(table.call(r), timed))
        cols["b"].append(page_time(table.ret(r), timed))
        cols["n"].append(-1 if not p.node else nodes.setdefault(str(p.node), len(nodes)))
        cols["d"].append(descs.get(r) or table.row_text(r))
    cols["p"] = procs
    return {"timed": timed, "fs": list(fs), "keys": list(keys), "nodes": list(nodes),
            "cols": cols, "end": page_time(table.end, timed),
            "faults": [{"name": p.name, "label": p.label, "start": page_time(p.start, timed),
                        "end": page_time(p.end, timed), "open": p.open_ended}
                       for p in table.periods],
            "nemesis": [[i, page_time(t, timed), txt] for i, t, txt in table.nemesis]}

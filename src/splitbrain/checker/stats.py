"""The ``stats`` checker: how many ops of each f ended ok / fail / info.

It judges only whether the test exercised the system: every f needs at least
one ``ok``, else the verdict is ``unknown`` (a test that never got an op
through proves nothing, but it does not prove a bug either).
"""

from __future__ import annotations

from typing import Any

from splitbrain.history.ops import FAIL, INFO, NEMESIS, OK, Op, pair
from splitbrain.workloads.base import Checker


def op_counts(history: list[Op]) -> dict[str, dict[str, int]]:
    """``{f: {"ok": n, "fail": n, "info": n, "count": n}}`` over client ops.

    An invocation never completed counts as ``info`` (its outcome is unknown).
    """
    by_f: dict[str, dict[str, int]] = {}
    for p in pair(op for op in history if op.process != NEMESIS):
        c = by_f.setdefault(p.invoke.f, {OK: 0, FAIL: 0, INFO: 0, "count": 0})
        c[p.outcome] += 1
        c["count"] += 1
    return dict(sorted(by_f.items()))


class StatsChecker(Checker):
    """Counts ok / fail / info per f; ``unknown`` if some f never succeeded."""

    name = "stats"

    def check(self, history: list[Op], *, time_limit: float | None = None) -> dict[str, Any]:
        by_f = op_counts(history)
        total = {k: sum(c[k] for c in by_f.values()) for k in (OK, FAIL, INFO, "count")}
        never_ok = [f for f, c in by_f.items() if c[OK] == 0]
        nemesis = sum(1 for op in history if op.process == NEMESIS and op.type != "invoke")
        valid: bool | str = True
        if not by_f or never_ok:
            valid = "unknown"
        out: dict[str, Any] = {"valid": valid, "by-f": by_f, **total, "nemesis-ops": nemesis}
        if never_ok:
            out["never-ok"] = never_ok
        if not by_f:
            out["error"] = "no client ops in the history"
        return out

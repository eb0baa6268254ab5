"""The ``stats`` checker: how many ops of each f ended ok / fail / info.

It judges only whether the test exercised the system: every f needs at least
one ``ok``, else the verdict is ``unknown`` (a test that never got an op
through proves nothing, but it does not prove a bug either).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from splitbrain.checker.base import Checker, CheckResult
from splitbrain.history.ops import FAIL, INFO, INVOKE, NEMESIS, OK, Op, op_counts
from splitbrain.verdict import UNKNOWN


@dataclass(kw_only=True)
class StatsResult(CheckResult):
    """Outcome counts per f; ``unknown`` when some f never succeeded."""

    kind: ClassVar[str] = "stats"

    by_f: dict[str, dict[str, int]] = field(default_factory=dict)
    ok: int = 0
    fail: int = 0
    info: int = 0
    count: int = 0
    nemesis_ops: int = 0
    never_ok: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.reason and self.never_ok:
            self.reason = f"no {', '.join(self.never_ok)} ever succeeded: nothing was tested"


class StatsChecker(Checker):
    """Counts ok / fail / info per f; ``unknown`` if some f never succeeded."""

    name = "stats"

    def check(self, history: list[Op], *, time_limit: float | None = None) -> StatsResult:
        by_f = op_counts(op for op in history if op.process != NEMESIS)
        total = {k: sum(c[k] for c in by_f.values()) for k in (OK, FAIL, INFO, "count")}
        never_ok = [f for f, c in by_f.items() if c[OK] == 0]
        nemesis = sum(1 for op in history if op.process == NEMESIS and op.type != INVOKE)
        res = StatsResult(valid=UNKNOWN if not by_f or never_ok else True, by_f=by_f,
                          nemesis_ops=nemesis, never_ok=never_ok, **total)
        if not by_f:
            res.error = "no client ops in the history"
            res.reason = "no client ops in the history: nothing was tested"
        return res

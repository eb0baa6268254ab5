"""The counter checker: every read lies within what the adds allow, and reads
never go backwards in real time.

For a read invoked at position i and completed at position j (history order is
real-time order):

* lower bound: the sum of adds acknowledged (ok) before i — they certainly
  happened before the read began;
* upper bound: the sum of adds invoked before j that did not fail — ok or info
  (an info add may or may not have applied, an unfinished one too).

So a value outside [lower, upper] is impossible for any linearizable counter
whatever the info adds did. Inside the interval the value must moreover be
``lower`` plus the sum of some subset of the uncertain adds (those between the
two bounds): with adds 2 acknowledged and 4 info, a read of 3 is impossible. Because adds are positive, a read that begins after
another read completed must not return less ("backwards"); concurrent reads may
legitimately differ and are not compared. The final value is the ``final-read``
ops of the final phase (after heal): all adds are then finished, so its bounds
are [acknowledged, acknowledged + info]. Without a successful final read the
verdict is at best ``unknown``; so is it when a read returned something that
is not an int (it cannot be judged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from splitbrain.checker.base import Checker, CheckResult
from splitbrain.history.ops import FAIL, INVOKE, NEMESIS, OK, Op, pair
from splitbrain.verdict import UNKNOWN

READS = ("read", "final-read")
MAX_REPORTED = 20
MAX_SUBSET_TERMS = 5000


@dataclass(kw_only=True)
class CounterResult(CheckResult):
    """Reads outside what the adds allow, and reads that went backwards."""

    kind: ClassVar[str] = "counter"

    reads: int = 0
    final_reads: list[int] = field(default_factory=list)
    bounds: dict[str, int] = field(default_factory=dict)
    out_of_bounds_count: int = 0
    out_of_bounds: list[dict[str, Any]] = field(default_factory=list)
    backwards_count: int = 0
    backwards: list[dict[str, Any]] = field(default_factory=list)
    bad_values: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.reason or self.valid is True:
            return
        parts = []
        if self.out_of_bounds_count:
            parts.append(f"{self.out_of_bounds_count} read(s) outside what the adds allow")
        if self.backwards_count:
            parts.append(f"{self.backwards_count} read(s) went backwards")
        if self.bad_values:
            parts.append(f"{len(self.bad_values)} read(s) not an integer")
        self.reason = "; ".join(parts)


    def blamed(self) -> list[int]:
        return [x["index"] for x in [*self.out_of_bounds, *self.backwards]
                if isinstance(x, dict) and isinstance(x.get("index"), int)]


class CounterChecker(Checker):
    """Bounds and monotonicity of counter reads (f ``add`` / ``read`` / ``final-read``)."""

    name = "counter"

    def check(self, history: list[Op], *, time_limit: float | None = None) -> CounterResult:
        ops = [op for op in history if op.process != NEMESIS and op.f in ("add", *READS)]
        if any(op.f == "add" and _delta(op.value) < 0 for op in ops):
            return CounterResult(valid=UNKNOWN, error="negative adds: these bounds and the "
                                 "backwards check assume increments only")
        outcome = {id(p.invoke): p.outcome for p in pair(ops)}
        acked = possible = 0          # running sums of ok adds / not-failed add invocations
        pending: dict[Any, int] = {}  # process -> delta of a not-failed add not yet acked
        acked_log: list[int] = []     # deltas of ok adds, in completion order
        maybe_applied: list[int] = []    # deltas of adds that will never be acked (info)
        acked_total = info_total = 0
        floor: tuple[int, int] | None = None   # (max value of completed reads, its index)
        open_reads: dict[Any, tuple[Op, int, tuple[int, int] | None, int]] = {}
        out_of_bounds: list[dict[str, Any]] = []
        backwards: list[dict[str, Any]] = []
        bad_values: list[dict[str, Any]] = []
        final_reads: list[int] = []
        n_reads = 0
        for op in ops:
            if op.f == "add":
                if op.type == INVOKE:
                    res = outcome[id(op)]
                    if res != FAIL:
                        possible += _delta(op.value)
                        if res == OK:
                            pending[op.process] = _delta(op.value)
                        else:  # info or never completed: uncertain for ever after
                            info_total += _delta(op.value)
                            maybe_applied.append(_delta(op.value))
                elif op.type == OK:
                    acked += _delta(op.value)
                    acked_total += _delta(op.value)
                    acked_log.append(pending.pop(op.process, _delta(op.value)))
                continue
            if op.type == INVOKE:
                open_reads[op.process] = (op, acked, floor, len(acked_log))
                continue
            inv, lower, fl, n_acked = open_reads.pop(op.process,
                                                     (op, acked, floor, len(acked_log)))
            if op.type != OK:
                continue
            v = 0 if op.value is None else op.value
            if not isinstance(v, int) or isinstance(v, bool):
                bad_values.append({"index": op.index, "value": op.value})
                continue
            n_reads += 1
            if op.f == "final-read":
                final_reads.append(v)
            if not lower <= v <= possible:
                out_of_bounds.append({"index": op.index, "f": op.f, "value": v,
                                      "lower": lower, "upper": possible,
                                      "invoke-index": inv.index})
            elif v != lower and v != possible:
                uncertain = [*maybe_applied, *pending.values(), *acked_log[n_acked:]]
                if not _subset_sum(uncertain, v - lower):
                    out_of_bounds.append({"index": op.index, "f": op.f, "value": v,
                                          "lower": lower, "upper": possible,
                                          "invoke-index": inv.index,
                                          "why": "no subset of the uncertain adds sums to "
                                                 f"{v - lower}"})
            if fl is not None and v < fl[0]:
                backwards.append({"index": op.index, "value": v, "earlier-value": fl[0],
                                  "earlier-index": fl[1]})
            if floor is None or v > floor[0]:
                floor = (v, op.index)
        # a read that is not an int cannot be judged (it may be the client's decoding)
        valid: bool | str = (False if out_of_bounds or backwards else
                             UNKNOWN if bad_values or not final_reads else True)
        out: dict[str, Any] = {
            "valid": valid,
            "reads": n_reads,
            "final-reads": final_reads,
            "bounds": {"acknowledged": acked_total, "possible": acked_total + info_total},
            "out-of-bounds-count": len(out_of_bounds),
            "out-of-bounds": out_of_bounds[:MAX_REPORTED],
            "backwards-count": len(backwards),
            "backwards": backwards[:MAX_REPORTED],
        }
        if bad_values:
            out["bad-values"] = bad_values[:MAX_REPORTED]
        if not final_reads:
            out["note"] = "no successful final-read: the final value is unchecked"
        return CounterResult.from_json(out)


def _subset_sum(deltas: list[int], target: int) -> bool:
    """Whether some subset of ``deltas`` (positive ints) sums to ``target`` (bitset DP)."""
    if len(deltas) > MAX_SUBSET_TERMS:
        return True  # too many to enumerate: fall back to the interval bounds (sound)
    reach, mask = 1, (1 << (target + 1)) - 1
    for d in deltas:
        reach = (reach | (reach << d)) & mask
        if reach >> target & 1:
            return True
    return bool(reach >> target & 1)


def _delta(v: Any) -> int:
    """An add's amount (Jepsen histories use plain ints)."""
    return v if isinstance(v, int) else 0

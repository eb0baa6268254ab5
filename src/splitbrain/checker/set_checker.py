"""The set checker: lost, duplicated, unexpected, stale and recovered elements.

A history of unique ``add e`` ops, ``read`` ops and ``final-read`` ops (after
heal), each read returning a list of elements. Walking the history in order
(which is real-time order), an element becomes *known* once its add is
acknowledged or a read that returned it has completed; from then on it is
certainly in the set, because elements are never removed. So:

* **stale**   — a read invoked after the element was known does not contain it
  (Jepsen's set-full idea, simplified: a read that misses what certainly was
  there is not linearizable);
* **lost**    — known, and missing from the last final read: gone for good;
* **duplicated** — appears more than once in one read (each element is added once);
* **unexpected** — in a read but never attempted;
* **failed-present** — its add definitely failed, yet a read contains it;
* **recovered** (not an error) — its add was ``info`` and the final read has it.

Elements whose add was ``info`` and that no read ever showed are neither lost nor
present: their outcome is unknown and they are only counted. ``lost`` and ``stale``
are disjoint (stale = missed at some point but not lost). Without a successful
final read the verdict is at best ``unknown``; with ``linearizable=False``, stale
elements are reported but do not make the history invalid.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from splitbrain.checker.base import Checker, CheckResult
from splitbrain.history.ops import FAIL, INVOKE, NEMESIS, OK, Op, pair
from splitbrain.verdict import UNKNOWN

MAX_LISTED = 50
READS = ("read", "final-read")


def _listing(elements: set[Any] | list[Any]) -> list[Any]:
    items = sorted(elements, key=lambda v: (0, v) if isinstance(v, int) else (1, repr(v)))
    return items[:MAX_LISTED]


@dataclass(kw_only=True)
class SetResult(CheckResult):
    """Counts and listings (at most 50 each) of lost, stale, duplicated ... elements."""

    kind: ClassVar[str] = "set"

    attempt_count: int = 0
    acknowledged_count: int = 0
    failed_count: int = 0
    indeterminate_count: int = 0
    read_count: int = 0
    final_read: bool = False
    final_size: int = 0
    lost_count: int = 0
    lost: list[Any] = field(default_factory=list)
    stale_count: int = 0
    stale: list[Any] = field(default_factory=list)
    stale_examples: list[dict[str, Any]] = field(default_factory=list)
    duplicated_count: int = 0
    duplicated: list[Any] = field(default_factory=list)
    unexpected_count: int = 0
    unexpected: list[Any] = field(default_factory=list)
    failed_present_count: int = 0
    failed_present: list[Any] = field(default_factory=list)
    recovered_count: int = 0
    recovered: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.reason or self.valid is True:
            return
        parts = [f"{n} {what}" for n, what in (
            (self.lost_count, "lost"), (self.stale_count, "stale"),
            (self.duplicated_count, "duplicated"), (self.unexpected_count, "unexpected"),
            (self.failed_present_count, "present although their add failed")) if n]
        if parts:
            self.reason = ", ".join(parts) + " element(s)"
            if self.lost:
                self.reason += f"; lost e.g. {', '.join(map(repr, self.lost[:5]))}"


    def blamed(self) -> list[int]:
        return [e["read-index"] for e in self.stale_examples
                if isinstance(e, dict) and isinstance(e.get("read-index"), int)]


class SetChecker(Checker):
    """Checks a unique-add set history (f ``add`` / ``read`` / ``final-read``)."""

    name = "set"

    def __init__(self, *, linearizable: bool = True) -> None:
        self.linearizable = linearizable

    def check(self, history: list[Op], *, time_limit: float | None = None) -> SetResult:
        ops = [op for op in history if op.process != NEMESIS and op.f in ("add", *READS)]
        pairs = pair(ops)
        adds = [p for p in pairs if p.invoke.f == "add"]
        attempted = {_h(p.invoke.value) for p in adds}
        acked = {_h(p.invoke.value) for p in adds if p.outcome == OK}
        failed = {_h(p.invoke.value) for p in adds if p.outcome == FAIL} - acked
        indeterminate = attempted - acked - failed

        known: list[Any] = []                  # in the order they became known
        known_set: set[Any] = set()
        known_at: dict[Any, int] = {}          # element -> index of the op that made it known
        open_reads: dict[Any, tuple[Op, int]] = {}
        stale_at: dict[Any, dict[str, Any]] = {}
        duplicated: set[Any] = set()
        unexpected: set[Any] = set()
        failed_present: set[Any] = set()
        last_final: tuple[Op, list[Any]] | None = None
        n_reads = 0

        def make_known(e: Any, index: int) -> None:
            if e not in known_set:
                known_at[e] = index
                known.append(e)
                known_set.add(e)

        for op in ops:
            if op.f == "add":
                if op.type == OK:
                    make_known(_h(op.value), op.index)
                continue
            if op.type == INVOKE:
                open_reads[op.process] = (op, len(known))
                continue
            inv, n_known = open_reads.pop(op.process, (op, len(known)))
            if op.type != OK:
                continue
            n_reads += 1
            values = op.value if isinstance(op.value, list) else (
                [] if op.value is None else [op.value])
            # set operations run in C: this loop meets every element of every read
            try:
                present = set(values)
            except TypeError:
                values = [_h(v) for v in values]
                present = set(values)
            if len(present) != len(values):
                duplicated.update(e for e, c in Counter(values).items() if c > 1)
            new = present - known_set            # known elements were all attempted
            unexpected |= new - attempted
            failed_present |= failed & present
            missing: list[Any] = []
            # fast path: the read holds every element known so far, so none is missing
            if len(present) - len(new) < len(known_set):
                prefix = known[:n_known] if n_known < len(known) else known
                if not present.issuperset(prefix):
                    missing = [e for e in prefix if e not in present]
                    for e in missing:
                        stale_at.setdefault(e, {"element": e,
                                                "known-since-index": known_at[e],
                                                "read-index": op.index,
                                                "read-invoke-index": inv.index})
            if op.f == "final-read":
                last_final = (op, missing)
            for e in new & attempted:
                make_known(e, op.index)

        final_present: set[Any] = set()
        lost: set[Any] = set()
        if last_final is not None:
            fop, missing = last_final
            vals = fop.value if isinstance(fop.value, list) else []
            final_present = {_h(v) for v in vals}
            lost = set(missing)
        stale = set(stale_at) - lost
        recovered = final_present & indeterminate

        invalid = bool(lost or duplicated or unexpected or failed_present
                       or (stale and self.linearizable))
        valid: bool | str = False if invalid else (True if last_final else UNKNOWN)
        out: dict[str, Any] = {
            "valid": valid,
            "attempt-count": len(attempted),
            "acknowledged-count": len(acked),
            "failed-count": len(failed),
            "indeterminate-count": len(indeterminate),
            "read-count": n_reads,
            "final-read": last_final is not None,
            "final-size": len(final_present),
            "lost-count": len(lost), "lost": _listing(lost),
            "stale-count": len(stale), "stale": _listing(stale),
            "stale-examples": [stale_at[e] for e in _listing(stale)[:5]],
            "duplicated-count": len(duplicated), "duplicated": _listing(duplicated),
            "unexpected-count": len(unexpected), "unexpected": _listing(unexpected),
            "failed-present-count": len(failed_present),
            "failed-present": _listing(failed_present),
            "recovered-count": len(recovered), "recovered": _listing(recovered),
        }
        if last_final is None:
            out["note"] = "no successful final-read: lost elements cannot be judged"
        return SetResult.from_json(out)


def _h(v: Any) -> Any:
    """A hashable form of an element (histories from files may hold lists)."""
    if isinstance(v, list):
        return tuple(_h(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _h(x)) for k, x in v.items()))
    return v

"""The lock checker: two holders at once, judged soundly with leases and info ops.

A lock service with leases promises mutual exclusion only while a holder's lease
lasts. The lock workload's client contract: ``lock_acquire(name, lease_s)``
returns once the lock is held under a lease of at least ``lease_s`` seconds that
was granted (or refreshed) after the call began. From a history we can then
name, for every acquire that returned ok, a window in which its process
*certainly* held the lock:

    from  the acquire's completion (the lock was held by then)
    until the earlier of: the invocation of that process's next release (whatever
          its outcome — after that the lock may be gone), and the acquire's
          invocation + lease (the lease may have run out after that, e.g. when the
          holder was partitioned away and could not keep it alive).

Two such windows of different processes that overlap are two holders at once: a
real violation, whatever the info ops did. Everything else is left alone, so this
check never calls a correct history invalid, at the price of missing some bugs:

* an acquire that ended ``info`` or ``fail`` gives no window (it may not hold);
* holding after the lease bound is not counted (expiry may have been legitimate);
* the stricter view — the lock as a perfect mutex, leases or not — is the
  linearizability checker's ``mutex`` model, which the lock workload runs as
  well: it flags a lease that expired under a live holder, as Jepsen does.

Needs op times (nanoseconds); without them the verdict is ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from splitbrain.checker.base import Checker, CheckResult
from splitbrain.history.ops import INVOKE, NEMESIS, OK, Op
from splitbrain.verdict import UNKNOWN

MAX_REPORTED = 20


@dataclass(kw_only=True)
class LockResult(CheckResult):
    """Certain-hold windows of different processes that overlap: two holders at once."""

    kind: ClassVar[str] = "lock"

    lease_s: float = 0.0
    acquired: int = 0
    certain_windows: int = 0
    two_holders_count: int = 0
    two_holders: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.reason and self.two_holders_count:
            self.reason = (f"{self.two_holders_count} time(s) two clients certainly held the "
                           f"lock at once")


    def blamed(self) -> list[int]:
        out = []
        for pair_ in self.two_holders:
            second = pair_.get("second") if isinstance(pair_, dict) else None
            if isinstance(second, dict) and isinstance(second.get("acquired-index"), int):
                out.append(second["acquired-index"])
        return out


class LockChecker(Checker):
    """Finds two processes certainly holding the lock at the same time."""

    name = "lock"

    def __init__(self, lease_s: float) -> None:
        self.lease_ns = int(lease_s * 1e9)

    def windows(self, history: list[Op]) -> list[dict[str, Any]]:
        """The certain-hold windows ``{process, start, end, acquire-index}`` (start < end)."""
        ops = [op for op in history if op.process != NEMESIS and op.f in ("acquire", "release")]
        out: list[dict[str, Any]] = []
        pending: dict[Any, Op] = {}        # process -> its open acquire invocation
        holding: dict[Any, dict[str, Any]] = {}  # process -> window still open
        for op in ops:
            p = op.process
            if op.f == "acquire":
                if op.type == INVOKE:
                    pending[p] = op
                    continue
                inv = pending.pop(p, None)
                if op.type == OK and inv is not None:
                    holding[p] = {"process": p, "start": op.time,
                                  "end": inv.time + self.lease_ns,
                                  "acquire-index": inv.index, "acquired-index": op.index}
                continue
            if op.type == INVOKE and p in holding:  # a release: the certain hold ends here
                w = holding.pop(p)
                w["end"] = min(w["end"], op.time)
                w["release-index"] = op.index
                out.append(w)
        out.extend(holding.values())
        return sorted((w for w in out if w["start"] < w["end"]), key=lambda w: w["start"])

    def check(self, history: list[Op], *, time_limit: float | None = None) -> LockResult:
        relevant = [op for op in history if op.process != NEMESIS
                    and op.f in ("acquire", "release")]
        if relevant and not any(op.time for op in relevant):
            return LockResult(valid=UNKNOWN, error="the history has no op times: leases "
                                                   "cannot be reasoned about")
        ws = self.windows(history)
        overlaps: list[dict[str, Any]] = []
        longest: dict[str, Any] | None = None  # the window reaching furthest so far
        n = 0
        for w in ws:
            if longest is not None and longest["end"] > w["start"] \
                    and longest["process"] != w["process"]:
                n += 1
                if len(overlaps) < MAX_REPORTED:
                    overlaps.append({"first": longest, "second": w,
                                     "overlap-ns": min(longest["end"], w["end"]) - w["start"]})
            if longest is None or w["end"] > longest["end"]:
                longest = w
        acquired = sum(1 for op in relevant if op.f == "acquire" and op.type == OK)
        valid: bool | str = False if n else (True if acquired else UNKNOWN)
        out: dict[str, Any] = {"valid": valid, "lease-s": self.lease_ns / 1e9,
                               "acquired": acquired, "certain-windows": len(ws),
                               "two-holders-count": n, "two-holders": overlaps}
        if not acquired:
            out["note"] = "no acquire succeeded: nothing to judge"
        return LockResult.from_json(out)

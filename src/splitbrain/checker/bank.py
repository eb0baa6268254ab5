"""The bank checker: every read shows the initial total and no negative balance.

Reads (``read`` and ``final-read``) complete with ``{account: balance}``. Any read
that shows a different total, a missing or extra account, or (unless
``negative_allowed``) a negative balance, is a violation: the
workload's transfers conserve money and never overdraw, so no serializable
execution can produce such a read. A read of ``None`` (the bank not created yet)
is fine until the bank is known to exist — a transfer was acknowledged, or a
read showed it — before the read began; after that it is data loss. A read
that is not a map of int balances cannot be judged: ``unknown`` at best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from splitbrain.checker.base import Checker, CheckResult
from splitbrain.history.ops import INVOKE, NEMESIS, OK, Op
from splitbrain.verdict import UNKNOWN

READS = ("read", "final-read")
MAX_REPORTED = 10


@dataclass(kw_only=True)
class BankResult(CheckResult):
    """Reads with a wrong total, wrong accounts, negative balances or a missing bank."""

    kind: ClassVar[str] = "bank"

    expected_total: int = 0
    accounts: list[str] = field(default_factory=list)
    negative_allowed: bool = False
    read_count: int = 0
    ok_transfers: int = 0
    error_counts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    final_reads: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.reason or self.valid is True:
            return
        parts = [f"{n} read(s) {k.replace('-', ' ')}" for k, n in self.error_counts.items()]
        if parts:
            self.reason = "; ".join(parts) + f" (expected total {self.expected_total})"


    def blamed(self) -> list[int]:
        return [x["index"] for kind, xs in self.errors.items() if kind != "malformed"
                for x in xs if isinstance(x, dict) and isinstance(x.get("index"), int)]


class BankChecker(Checker):
    """Checks the totals and balances every read of the bank saw."""

    name = "bank"

    def __init__(self, accounts: Sequence[str], total: int, *,
                 negative_allowed: bool = False) -> None:
        self.accounts = frozenset(str(a) for a in accounts)
        self.total = total
        self.negative_allowed = negative_allowed

    def judge(self, balances: Any) -> list[str]:
        """What is wrong with one read's balances (empty if nothing)."""
        if not isinstance(balances, dict):
            return ["malformed"]
        errs = []
        keys = {str(k) for k in balances}
        if keys != self.accounts:
            errs.append("wrong-accounts")
        vals = list(balances.values())
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            return [*errs, "malformed"]
        if sum(vals) != self.total:
            errs.append("wrong-total")
        if not self.negative_allowed and any(v < 0 for v in vals):
            errs.append("negative")
        return errs

    def check(self, history: list[Op], *, time_limit: float | None = None) -> BankResult:
        ops = [op for op in history if op.process != NEMESIS
               and op.f in ("transfer", *READS)]
        exists = False                      # the bank is known to exist by now
        open_reads: dict[Any, bool] = {}    # process -> "exists" when the read began
        errors: dict[str, list[dict[str, Any]]] = {}
        counts: dict[str, int] = {}
        n_reads = n_transfers = n_shown = 0
        final: list[Any] = []
        for op in ops:
            if op.f == "transfer":
                if op.type == OK:
                    exists = True
                    n_transfers += 1
                continue
            if op.type == INVOKE:
                open_reads[op.process] = exists
                continue
            existed = open_reads.pop(op.process, exists)
            if op.type != OK:
                continue
            n_reads += 1
            if op.f == "final-read":
                final.append(op.value)
            if op.value is None:
                kinds = ["bank-missing"] if existed else []
            else:
                kinds = self.judge(op.value)
                exists = True
                n_shown += 1
            for k in kinds:
                counts[k] = counts.get(k, 0) + 1
                lst = errors.setdefault(k, [])
                if len(lst) < MAX_REPORTED:
                    total = (sum(v for v in op.value.values() if isinstance(v, int))
                             if isinstance(op.value, dict) else None)
                    lst.append({"index": op.index, "f": op.f, "value": op.value,
                                "total": total})
        # a malformed read cannot be judged (it may be the client's decoding): unknown
        wrong = [k for k in errors if k != "malformed"]
        valid: bool | str = (False if wrong else
                             UNKNOWN if "malformed" in errors or not n_shown else True)
        out: dict[str, Any] = {"valid": valid, "expected-total": self.total,
                               "accounts": sorted(self.accounts),
                               "negative-allowed": self.negative_allowed,
                               "read-count": n_reads, "ok-transfers": n_transfers,
                               "error-counts": counts, "errors": errors,
                               "final-reads": final[:MAX_REPORTED]}
        if not n_shown:
            out["note"] = "no read showed the bank: nothing to judge"
        return BankResult.from_json(out)

"""A checker that hands a workload's ops to the linearizability checker with a model.

The linearizability checker (``splitbrain.checker.linearizability``) is imported
lazily: if it is missing or crashes, the verdict is ``unknown`` with the reason,
never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from splitbrain.history.ops import NEMESIS, Op
from splitbrain.workloads.base import Checker


class LinearizabilityChecker(Checker):
    """Linearizability of the client ops whose f is in ``fs``, under ``model``
    (the checker partitions by ``op.key`` itself)."""

    name = "linearizability"

    def __init__(self, model: str, fs: Iterable[str], *, time_limit: float | None = None,
                 name: str | None = None) -> None:
        self.model = model
        self.fs = frozenset(fs)
        self.time_limit = time_limit
        if name:
            self.name = name

    def check(self, history: list[Op], *, time_limit: float | None = None) -> dict[str, Any]:
        ops = [op for op in history if op.process != NEMESIS and op.f in self.fs]
        try:
            from splitbrain.checker import linearizability
        except ImportError as e:
            return {"valid": "unknown", "model": self.model,
                    "error": f"linearizability checker unavailable: {e}"}
        limit = time_limit if time_limit is not None else self.time_limit
        try:
            res = linearizability.check(ops, self.model, time_limit=limit)
        except Exception as e:  # noqa: BLE001 - a checker crash is "unknown", not a verdict
            return {"valid": "unknown", "model": self.model,
                    "error": f"linearizability checker failed: {type(e).__name__}: {e}"}
        out = dict(res.to_dict())
        out["valid"] = res.valid
        out.setdefault("model", self.model)
        return out

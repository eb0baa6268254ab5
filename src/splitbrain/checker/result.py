"""The linearizability checker's result and its JSON form (read by the reports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from splitbrain.checker.base import CheckResult
from splitbrain.verdict import word


@dataclass(kw_only=True)
class LinResult(CheckResult):
    """Verdict of one linearizability check. ``valid`` is ``True``, ``False`` or ``"unknown"``
    (time or memory budget ran out). ``failures`` holds the invalid partitions, worst first."""

    kind: ClassVar[str] = "linearizability"
    key_sep: ClassVar[str] = "_"

    model: str = ""
    partitions_checked: int = 0
    partitions: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.valid is True

    def to_json(self) -> dict[str, Any]:
        """The JSON document the reports draw from (keys are part of the interface)."""
        d = {"checker": self.kind, "model": self.model, "valid": self.valid,
             "elapsed_s": round(self.elapsed_s or 0.0, 6),
             "partitions_checked": self.partitions_checked, "reason": self.reason,
             "failures": self.failures}
        if self.error:
            d["error"] = self.error
        return d | self.extra

    to_dict = to_json

    def blamed(self) -> list[int]:
        out = []
        for f in self.failures:
            ops, fid = f.get("ops") or [], f.get("failing_op")
            for o in ops:
                if isinstance(o, dict) and fid is not None and o.get("id") == fid \
                        and isinstance(o.get("index"), int):
                    out.append(o["index"])
        return out

    def summary(self) -> str:
        """One line for a terminal."""
        v = word(self.valid)
        s = f"{v if self.valid is not False else 'INVALID'} ({self.partitions_checked} " \
            f"partition(s), {self.elapsed_s or 0.0:.3f}s)"
        return f"{s}: {self.reason}" if self.reason else s

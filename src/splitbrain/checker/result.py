"""The linearizability checker's result and its JSON form (read by the reports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UNKNOWN_VERDICT = "unknown"


def merge_valid(verdicts: list[bool | str]) -> bool | str:
    """Compose verdicts: ``False`` beats ``"unknown"`` beats ``True`` (empty -> ``True``)."""
    if any(v is False for v in verdicts):
        return False
    if any(v == UNKNOWN_VERDICT for v in verdicts):
        return UNKNOWN_VERDICT
    return True


@dataclass
class LinResult:
    """Verdict of one linearizability check. ``valid`` is ``True``, ``False`` or ``"unknown"``
    (time or memory budget ran out). ``failures`` holds the invalid partitions, worst first."""

    model: str
    valid: bool | str = UNKNOWN_VERDICT
    elapsed_s: float = 0.0
    partitions_checked: int = 0
    partitions: int = 0
    reason: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.valid is True

    def to_dict(self) -> dict[str, Any]:
        """The JSON document the reports draw from (keys are part of the interface)."""
        return {"checker": "linearizability", "model": self.model, "valid": self.valid,
                "elapsed_s": round(self.elapsed_s, 6),
                "partitions_checked": self.partitions_checked, "reason": self.reason,
                "failures": self.failures}

    def summary(self) -> str:
        """One line for a terminal."""
        v = {True: "valid", False: "INVALID"}.get(self.valid, "unknown")  # type: ignore[arg-type]
        s = f"{v} ({self.partitions_checked} partition(s), {self.elapsed_s:.3f}s)"
        return f"{s}: {self.reason}" if self.reason else s

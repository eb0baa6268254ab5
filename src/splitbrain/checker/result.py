"""The linearizability checker's result and its JSON form (read by the reports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from splitbrain.checker.base import CheckResult
from splitbrain.verdict import word


@dataclass(kw_only=True)
class LinResult(CheckResult):
    """Verdict of one linearizability check. ``valid`` is ``True``, ``False`` or ``"unknown"``
    (time or memory budget ran out). The history is checked key by key (Porcupine calls
    them partitions): ``partitions`` keys in all, ``partitions_checked`` of them to the
    end, ``keys_invalid`` found invalid, of which ``failures`` keeps the first few."""

    kind: ClassVar[str] = "linearizability"
    key_sep: ClassVar[str] = "_"

    model: str = ""
    partitions_checked: int = 0
    partitions: int = 0
    keys_invalid: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.valid is True

    def to_json(self) -> dict[str, Any]:
        """The JSON document the reports draw from (keys are part of the interface)."""
        d = {"checker": self.kind, "model": self.model, "valid": self.valid,
             "elapsed_s": round(self.elapsed_s or 0.0, 6),
             "partitions": self.partitions, "partitions_checked": self.partitions_checked,
             "keys_invalid": max(self.keys_invalid, len(self.failures)),
             "reason": self.reason, "failures": self.failures}
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
        n = self.partitions_checked
        s = f"{v if self.valid is not False else 'INVALID'} ({n} key{'s' if n != 1 else ''} " \
            f"checked, {self.elapsed_s or 0.0:.3f}s)"
        return f"{s}: {self.reason}" if self.reason else s

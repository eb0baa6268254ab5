"""The Checker interface, typed check results, and running several checkers at once.

A checker reads only a history and returns a :class:`CheckResult` (a dataclass per
kind of checker, each with ``to_json``); ``results.json`` stores those documents and
the reports read them back with :func:`result_from_json`. :func:`run_checkers` is
Jepsen's ``compose``: every checker runs, a crash is ``unknown`` (never ``valid``),
and the verdicts merge with :func:`splitbrain.verdict.merge`.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from splitbrain.history.ops import Op
from splitbrain.verdict import UNKNOWN, Verdict, merge, word

log = logging.getLogger("splitbrain.checker")

#: result kind -> "module:Class" of its CheckResult subclass (imported on demand)
RESULT_KINDS: dict[str, str] = {
    "linearizability": "splitbrain.checker.result:LinResult",
    "elle-list-append": "splitbrain.checker.elle.checker:ElleResult",
    "elle-rw-register": "splitbrain.checker.elle.checker:ElleResult",
    "stats": "splitbrain.checker.stats:StatsResult",
    "set": "splitbrain.checker.set_checker:SetResult",
    "counter": "splitbrain.checker.counter:CounterResult",
    "bank": "splitbrain.checker.bank:BankResult",
    "lock": "splitbrain.checker.lock:LockResult",
}


@dataclass(kw_only=True)
class CheckResult:
    """What one checker concluded: the verdict, one line saying why, and the evidence.

    ``valid`` is a :data:`splitbrain.verdict.Verdict`; ``reason`` is one line for a
    person (empty when valid); ``error`` is set when the checker could not judge at
    all; ``note`` qualifies a verdict (e.g. "no final read"); ``warning`` says what it
    found that does not change the verdict (e.g. a lease lock re-granted after expiry). Subclasses add their
    evidence as fields; ``extra`` keeps keys of a stored document this version does
    not know, so reading and rewriting results never drops data.
    """

    kind: ClassVar[str] = "checker"
    #: JSON key style of the subclass's own fields: "-" (Jepsen's) or "_"
    key_sep: ClassVar[str] = "-"

    valid: Verdict = UNKNOWN
    reason: str = ""
    error: str | None = None
    note: str | None = None
    warning: str | None = None
    elapsed_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # -- JSON ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The JSON document stored in ``results.json`` under the checker's name."""
        d: dict[str, Any] = {"checker": self.kind, "valid": self.valid}
        for f in dataclasses.fields(self):
            if f.name in ("valid", "extra"):
                continue
            v = getattr(self, f.name)
            if f.name in ("reason", "error", "note", "warning", "elapsed_s") \
                    and v in (None, ""):
                continue
            d[self._json_key(f.name)] = _plain(v)
        d.update(self.extra)
        return d

    @classmethod
    def _json_key(cls, name: str) -> str:
        base = {f.name for f in dataclasses.fields(CheckResult)}
        return name if name in base else name.replace("_", cls.key_sep)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CheckResult:
        """Rebuild a result of this class from its JSON document (unknown keys -> extra)."""
        names = {cls._json_key(f.name): f.name for f in dataclasses.fields(cls)
                 if f.name != "extra"}
        kw: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for k, v in d.items():
            if k == "checker":
                continue
            if k in names:
                kw[names[k]] = v
            else:
                extra[k] = v
        kw["valid"] = d.get("valid", UNKNOWN)
        try:
            return cls(**kw, extra=extra)
        except TypeError:  # a document from another version: keep it all as extra
            return CheckResult(valid=kw["valid"], reason=str(d.get("reason") or ""),
                               error=d.get("error"), extra=extra | {
                                   k: v for k, v in d.items() if k not in ("valid",)})

    # -- evidence --------------------------------------------------------------------
    def blamed(self) -> list[int]:
        """History indices of the ops this result names as wrong (the first bad op is the
        earliest of them); empty when it names none."""
        return []

    # -- words -----------------------------------------------------------------------
    def summary(self) -> str:
        """One line: the verdict and why (console, banner, campaign grid, JUnit)."""
        why = self.reason or self.error or self.note or ""
        return f"{word(self.valid)}" + (f": {why}" if why else "")


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return dataclasses.asdict(v)
    return v


def result_from_json(d: dict[str, Any], name: str | None = None) -> CheckResult:
    """The typed result of a stored document (by its ``checker`` kind, else by ``name``)."""
    kind = str(d.get("checker") or name or "")
    target = RESULT_KINDS.get(kind)
    if target is None:
        return CheckResult.from_json(d)
    mod, _, cls_name = target.partition(":")
    cls: type[CheckResult] = getattr(importlib.import_module(mod), cls_name)
    return cls.from_json(d)


class Checker(ABC):
    """Judges a whole history; returns a :class:`CheckResult`."""

    name: ClassVar[str] = "checker"

    @abstractmethod
    def check(self, history: list[Op], *, time_limit: float | None = None) -> CheckResult:
        """The verdict on ``history`` and why; ``unknown`` when it cannot decide in time."""


def run_checkers(checkers: Iterable[Checker], history: list[Op], *,
                 time_limit: float | None = None,
                 on_start: Callable[[str], Any] | None = None,
                 on_result: Callable[[str, CheckResult], Any] | None = None
                 ) -> dict[str, CheckResult]:
    """Run every checker on ``history``; a crash is ``unknown`` with the error, never valid.

    ``on_start(name)`` and ``on_result(name, result)`` report progress (the live view).
    """
    out: dict[str, CheckResult] = {}
    for ch in checkers:
        if on_start is not None:
            on_start(ch.name)
        t0 = time.monotonic()
        try:
            res = ch.check(history, time_limit=time_limit)
        except Exception as e:  # noqa: BLE001 - a checker crash is "unknown", never "valid"
            log.exception("checker %s failed", ch.name)
            res = CheckResult(valid=UNKNOWN, error=f"{type(e).__name__}: {e}",
                              reason=f"the {ch.name} checker failed")
        if res.elapsed_s is None:
            res.elapsed_s = round(time.monotonic() - t0, 3)
        out[ch.name] = res
        if on_result is not None:
            on_result(ch.name, res)
    return out


def merged(results: dict[str, CheckResult]) -> Verdict:
    """The verdict of several results (invalid beats unknown beats valid; none -> unknown)."""
    return merge(r.valid for r in results.values())

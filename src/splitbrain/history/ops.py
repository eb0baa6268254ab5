"""The history model of DESIGN.md: ops, the process discipline, pairing and op counts.

An op is one JSON object per line in ``history.jsonl``. ``type`` is ``invoke``
followed by exactly one of ``ok`` / ``fail`` / ``info`` for the same process.
Everything that pairs invocations with completions or counts outcomes uses
:func:`pair` and :func:`op_counts` from here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from splitbrain.errors import HistoryError

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
OP_TYPES = frozenset({INVOKE, OK, FAIL, INFO})
COMPLETIONS = frozenset({OK, FAIL, INFO})
NEMESIS = "nemesis"

_CORE = ("index", "type", "process", "f", "key", "value", "time", "node", "error")


@dataclass(slots=True)
class Op:
    """One history event. ``process`` is an int, or the string ``"nemesis"``."""

    type: str
    process: int | str
    f: str
    value: Any = None
    key: Any = None
    time: int = 0
    index: int = -1
    node: str | None = None
    error: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form, omitting absent optional fields."""
        d: dict[str, Any] = {"index": self.index, "type": self.type, "process": self.process,
                             "f": self.f}
        if self.key is not None:
            d["key"] = self.key
        d["value"] = self.value
        d["time"] = self.time
        if self.node is not None:
            d["node"] = self.node
        if self.error is not None:
            d["error"] = self.error
        if self.extra:
            d.update(self.extra)
        return d

    def to_json(self) -> str:
        """One line of ``history.jsonl``: exactly ``json.dumps(self.to_dict())`` (compact).

        This runs twice per op on the workers' hot path, so the common shapes (ints,
        short strings, None, lists of those) are written directly; anything else goes
        through ``json.dumps``.
        """
        if self.extra or type(self.index) is not int or type(self.time) is not int:
            return json.dumps(self.to_dict(), separators=(",", ":"), default=_json_default)
        p = self.process
        proc = str(p) if type(p) is int else _atom(p)
        key = "" if self.key is None else f',"key":{_atom(self.key)}'
        node = "" if self.node is None else f',"node":{_atom(self.node)}'
        err = "" if self.error is None else f',"error":{_atom(self.error)}'
        return (f'{{"index":{self.index},"type":{_str(self.type)},"process":{proc},'
                f'"f":{_str(self.f)}{key},"value":{_atom(self.value)},"time":{self.time}'
                f"{node}{err}}}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Op:
        """Build an op from a parsed JSON object; unknown fields go to ``extra``."""
        extra = {k: v for k, v in d.items() if k not in _CORE}
        return cls(type=d["type"], process=d["process"], f=d["f"], value=d.get("value"),
                   key=d.get("key"), time=int(d.get("time") or 0), index=int(d.get("index", -1)),
                   node=d.get("node"), error=d.get("error"), extra=extra)

    @property
    def is_invoke(self) -> bool:
        return self.type == INVOKE

    @property
    def is_client(self) -> bool:
        return self.process != NEMESIS


_str = json.encoder.encode_basestring_ascii   # the C string encoder json.dumps uses


def _atom(v: Any) -> str:
    """JSON for one value, as compact ``json.dumps`` writes it (fast for common shapes)."""
    t = type(v)
    if t is int:
        return str(v)
    if t is str:
        return _str(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is list and all(type(x) is int for x in v):
        return "[" + ",".join(map(str, v)) + "]"
    return json.dumps(v, separators=(",", ":"), default=_json_default)


def _json_default(o: Any) -> Any:
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


@dataclass(slots=True)
class Pair:
    """An invocation and its completion (``None`` if the history ended first), with their
    positions in the history that was paired."""

    invoke: Op
    complete: Op | None
    invoke_pos: int = -1
    complete_pos: int | None = None

    @property
    def outcome(self) -> str:
        """``ok``, ``fail`` or ``info``; an invocation never completed counts as ``info``."""
        return self.complete.type if self.complete is not None else INFO


def validate(ops: list[Op], source: str = "<history>", lines: list[int] | None = None) -> None:
    """Check the process discipline: invoke then one completion; no reuse after ``info``.

    ``lines`` maps op positions to source line numbers for error messages.
    """
    open_: dict[Any, int] = {}
    crashed: set[Any] = set()
    for i, op in enumerate(ops):
        line = lines[i] if lines else i + 1
        if op.type not in OP_TYPES:
            raise HistoryError(source, line, f"unknown op type {op.type!r}")
        if op.process == NEMESIS:
            continue
        p = op.process
        if op.type == INVOKE:
            if p in open_:
                raise HistoryError(source, line, f"process {p} invoked again before its "
                                                 f"previous op completed")
            if p in crashed:
                raise HistoryError(source, line, f"process {p} invoked after an info "
                                                 f"completion (a crashed process must not be reused)")
            open_[p] = i
        else:
            if p not in open_:
                raise HistoryError(source, line, f"{op.type} for process {p} with no open "
                                                 f"invocation")
            inv = ops[open_.pop(p)]
            if inv.f != op.f:
                raise HistoryError(source, line, f"completion f {op.f!r} does not match "
                                                 f"invocation f {inv.f!r} of process {p}")
            if op.type == INFO:
                crashed.add(p)


def pair(ops: Iterable[Op], *, include_nemesis: bool = False) -> list[Pair]:
    """Pair invocations with completions, in invocation order. Assumes a valid history.

    The one place that pairs: checkers, reports and counts all use it. A completion
    with no open invocation (a nemesis ``info``, or a history of completions only)
    stands alone as a pair that begins where it ends.
    """
    pairs: list[Pair] = []
    open_: dict[Any, Pair] = {}
    for pos, op in enumerate(ops):
        if op.process == NEMESIS and not include_nemesis:
            continue
        if op.type == INVOKE:
            pr = Pair(op, None, pos)
            open_[op.process] = pr
            pairs.append(pr)
        else:
            pr = open_.pop(op.process, None)
            if pr is None:
                pairs.append(Pair(op, op, pos, pos))
            else:
                pr.complete, pr.complete_pos = op, pos
    return pairs


def reindex(ops: list[Op]) -> list[Op]:
    """Give ops their position as index (Jepsen numbers ops by position)."""
    for i, op in enumerate(ops):
        op.index = i
    return ops


def op_counts(ops: Iterable[Op]) -> dict[str, dict[str, int]]:
    """``{f: {"ok": n, "fail": n, "info": n, "count": n}}`` over client ops, sorted by f.

    An invocation never completed counts as ``info`` (its outcome is unknown).
    """
    by_f: dict[str, dict[str, int]] = {}
    for p in pair(ops):
        c = by_f.setdefault(p.invoke.f, {OK: 0, FAIL: 0, INFO: 0, "count": 0})
        c[p.outcome] += 1
        c["count"] += 1
    return dict(sorted(by_f.items()))


def client_ops(ops: Iterable[Op]) -> list[Op]:
    """The ops of client processes (everything but the nemesis)."""
    return [op for op in ops if op.process != NEMESIS]

"""The history model of DESIGN.md: ops, pairing, and the streaming writer.

An op is one JSON object per line in ``history.jsonl``. ``type`` is ``invoke``
followed by exactly one of ``ok`` / ``fail`` / ``info`` for the same process.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
OP_TYPES = frozenset({INVOKE, OK, FAIL, INFO})
COMPLETIONS = frozenset({OK, FAIL, INFO})
NEMESIS = "nemesis"

_CORE = ("index", "type", "process", "f", "key", "value", "time", "node", "error")


class HistoryError(ValueError):
    """A history that breaks the model: names the source, the line and the problem."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source, self.line, self.message = source, line, message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


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
        return json.dumps(self.to_dict(), separators=(",", ":"), default=_json_default)

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


def _json_default(o: Any) -> Any:
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


@dataclass(slots=True)
class Pair:
    """An invocation and its completion (``None`` if the history ended first)."""

    invoke: Op
    complete: Op | None

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
    """Pair invocations with completions, in invocation order. Assumes a valid history."""
    pairs: list[Pair] = []
    open_: dict[Any, Pair] = {}
    for op in ops:
        if op.process == NEMESIS and not include_nemesis:
            continue
        if op.type == INVOKE:
            pr = Pair(op, None)
            open_[op.process] = pr
            pairs.append(pr)
        else:
            pr = open_.pop(op.process, None)
            if pr is None:  # a lone nemesis completion (e.g. "info" without invoke)
                pairs.append(Pair(op, op))
            else:
                pr.complete = op
    return pairs


def reindex(ops: list[Op]) -> list[Op]:
    """Give ops their position as index (Jepsen numbers ops by position)."""
    for i, op in enumerate(ops):
        op.index = i
    return ops


class HistoryWriter:
    """Thread-safe recorder that streams ops to ``history.jsonl`` as they happen.

    Ops are buffered and flushed (with fsync) at least every ``flush_interval``
    seconds by a background thread, and on :meth:`flush` (called at every phase
    end), so a crash loses at most the last interval. All ops are also kept in
    memory for the checkers.
    """

    def __init__(self, path: Path | None, flush_interval: float = 0.5, keep: bool = True) -> None:
        self.path = path
        self.ops: list[Op] = []
        self._keep = keep
        self._lock = threading.Lock()
        self._buf: list[str] = []
        self._fh: IO[str] | None = open(path, "a", encoding="utf-8") if path else None
        self._t0 = time.monotonic_ns()
        self._next_index = 0
        self._closed = False
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if self._fh is not None:
            self._flusher = threading.Thread(target=self._flush_loop, args=(flush_interval,),
                                             name="history-flusher", daemon=True)
            self._flusher.start()

    @property
    def t0(self) -> int:
        return self._t0

    def now(self) -> int:
        """Nanoseconds since the test start (monotonic)."""
        return time.monotonic_ns() - self._t0

    def record(self, op: Op) -> Op:
        """Stamp the op with index (and time if unset) and append it."""
        with self._lock:
            if op.time == 0:
                op.time = time.monotonic_ns() - self._t0
            op.index = self._next_index
            self._next_index += 1
            if self._keep:
                self.ops.append(op)
            if self._fh is not None:
                self._buf.append(op.to_json())
        return op

    def __len__(self) -> int:
        return self._next_index

    def flush(self) -> None:
        """Write buffered ops to disk and fsync."""
        with self._lock:
            buf, self._buf = self._buf, []
            fh = self._fh
        if fh is None or not buf:
            return
        fh.write("\n".join(buf) + "\n")
        fh.flush()
        try:
            import os

            os.fsync(fh.fileno())
        except OSError:
            pass

    def _flush_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - never kill the flusher; close() retries
                pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        self.flush()
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __iter__(self) -> Iterator[Op]:
        return iter(list(self.ops))

"""The streaming history writer: records ops as they happen to ``history.jsonl``."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from splitbrain.history.ops import Op


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

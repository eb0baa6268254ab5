"""The fault journal: a JSON-lines file in the run's store dir saying what was broken.

Before a fault is applied an ``apply`` entry is appended (backend, test, nodes and
addresses, the exact detail); after its heal a ``heal`` entry with the same id.
An ``apply`` without a ``heal``, written by a process that is gone, is a fault a
killed run left behind; :func:`open_faults` finds those.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from splitbrain.clusters.ownership import proc_start
from splitbrain.history.store import JOURNAL

JOURNAL_NAME = JOURNAL   # the run directory's fault journal (history.store)


_proc_start = proc_start      # the kernel's start time of a pid (one definition, in ownership)


def owner_alive(entry: dict[str, Any]) -> bool:
    """Whether the process that wrote ``entry`` is still running (on this host)."""
    pid = entry.get("pid")
    if not isinstance(pid, int):
        return False
    start = _proc_start(pid)
    return start is not None and start == entry.get("pid_start")


class Journal:
    """Appends fault entries to ``path``; each line is flushed and fsynced at once."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = Path(path)
        self.header = header
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._pid_start = _proc_start(self._pid)

    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())

    def applying(self, fault: str, detail: dict[str, Any]) -> str:
        """Record a fault about to be applied; returns its id for :meth:`healed`."""
        fid = uuid.uuid4().hex[:12]
        self._append({"event": "apply", "id": fid, "wall": time.time(), "pid": self._pid,
                      "pid_start": self._pid_start, **self.header, "fault": fault,
                      "detail": detail})
        return fid

    def healed(self, fid: str, *, recovered: bool = False, note: str | None = None) -> None:
        """Record that the fault ``fid`` has been healed."""
        entry: dict[str, Any] = {"event": "heal", "id": fid, "wall": time.time(),
                                 "pid": self._pid}
        if recovered:
            entry["recovered"] = True
        if note:
            entry["note"] = note
        self._append(entry)


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of one journal; a torn last line (killed mid-write) is ignored."""
    out = []
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(e, dict) and e.get("event") in ("apply", "heal") and "id" in e:
            out.append(e)
    return out


def unhealed(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``apply`` entries that have no ``heal`` entry, in order."""
    healed = {e["id"] for e in entries if e["event"] == "heal"}
    return [e for e in entries if e["event"] == "apply" and e["id"] not in healed]


def open_faults(path: Path) -> list[dict[str, Any]]:
    """Unhealed faults of ``path`` whose writer is gone (a live run heals its own)."""
    return [e for e in unhealed(read_entries(path)) if not owner_alive(e)]


def find_journals(store_root: Path) -> Iterator[Path]:
    """Every journal under ``store_root`` (symlinks such as ``latest`` not followed)."""
    root = Path(store_root)
    if not root.is_dir():
        return
    seen: set[Path] = set()
    for dirpath, _dirs, files in os.walk(root, followlinks=False):
        if JOURNAL_NAME in files:
            p = Path(dirpath) / JOURNAL_NAME
            rp = p.resolve()
            if rp not in seen:
                seen.add(rp)
                yield p

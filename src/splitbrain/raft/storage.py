"""Durable state in the data directory: hard state, log file, snapshot.

- ``state.json``: ``{"term": T, "vote": ID|null}``, replaced atomically (tmp, fsync, rename).
- ``log.jsonl``: one ``[index, term, data]`` JSON line per entry. Appends are written in
  batches followed by ONE fsync (group commit). A conflict truncates the file at the
  byte offset of the first removed entry; a torn last line after a crash is dropped.
- ``snapshot.json``: ``{"index", "term", "config", "data"}``, replaced atomically; after
  it is saved the log file is rewritten to hold only later entries (a node's own
  periodic snapshots leave the covered lines in place until they add up to
  ``REWRITE_BYTES``: loading skips them, and most snapshots then cost no log rewrite).

With ``fsync=False`` (the ``no-fsync`` bug) nothing is fsync'd: an acknowledged entry
or vote can vanish when the machine (or the process, with our buffered writes) dies.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .log import Entry

PREALLOC = 1024 * 1024  # small steps: zero-filling is a latency spike on a busy disk
REWRITE_BYTES = 4 * 1024 * 1024  # covered log lines kept in place by lazy snapshots


_encode = json.JSONEncoder(separators=(",", ":")).encode  # ASCII out: len(str) == bytes


def _dumps(obj: Any) -> bytes:
    return _encode(obj).encode()


def encode_lines(entries: list[Entry]) -> tuple[bytes, list[int]]:
    """The log file lines of ``entries`` as one buffer, and each line's length (done
    by the caller, off the disk thread)."""
    texts = list(map(_encode, entries))
    return ("\n".join(texts) + "\n").encode() if texts else b"", [len(t) + 1 for t in texts]


class Storage:
    """Owns the files in ``data_dir``; methods are blocking (run them off the loop)."""

    def __init__(self, data_dir: str, fsync: bool = True) -> None:
        self.dir = data_dir
        self.fsync = fsync
        os.makedirs(data_dir, exist_ok=True)
        self.log_path = os.path.join(data_dir, "log.jsonl")
        self.offsets: list[int] = []   # byte offset of each entry line, in index order
        self.first_index = 1           # index of the first line in the log file
        self._fd: int | None = None
        self.end = 0
        self.allocated = 0

    # ------------------------------------------------------------------ load
    def load(self) -> tuple[int, str | None, dict | None, list[Entry]]:
        """Returns (term, voted_for, snapshot or None, entries after the snapshot)."""
        term, vote = 0, None
        p = os.path.join(self.dir, "state.json")
        if os.path.exists(p):
            with open(p, "rb") as f:
                st = json.loads(f.read())
            term, vote = st["term"], st["vote"]
        snap = None
        p = os.path.join(self.dir, "snapshot.json")
        if os.path.exists(p):
            with open(p, "rb") as f:
                snap = json.loads(f.read())
        snap_index = snap["index"] if snap else 0
        entries: list[Entry] = []
        self.offsets = []
        good = 0
        raw = b""
        if os.path.exists(self.log_path):
            with open(self.log_path, "rb") as f:
                raw = f.read()
            pos = 0
            while pos < len(raw):
                nl = raw.find(b"\n", pos)
                if nl < 0:
                    break  # torn final line
                try:
                    e = json.loads(raw[pos:nl])
                except ValueError:
                    break
                if entries and e[0] != entries[-1][0] + 1:
                    break
                entries.append(e)
                self.offsets.append(pos)
                pos = nl + 1
                good = pos
        self.first_index = entries[0][0] if entries else snap_index + 1
        self._open(good)
        if os.path.exists(self.log_path) and raw[good:].strip(b"\0"):
            self._zero(good, len(raw))  # a torn tail must never be read back later
        # Entries covered by the snapshot are dropped from memory (the file keeps them
        # until the next rewrite).
        keep = [e for e in entries if e[0] > snap_index]
        if keep and keep[0][0] != snap_index + 1:
            keep = []  # gap after the snapshot: the log file is from an older base
        if entries and entries[0][0] > snap_index + 1:
            keep = []
        if not keep:
            self._rewrite([], snap_index + 1)
        return term, vote, snap, keep

    # ---------------------------------------------------------------- writes
    def _sync(self, f) -> None:
        if self.fsync:
            f.flush()
            os.fsync(f.fileno())

    def _sync_dir(self) -> None:
        if self.fsync:
            fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _atomic_write(self, name: str, payload: bytes) -> None:
        p = os.path.join(self.dir, name)
        tmp = p + ".tmp"
        with open(tmp, "wb") as f:
            f.write(payload)
            self._sync(f)
        os.replace(tmp, p)
        self._sync_dir()

    def save_hard_state(self, term: int, vote: str | None) -> None:
        self._atomic_write("state.json", _dumps({"term": term, "vote": vote}))

    def _open(self, end: int) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT, 0o644)
        self.end = end
        self.allocated = os.fstat(self._fd).st_size

    def _zero(self, lo: int, hi: int) -> None:
        if hi > lo:
            os.pwrite(self._fd, bytes(hi - lo), lo)

    def save_log(self, dirty_from: int, entries: list[Entry], sync: bool = True,
                 lines: tuple[bytes, list[int]] | None = None) -> None:
        """Make the file hold ``entries`` from index ``dirty_from`` on (dropping any
        later lines first); with ``sync`` fdatasync once (else call :meth:`sync_log`).
        ``lines``: the entries already encoded (:func:`encode_lines`).

        The file is preallocated with zeros ahead of the data, so an append rewrites
        already-allocated blocks and fdatasync need not commit file-size metadata.
        A zero byte ends the log when it is read back.
        """
        assert self._fd is not None
        if dirty_from < self.first_index:
            self._rewrite(entries, dirty_from)
            return
        n = dirty_from - self.first_index
        if n < len(self.offsets):
            cut = self.offsets[n]
            self._zero(cut, self.end)  # conflict: removed entries must not come back
            self.end = cut
            del self.offsets[n:]
        pos = self.end
        data, sizes = lines if lines is not None else encode_lines(entries)
        offsets = self.offsets
        for size in sizes:
            offsets.append(pos)
            pos += size
        if pos > self.allocated:
            self.preallocate(pos - self.allocated)
        os.pwrite(self._fd, data, self.end)
        self.end = pos
        if sync:
            self.sync_log()

    def preallocate(self, need: int = 0) -> None:
        """Zero-fill at least ``need`` (and PREALLOC) bytes past the allocated end."""
        grow = max(PREALLOC, need)
        self._zero(self.allocated, self.allocated + grow)
        self.allocated += grow
        if self.fsync:
            os.fsync(self._fd)  # once per PREALLOC bytes: commits the new size

    def sync_log(self) -> None:
        assert self._fd is not None
        if self.fsync:
            os.fdatasync(self._fd)

    def _rewrite(self, entries: list[Entry], first_index: int) -> None:
        tmp = self.log_path + ".tmp"
        offsets, pos = [], 0
        with open(tmp, "wb") as f:
            for e in entries:
                line = _dumps(e) + b"\n"
                offsets.append(pos)
                pos += len(line)
                f.write(line)
            self._sync(f)
        os.replace(tmp, self.log_path)
        self._sync_dir()
        self._open(pos)
        self.offsets = offsets
        self.first_index = first_index

    def save_snapshot(self, snap: dict, entries_after: list[Entry], *,
                      payload: bytes | None = None, lazy: bool = False) -> None:
        """Persist a snapshot, then rewrite the log file to the entries after it.

        ``payload``: ``snap`` already encoded. With ``lazy`` the log file is left alone
        when it already holds exactly ``entries_after`` past the snapshot (a node's own
        snapshot of a log it wrote) and the lines it covers stay under REWRITE_BYTES.
        """
        self._atomic_write("snapshot.json", payload if payload is not None else _dumps(snap))
        index = snap["index"]
        n = index + 1 - self.first_index  # file line of the first entry after the snapshot
        if (lazy and 0 <= n <= len(self.offsets)
                and len(self.offsets) - n == len(entries_after)
                and (n == len(self.offsets) or entries_after[0][0] == index + 1)
                and (self.offsets[n] if n < len(self.offsets) else self.end) < REWRITE_BYTES):
            return
        self._rewrite(entries_after, index + 1)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

"""The in-memory Raft log: entries after a snapshot point, plus a persistence cursor.

Entries are ``[index, term, data]`` lists (JSON-friendly). ``dirty_from`` is the lowest
index whose on-disk copy is out of date (after an append or a truncation); the node
persists ``entries[dirty_from..]`` and calls :meth:`mark_persisted`.
"""

from __future__ import annotations

from typing import Any

Entry = list  # [index, term, data]


class RaftLog:
    """Entries ``snapshot_index+1 .. last_index`` with terms; index 0 has term 0."""

    def __init__(self, snapshot_index: int = 0, snapshot_term: int = 0,
                 entries: list[Entry] | None = None) -> None:
        self.snapshot_index = snapshot_index
        self.snapshot_term = snapshot_term
        self.entries: list[Entry] = list(entries or [])
        self.dirty_from: int | None = None  # lowest index needing (re)write, None if clean

    # --- queries -------------------------------------------------------------
    @property
    def last_index(self) -> int:
        return self.snapshot_index + len(self.entries)

    @property
    def last_term(self) -> int:
        return self.entries[-1][1] if self.entries else self.snapshot_term

    def term(self, index: int) -> int | None:
        """Term of the entry at ``index``; None if compacted away or beyond the end."""
        if index == self.snapshot_index:
            return self.snapshot_term
        if index < self.snapshot_index or index > self.last_index:
            return None
        return self.entries[index - self.snapshot_index - 1][1]

    def entry(self, index: int) -> Entry:
        return self.entries[index - self.snapshot_index - 1]

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries with ``lo <= index <= hi`` (lo must be > snapshot_index)."""
        base = self.snapshot_index + 1
        return self.entries[lo - base: hi - base + 1]

    def matches(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Raft §5.4.1: is a candidate's log at least as up-to-date as ours?"""
        if last_term != self.last_term:
            return last_term > self.last_term
        return last_index >= self.last_index

    def first_index_of_term(self, index: int) -> int:
        """Lowest index of the run of entries that share the term of ``index``."""
        t = self.term(index)
        i = index
        while i - 1 > self.snapshot_index and self.term(i - 1) == t:
            i -= 1
        return i

    def last_index_of_term(self, term: int) -> int | None:
        """Highest index holding ``term``, or None if we have no such entry."""
        for e in reversed(self.entries):
            if e[1] == term:
                return e[0]
            if e[1] < term:
                return None
        if self.snapshot_term == term:
            return self.snapshot_index
        return None

    # --- mutations -----------------------------------------------------------
    def _dirty(self, index: int) -> None:
        if self.dirty_from is None or index < self.dirty_from:
            self.dirty_from = index

    def append(self, term: int, data: Any) -> int:
        index = self.last_index + 1
        self.entries.append([index, term, data])
        self._dirty(index)
        return index

    def truncate_from(self, index: int) -> None:
        """Drop entries ``index..`` (only ever called on a conflict)."""
        if index <= self.snapshot_index:
            raise ValueError("cannot truncate committed snapshot entries")
        del self.entries[index - self.snapshot_index - 1:]
        self._dirty(index)

    def append_from_leader(self, entries: list[Entry]) -> int | None:
        """Append leader entries, truncating only at the first conflicting term.

        Returns the index where the log changed (for persistence), or None if every
        entry was already present (a duplicate or reordered AppendEntries).
        """
        changed = None
        for e in entries:
            idx, term = e[0], e[1]
            if idx <= self.snapshot_index:
                continue
            if idx <= self.last_index:
                if self.term(idx) == term:
                    continue
                self.truncate_from(idx)
            self.entries.append([idx, term, e[2]])
            self._dirty(idx)
            if changed is None:
                changed = idx
        return changed

    def compact(self, index: int, term: int) -> None:
        """Forget entries up to ``index`` (covered by a snapshot)."""
        if index <= self.snapshot_index:
            return
        if index <= self.last_index and self.term(index) == term:
            self.entries = self.entries[index - self.snapshot_index:]
        else:
            self.entries = []
        self.snapshot_index = index
        self.snapshot_term = term
        self.dirty_from = index + 1  # storage rewrites the file from the new base

    def mark_persisted(self) -> None:
        self.dirty_from = None

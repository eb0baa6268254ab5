"""Raft persistence: log file appends, conflict truncation, torn tails, snapshots."""

from __future__ import annotations

from pathlib import Path

from splitbrain.raft.log import RaftLog
from splitbrain.raft.storage import Storage


def _fresh(tmp_path: Path) -> tuple[Storage, RaftLog]:
    st = Storage(str(tmp_path))
    term, vote, snap, entries = st.load()
    assert (term, vote, snap, entries) == (0, None, None, [])
    return st, RaftLog()


def test_hard_state_and_entries_survive_reload(tmp_path: Path) -> None:
    st, log = _fresh(tmp_path)
    st.save_hard_state(3, "n2")
    for i in range(5):
        log.append(3, {"i": i})
    st.save_log(log.dirty_from, log.slice(log.dirty_from, log.last_index))
    log.mark_persisted()
    st.close()
    term, vote, snap, entries = Storage(str(tmp_path)).load()
    assert (term, vote, snap) == (3, "n2", None)
    assert entries == [[i + 1, 3, {"i": i}] for i in range(5)]


def test_truncation_on_conflict_rewrites_tail(tmp_path: Path) -> None:
    st, log = _fresh(tmp_path)
    for i in range(5):
        log.append(1, i)
    st.save_log(log.dirty_from, log.slice(log.dirty_from, log.last_index))
    log.mark_persisted()
    log.append_from_leader([[3, 2, "x"]])
    log.truncate_from(4)  # a conflict leaves a shorter log: old lines 4, 5 must not return
    assert log.dirty_from == 3
    st.save_log(log.dirty_from, log.slice(log.dirty_from, log.last_index))
    st.close()
    _t, _v, _s, entries = Storage(str(tmp_path)).load()
    assert entries == [[1, 1, 0], [2, 1, 1], [3, 2, "x"]]


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    st, log = _fresh(tmp_path)
    for i in range(3):
        log.append(1, i)
    st.save_log(log.dirty_from, log.slice(log.dirty_from, log.last_index))
    st.close()
    with open(tmp_path / "log.jsonl", "ab") as f:
        f.write(b'[4,1,{"half')
    st2 = Storage(str(tmp_path))
    _t, _v, _s, entries = st2.load()
    assert [e[0] for e in entries] == [1, 2, 3]
    log2 = RaftLog(entries=entries)
    log2.append(1, "next")
    st2.save_log(log2.dirty_from, log2.slice(log2.dirty_from, log2.last_index))
    st2.close()
    assert [e[0] for e in Storage(str(tmp_path)).load()[3]] == [1, 2, 3, 4]


def test_snapshot_compacts_log_file(tmp_path: Path) -> None:
    st, log = _fresh(tmp_path)
    for i in range(10):
        log.append(1, i)
    st.save_log(log.dirty_from, log.slice(log.dirty_from, log.last_index))
    log.compact(7, 1)
    snap = {"index": 7, "term": 1, "config": {"n1": "h:1:2"}, "data": {"k": 1}}
    st.save_snapshot(snap, log.entries)
    log.mark_persisted()
    log.append(2, "after")
    st.save_log(log.dirty_from, log.slice(log.dirty_from, log.last_index))
    st.close()
    _t, _v, snap2, entries = Storage(str(tmp_path)).load()
    assert snap2 == snap
    assert entries == [[8, 1, 7], [9, 1, 8], [10, 1, 9], [11, 2, "after"]]
    text = (tmp_path / "log.jsonl").read_text().split("\0")[0]  # zeros: preallocated
    assert len(text.splitlines()) == 4


def test_own_snapshot_leaves_log_file_until_covered_lines_add_up(tmp_path: Path,
                                                                monkeypatch) -> None:
    """A lazy snapshot (the node's own) skips the log rewrite while the lines it covers
    are small; loading drops them. Past REWRITE_BYTES the file is compacted."""
    import splitbrain.raft.storage as storage

    st, log = _fresh(tmp_path)
    for i in range(10):
        log.append(1, i)
    st.save_log(log.dirty_from, log.slice(log.dirty_from, log.last_index))
    log.mark_persisted()
    log.compact(7, 1)
    snap = {"index": 7, "term": 1, "config": {"n1": "h:1:2"}, "data": {"k": 1}}
    st.save_snapshot(snap, log.entries, lazy=True)
    log.mark_persisted()

    def lines() -> int:
        return len((tmp_path / "log.jsonl").read_text().split("\0")[0].splitlines())

    assert lines() == 10  # nothing rewritten
    log.append(2, "after")
    st.save_log(log.dirty_from, log.slice(log.dirty_from, log.last_index))
    log.mark_persisted()
    assert lines() == 11
    _t, _v, snap2, entries = Storage(str(tmp_path)).load()
    assert snap2 == snap
    assert entries == [[8, 1, 7], [9, 1, 8], [10, 1, 9], [11, 2, "after"]]

    monkeypatch.setattr(storage, "REWRITE_BYTES", 50)  # the 9 covered lines are more
    log.compact(9, 1)
    snap3 = dict(snap, index=9)
    st.save_snapshot(snap3, log.entries, lazy=True)
    log.mark_persisted()
    assert lines() == 2
    st.close()
    _t, _v, snap4, entries = Storage(str(tmp_path)).load()
    assert snap4 == snap3 and entries == [[10, 1, 9], [11, 2, "after"]]


def test_lazy_snapshot_rewrites_a_log_that_does_not_match(tmp_path: Path) -> None:
    """A snapshot past the end of the file (one received from the leader) always
    rewrites: the file must hold exactly the entries after it."""
    st, log = _fresh(tmp_path)
    for i in range(3):
        log.append(1, i)
    st.save_log(log.dirty_from, log.slice(log.dirty_from, log.last_index))
    snap = {"index": 20, "term": 2, "config": {"n1": "h:1:2"}, "data": {}}
    st.save_snapshot(snap, [], lazy=True)
    st.close()
    _t, _v, snap2, entries = Storage(str(tmp_path)).load()
    assert snap2 == snap and entries == []

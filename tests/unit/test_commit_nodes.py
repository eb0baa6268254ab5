"""The commit participant's shard (locks, votes, log replay) and the 2PC coordinator's
recovery rules, in process: no network, no harness."""

from __future__ import annotations

from pathlib import Path

from splitbrain.twopc.node import TwoPCNode
from splitbrain.twopc.shard import ABORTED, COMMITTED, PREPARED, Shard, owner

META = {"coord": "n1", "parts": ["n1"]}


def test_owner_is_a_stable_hash_over_sorted_ids() -> None:
    assert owner("k", ["n1", "n2", "n3"]) == owner("k", ["n3", "n1", "n2"])
    assert {owner(f"k{i}", ["n1", "n2", "n3"]) for i in range(50)} == {"n1", "n2", "n3"}


def test_prepare_locks_and_a_conflict_votes_no(tmp_path: Path) -> None:
    s = Shard(str(tmp_path))
    done = s.prepare("t1", [["append", "a", 1], ["r", "a", None]], META, lock_wait=0.0)
    assert done == [["append", "a", 1], ["r", "a", [1]]]     # reads its own write
    assert s.data == {}                                        # nothing applied yet
    assert s.prepare("t2", [["r", "a", None]], META, lock_wait=0.05) is None
    assert s.finish("t1", COMMITTED) == COMMITTED
    assert s.data == {"a": [1]}
    assert s.prepare("t3", [["r", "a", None]], META, lock_wait=0.0) == [["r", "a", [1]]]


def test_replay_keeps_the_in_doubt_txn_locked(tmp_path: Path) -> None:
    s = Shard(str(tmp_path))
    s.prepare("t1", [["append", "a", 1]], META, 0.0)
    s.finish("t1", COMMITTED)
    s.prepare("t2", [["append", "a", 2], ["w", "b", 5]], META, 0.0)
    s.prepare("t3", [["append", "c", 3]], META, 0.0)
    s.finish("t3", ABORTED)
    again = Shard(str(tmp_path))
    assert again.data == {"a": [1]}
    assert [t.tid for t in again.in_doubt()] == ["t2"] and again.txns["t2"].state == PREPARED
    assert again.prepare("t4", [["r", "b", None]], META, 0.0) is None   # still locked
    again.finish("t2", COMMITTED)
    assert again.data == {"a": [1, 2], "b": 5}


def test_an_abort_before_the_prepare_refuses_it(tmp_path: Path) -> None:
    s = Shard(str(tmp_path))
    assert s.finish("t1", ABORTED) == ABORTED
    assert s.prepare("t1", [["w", "a", 1]], META, 0.0) is None
    assert s.finish("t9", COMMITTED) == "unknown"


def _coordinator(tmp_path: Path, bugs: str) -> TwoPCNode:
    return TwoPCNode("n1", {"n1": "127.0.0.1:1"}, str(tmp_path), {"bug": bugs})


def test_2pc_recovery_aborts_what_it_was_collecting(tmp_path: Path) -> None:
    c = _coordinator(tmp_path, "")
    c.decisions.append({"tid": "x", "outcome": "collecting", "parts": ["n1"]})
    c.decide("y", COMMITTED)
    again = _coordinator(tmp_path, "")
    assert again.h_decision({"tid": "x"}) == {"outcome": ABORTED}
    assert again.h_decision({"tid": "y"}) == {"outcome": COMMITTED}
    assert again.h_decision({"tid": "never-seen"}) == {"outcome": COMMITTED}  # presumed


def test_2pc_forget_decision_keeps_nothing_over_a_crash(tmp_path: Path) -> None:
    c = _coordinator(tmp_path, "forget-decision")
    c.decisions.append({"tid": "x", "outcome": "collecting", "parts": ["n1"]})
    c.decide("z", ABORTED)
    # no flush: a SIGKILL. The restarted coordinator presumes commit for both
    again = _coordinator(tmp_path, "forget-decision")
    assert again.h_decision({"tid": "x"}) == {"outcome": COMMITTED}
    assert again.h_decision({"tid": "z"}) == {"outcome": COMMITTED}

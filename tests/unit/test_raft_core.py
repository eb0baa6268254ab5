"""A deterministic in-memory network of RaftCore peers for the Raft unit tests."""

from __future__ import annotations

import pytest

from splitbrain.raft.core import LEADER, RaftCore


def addr(i: int) -> str:
    return f"127.0.0.{i}:7000:8000"


class Net:
    """Delivers messages between cores instantly; links can be cut per direction."""

    def __init__(self, n: int = 3, bugs: frozenset = frozenset(), seed: int = 1) -> None:
        self.voters = {f"n{i}": addr(i) for i in range(1, n + 1)}
        self.nodes: dict[str, RaftCore] = {}
        for k, nid in enumerate(self.voters):
            self.nodes[nid] = RaftCore(nid, self.voters, bugs=bugs, seed=seed * 100 + k)
        self.cut: set[tuple[str, str]] = set()
        self.applied: dict[str, list] = {nid: [] for nid in self.nodes}
        self.snapshots: dict[str, dict] = {}
        self.sent: list[tuple[str, str, dict]] = []
        self.dropped: dict[str, list] = {nid: [] for nid in self.nodes}

    def add_node(self, nid: str, voters: dict | None = None) -> RaftCore:
        core = RaftCore(nid, voters or {}, seed=len(self.nodes) + 7)
        self.nodes[nid] = core
        self.applied[nid] = []
        return core

    def isolate(self, nid: str) -> None:
        for other in self.nodes:
            if other != nid:
                self.cut |= {(nid, other), (other, nid)}

    def heal(self) -> None:
        self.cut.clear()

    def flush(self, rounds: int = 200) -> None:
        """Process Ready output and deliver messages until the network is quiet."""
        for _ in range(rounds):
            moved = False
            for nid, core in self.nodes.items():
                rd = core.take_ready()
                if rd.snapshot is not None:
                    self.snapshots[nid] = rd.snapshot
                    self.applied[nid] = list(rd.snapshot["data"]["applied"])
                core.log.mark_persisted()
                core.mark_stable(*rd.last)
                if core.commit > core.applied:
                    moved = True
                self.dropped.setdefault(nid, []).extend(rd.dropped_reads)
                self.applied[nid].extend(e[2] for e in rd.committed)
                for to, m in rd.messages:
                    moved = True
                    if m.get("need_snapshot"):
                        m = {"type": "snap", "term": m["term"], "from": m["from"],
                             "snapshot": self.snapshots[nid]}
                    self.sent.append((nid, to, m))
                    if (nid, to) in self.cut or to not in self.nodes:
                        continue
                    self.nodes[to].step(m)
            if not moved:
                return

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            for core in self.nodes.values():
                core.tick()
            self.flush()

    def leaders(self) -> list[str]:
        return [nid for nid, c in self.nodes.items() if c.state == LEADER]

    def elect(self, max_ticks: int = 500) -> str:
        for _ in range(max_ticks):
            self.tick()
            ls = [n for n in self.leaders() if (n, n) not in self.cut]
            if len(ls) == 1:
                return ls[0]
        raise AssertionError(f"no single leader: {self.leaders()}")

    def take_snapshot(self, nid: str) -> None:
        core = self.nodes[nid]
        idx = core.applied
        self.snapshots[nid] = {"index": idx, "term": core.log.term(idx),
                               "config": core.config_at(idx),
                               "data": {"applied": list(self.applied[nid])}}
        core.compact(idx)


# ---------------------------------------------------------------------------- tests
from splitbrain.raft.core import FOLLOWER, NotLeader  # noqa: E402
from splitbrain.raft.log import RaftLog  # noqa: E402


def put(i: int) -> dict:
    return {"op": "put", "key": "k", "value": i}


def test_single_leader_elected_and_noop_committed() -> None:
    net = Net(3)
    leader = net.elect()
    net.tick(5)
    terms = {c.term for c in net.nodes.values()}
    assert len(terms) == 1
    for c in net.nodes.values():
        assert c.leader == leader
        assert c.commit == 1 and c.log.entry(1)[2] == {"op": "noop"}


def test_replication_commits_on_all_and_applies_in_order() -> None:
    net = Net(3)
    lid = net.elect()
    for i in range(600):  # more than one batch: exercises pipelining
        net.nodes[lid].propose(put(i))
    net.flush()
    net.tick(4)
    for nid in net.nodes:
        vals = [d["value"] for d in net.applied[nid] if d.get("op") == "put"]
        assert vals == list(range(600)), nid


def test_follower_truncates_only_on_conflict() -> None:
    c = RaftCore("n2", {"n1": addr(1), "n2": addr(2)})
    c.step({"type": "append", "term": 1, "from": "n1", "prev_index": 0, "prev_term": 0,
            "entries": [[1, 1, "a"], [2, 1, "b"], [3, 1, "c"]], "commit": 0})
    c.take_ready()
    c.log.mark_persisted()
    # A delayed, shorter duplicate of the same entries must not cut entry 3.
    c.step({"type": "append", "term": 1, "from": "n1", "prev_index": 0, "prev_term": 0,
            "entries": [[1, 1, "a"]], "commit": 0})
    assert c.log.last_index == 3
    rd = c.take_ready()
    assert rd.log_dirty_from is None
    # A new leader with a conflicting entry at 3 replaces it (and only from 3 on).
    c.step({"type": "append", "term": 2, "from": "n1", "prev_index": 2, "prev_term": 1,
            "entries": [[3, 2, "C"], [4, 2, "D"]], "commit": 0})
    assert [e[2] for e in c.log.entries] == ["a", "b", "C", "D"]
    assert c.take_ready().log_dirty_from == 3


def test_reject_carries_conflict_term_for_fast_backup() -> None:
    c = RaftCore("n2", {"n1": addr(1), "n2": addr(2)})
    c.step({"type": "append", "term": 2, "from": "n1", "prev_index": 0, "prev_term": 0,
            "entries": [[1, 1, "a"], [2, 2, "b"], [3, 2, "c"], [4, 2, "d"]], "commit": 1})
    c.take_ready()
    c.step({"type": "append", "term": 3, "from": "n1", "prev_index": 4, "prev_term": 3,
            "entries": [], "commit": 1})
    (to, resp), = c.take_ready().messages
    assert resp["success"] is False
    assert resp["conflict_term"] == 2 and resp["conflict_index"] == 2
    c.step({"type": "append", "term": 3, "from": "n1", "prev_index": 9, "prev_term": 3,
            "entries": [], "commit": 1})
    (to, resp), = c.take_ready().messages
    assert resp["conflict_term"] is None and resp["conflict_index"] == 5


def test_lagging_follower_catches_up_via_fast_backup() -> None:
    net = Net(3)
    lid = net.elect()
    lag = next(n for n in net.nodes if n != lid)
    net.isolate(lag)
    for i in range(50):
        net.nodes[lid].propose(put(i))
    net.flush()
    net.heal()
    net.tick(10)
    assert net.nodes[lag].log.last_index == net.nodes[lid].log.last_index
    assert net.nodes[lag].commit == net.nodes[lid].commit


def test_vote_requires_up_to_date_log() -> None:
    for bugs, expect in ((frozenset(), False), (frozenset({"no-log-check"}), True)):
        c = RaftCore("n1", {"n1": addr(1), "n2": addr(2), "n3": addr(3)}, bugs=bugs,
                     log=RaftLog(entries=[[1, 1, "x"], [2, 2, "y"]]), term=2)
        c.step({"type": "vote", "term": 3, "from": "n2", "last_index": 5, "last_term": 1,
                "transfer": False})
        (_to, resp), = c.take_ready().messages
        assert resp["granted"] is expect, bugs
        assert c.voted_for == ("n2" if expect else None)


def test_one_vote_per_term_and_hard_state_reported() -> None:
    c = RaftCore("n1", {"n1": addr(1), "n2": addr(2), "n3": addr(3)})
    c.step({"type": "vote", "term": 1, "from": "n2", "last_index": 0, "last_term": 0})
    rd = c.take_ready()
    assert rd.messages[0][1]["granted"] and rd.hard_state == (1, "n2")
    c.step({"type": "vote", "term": 1, "from": "n3", "last_index": 0, "last_term": 0})
    assert c.take_ready().messages[0][1]["granted"] is False


def test_prevote_keeps_partitioned_node_from_raising_terms() -> None:
    net = Net(3)
    lid = net.elect()
    other = next(n for n in net.nodes if n != lid)
    term = net.nodes[lid].term
    net.isolate(other)
    net.tick(200)
    assert net.nodes[other].term == term  # pre-votes fail, so no term inflation
    net.heal()
    net.tick(20)
    assert net.nodes[lid].state == LEADER and net.nodes[lid].term == term


def test_check_quorum_steps_down_isolated_leader() -> None:
    net = Net(3)
    lid = net.elect()
    net.isolate(lid)
    term = net.nodes[lid].term
    net.tick(60)
    assert net.nodes[lid].state != LEADER
    assert net.nodes[lid].term == term  # stepped down; pre-votes do not raise the term
    with pytest.raises(NotLeader):
        net.nodes[lid].propose(put(1))


def _figure8_leader(bugs: frozenset) -> RaftCore:
    """A term-4 leader whose log holds an uncommitted term-2 entry at index 2."""
    voters = {"n1": addr(1), "n2": addr(2), "n3": addr(3)}
    log = RaftLog(entries=[[1, 1, "a"], [2, 2, "old"]])
    c = RaftCore("n1", voters, log=log, term=3, bugs=bugs)
    c.commit = c.applied = 1
    c._campaign(pre=False)  # term 4
    for v in ("n2", "n3"):
        c.step({"type": "vote_resp", "term": 4, "from": v, "granted": True})
    assert c.state == LEADER
    c.take_ready()
    return c


def test_commit_counts_only_current_term_entries() -> None:
    c = _figure8_leader(frozenset())
    assert c.log.last_index == 3  # the term-4 no-op
    c.step({"type": "append_resp", "term": 4, "from": "n2", "success": True, "match": 2})
    assert c.commit == 1  # index 2 is on a majority but from term 2: not committed
    c.step({"type": "append_resp", "term": 4, "from": "n2", "success": True, "match": 3})
    assert c.commit == 1  # the leader has not fsync'd its no-op yet: it does not count
    c.mark_stable(3, 4)
    assert c.commit == 3


def test_commit_old_term_bug_commits_by_counting() -> None:
    c = _figure8_leader(frozenset({"commit-old-term"}))
    assert c.log.last_index == 2  # bug also skips the no-op
    c.mark_stable(2, 2)
    c.step({"type": "append_resp", "term": 4, "from": "n2", "success": True, "match": 2})
    assert c.commit == 2  # Figure 8's unsafe commit


def test_snapshot_install_on_lagging_follower() -> None:
    net = Net(3)
    lid = net.elect()
    lag = next(n for n in net.nodes if n != lid)
    net.isolate(lag)
    for i in range(30):
        net.nodes[lid].propose(put(i))
    net.flush()
    net.tick(2)
    net.take_snapshot(lid)
    assert net.nodes[lid].log.snapshot_index > 0
    net.heal()
    net.tick(30)
    f = net.nodes[lag]
    assert net.snapshots[lag]["index"] == net.snapshots[lid]["index"]
    assert f.log.snapshot_index == net.snapshots[lid]["index"]
    assert f.commit == net.nodes[lid].commit
    vals = [d["value"] for d in net.applied[lag] if isinstance(d, dict) and d.get("op") == "put"]
    assert vals == list(range(30))
    assert f.voters == net.voters


def test_add_member_catches_up_then_becomes_voter() -> None:
    net = Net(3)
    lid = net.elect()
    leader = net.nodes[lid]
    for i in range(40):
        leader.propose(put(i))
    net.flush()
    net.tick(2)
    new = net.add_node("n4")
    leader.add_member("n4", addr(4))
    assert "n4" not in leader.voters  # learner until caught up
    net.tick(10)
    res = leader.learner_result("n4")
    assert res is not None and res[0] == "proposed"
    net.tick(5)
    assert "n4" in leader.voters and leader.commit >= res[1]
    assert new.voters == leader.voters and new.promotable
    assert new.commit == leader.commit


def test_removed_node_votes_do_not_count() -> None:
    net = Net(3)
    lid = net.elect()
    leader = net.nodes[lid]
    a, b = (n for n in net.nodes if n != lid)
    leader.remove_member(b)
    net.flush()
    net.tick(3)
    assert b not in leader.voters and leader.commit == leader.config_index
    # Now only {leader, a} are voters. Kill a: the leader cannot stay (CheckQuorum) and
    # nobody can be elected even though b is alive and happy to vote.
    del net.nodes[a]
    net.tick(300)
    assert net.leaders() == []
    assert not net.nodes[b].promotable


def test_leader_removing_itself_steps_down() -> None:
    net = Net(3)
    lid = net.elect()
    net.nodes[lid].remove_member(lid)
    net.flush()
    net.tick(3)
    assert net.nodes[lid].state == FOLLOWER and not net.nodes[lid].promotable
    new = net.elect()
    assert new != lid


def test_config_change_one_at_a_time() -> None:
    net = Net(3)
    lid = net.elect()
    others = [n for n in net.nodes if n != lid]
    net.isolate(others[0])
    net.isolate(others[1])
    net.nodes[lid].remove_member(others[0])
    net.flush()
    with pytest.raises(NotLeader):
        net.nodes[lid].remove_member(others[1])


def test_read_index_waits_for_quorum_heartbeat() -> None:
    net = Net(3)
    lid = net.elect()
    leader = net.nodes[lid]
    net.isolate(lid)
    leader.read_index("r1")
    net.flush()
    assert all(ctx != "r1" for ctx, _ in leader._ready.read_states)
    net.heal()
    leader.read_index("r2")
    rd = leader.take_ready()
    for to, m in rd.messages:
        net.nodes[to].step(m)
    got = []
    for nid, c in net.nodes.items():
        if nid != lid:
            for _to, m in c.take_ready().messages:
                leader.step(m)
    got = leader.take_ready().read_states
    assert {ctx for ctx, _ in got} == {"r1", "r2"}
    assert all(idx == leader.commit for _, idx in got)


def test_read_index_dropped_on_step_down() -> None:
    net = Net(3)
    lid = net.elect()
    leader = net.nodes[lid]
    net.isolate(lid)
    leader.read_index("r")
    net.tick(60)
    assert leader.state != LEADER
    assert "r" in net.dropped[lid]


def test_leadership_transfer() -> None:
    net = Net(3)
    lid = net.elect()
    target = next(n for n in net.nodes if n != lid)
    net.nodes[lid].transfer_leadership(target)
    with pytest.raises(NotLeader):
        net.nodes[lid].propose(put(1))
    net.flush()
    net.tick(2)
    assert net.leaders() == [target]


def test_config_at_sees_only_entries_up_to_the_index() -> None:
    base = {"n1": addr(1), "n2": addr(2), "n3": addr(3)}
    bigger = dict(base, n4=addr(4))
    log = RaftLog(0, 0, [[1, 1, {"op": "noop"}], [2, 1, put(1)],
                         [3, 1, {"op": "config", "voters": bigger}], [4, 1, put(2)]])
    core = RaftCore("n1", base, log)
    assert core.voters == bigger and core.config_index == 3
    assert core.config_at(2) == base
    assert core.config_at(3) == bigger and core.config_at(4) == bigger

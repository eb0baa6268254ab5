"""Multi-Paxos roles (splitbrain.paxos.core) against in-process acceptors: promises and
accepts, durable or forgotten on restart, adoption of the highest accepted value (and
the no-adopt bug that skips it), leader mode skipping phase 1, and the definite /
indeterminate verdict of a command that found no majority."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from splitbrain.nodekit import AppendLog
from splitbrain.paxos.core import NOOP, Acceptor, Learner, Proposer, Superseded, Unavailable


def cmd(client: str, seq: int, op: str = "write", key: str = "k", **kw: Any) -> dict[str, Any]:
    return {"op": op, "key": key, "client": client, "seq": seq, **kw}


class Net:
    """Acceptors reachable by index; ``up`` says which ones answer."""

    def __init__(self, n: int = 3) -> None:
        self.acceptors = [Acceptor() for _ in range(n)]
        self.up = set(range(n))
        self.calls: list[str] = []

    def ask(self, route: str, body: dict[str, Any], timeout: float, enough: Any
            ) -> list[dict[str, Any]]:
        self.calls.append(route)
        replies: list[dict[str, Any]] = []
        for i in sorted(self.up):
            if enough(replies):
                break
            a = self.acceptors[i]
            if route == "/prepare":
                replies.append(a.prepare(body["ballot"], body["from"]))
            else:
                replies.append(a.accept(body["ballot"], body["entries"]))
        return replies


def proposer(net: Net, index: int, **kw: Any) -> tuple[Proposer, Learner]:
    learner = Learner()
    return Proposer(index, len(net.acceptors), net.ask, learner, **kw), learner


def soon() -> float:
    return time.monotonic() + 2.0


def test_acceptor_refuses_below_its_promise() -> None:
    a = Acceptor()
    assert a.prepare([2, 0], 0)["ok"]
    assert a.prepare([1, 5], 0) == {"ok": False, "promised": [2, 0]}
    assert not a.accept([1, 5], {"0": "x"})["ok"]
    assert a.accept([2, 0], {"0": "y"})["ok"]
    assert a.prepare([3, 1], 0)["accepted"] == {"0": [[2, 0], "y"]}
    assert a.prepare([4, 1], 1)["accepted"] == {}     # only slots >= from


@pytest.mark.parametrize("fsync", [True, False])
def test_acceptor_state_survives_a_crash_only_with_fsync(tmp_path: Path, fsync: bool) -> None:
    path = str(tmp_path / "acceptor.log")
    a = Acceptor(AppendLog(path, fsync=fsync))
    a.prepare([3, 1], 0)
    a.accept([3, 1], {"0": "v"})
    b = Acceptor(AppendLog(path, fsync=True))          # a restart without a clean stop
    if fsync:
        assert b.promised == [3, 1] and b.accepted == {0: ([3, 1], "v")}
        assert not b.prepare([2, 2], 0)["ok"]
    else:                                               # acceptor-forgets
        assert b.promised == [0, -1] and b.accepted == {}
        assert b.prepare([2, 2], 0)["ok"]


def test_learner_applies_in_slot_order_and_once_per_stamp() -> None:
    ln = Learner()
    ln.learn({1: cmd("c", 2, op="read")})
    assert ln.applied == 0 and not ln.result_of("c", 2)[0]   # slot 0 still missing
    ln.learn({0: cmd("c", 1, value=7)})
    assert ln.applied == 2 and ln.result_of("c", 2) == (True, {"value": 7})
    ln.learn({2: cmd("c", 1, value=9), 3: cmd("d", 1, op="read")})  # a duplicate of seq 1
    assert ln.result_of("d", 1) == (True, {"value": 7})
    ln.learn({4: cmd("d", 2, op="cas", expected=7, new=8), 5: cmd("d", 3, op="cas",
                                                                  expected=7, new=9)})
    assert ln.kv["k"] == 8 and ln.result_of("d", 3) == (True, {"ok": False})
    assert ln.learn({0: NOOP}) == [0] and ln.conflicts == 1


def test_a_later_proposer_adopts_the_value_chosen_before() -> None:
    net = Net()
    a, la = proposer(net, 0)
    net.up = {0, 1}                                     # acceptor 2 misses the choice
    a.submit(cmd("a", 1, value=1), soon())
    assert la.chosen[0]["client"] == "a"
    b, lb = proposer(net, 2)                            # knows nothing
    net.up = {1, 2}
    b.submit(cmd("b", 1, value=2), soon())
    assert lb.chosen[0] == la.chosen[0]                 # adopted, not replaced
    assert lb.chosen[1]["client"] == "b" and lb.kv["k"] == 2


def test_no_adopt_chooses_a_second_value_for_a_decided_slot() -> None:
    net = Net()
    a, la = proposer(net, 0)
    net.up = {0, 1}
    a.submit(cmd("a", 1, value=1), soon())
    b, lb = proposer(net, 2, no_adopt=True)
    net.up = {1, 2}
    b.submit(cmd("b", 1, value=2), soon())
    assert la.chosen[0]["client"] == "a" and lb.chosen[0]["client"] == "b"
    assert la.kv != lb.kv                               # the replicas diverged


def test_leader_mode_skips_phase_one_until_rejected() -> None:
    net = Net()
    p, ln = proposer(net, 0, leader=True)
    for i in range(1, 4):
        p.submit(cmd("c", i, value=i), soon())
    assert net.calls.count("/prepare") == 1 and net.calls.count("/accept") == 3
    q, _ = proposer(net, 1, leader=True)                # someone else takes over
    q.submit(cmd("d", 1, value=9), soon())
    net.calls.clear()
    p.submit(cmd("c", 4, value=4), soon())              # rejected, prepares again
    assert net.calls[:2] == ["/accept", "/prepare"]
    assert ln.kv["k"] == 4 and ln.applied == 5


def test_every_command_prepares_without_a_leader() -> None:
    net = Net()
    p, _ = proposer(net, 0, leader=False)
    for i in range(1, 4):
        p.submit(cmd("c", i, value=i), soon())
    assert net.calls.count("/prepare") == 3


def test_no_majority_is_definite_before_phase_two_and_indeterminate_after() -> None:
    net = Net()
    p, _ = proposer(net, 0)
    net.up = {0}
    with pytest.raises(Unavailable) as e:
        p.submit(cmd("c", 1, value=1), time.monotonic() + 0.3)
    assert e.value.definite                             # never sent to an acceptor

    class PhaseTwoLost(Net):
        def ask(self, route: str, body: dict[str, Any], timeout: float, enough: Any
                ) -> list[dict[str, Any]]:
            out = super().ask(route, body, timeout, enough)
            return out if route == "/prepare" else out[:1]

    net2 = PhaseTwoLost()
    p2, _ = proposer(net2, 0)
    with pytest.raises(Unavailable) as e:
        p2.submit(cmd("c", 1, value=1), time.monotonic() + 0.3)
    assert not e.value.definite                         # it may have been chosen


def test_a_stale_copy_of_an_old_command_stops_instead_of_looping() -> None:
    net = Net()
    p, ln = proposer(net, 0)
    p.submit(cmd("c", 2, value=2), soon())              # a retry of seq 2 went elsewhere
    with pytest.raises(Superseded):
        p.submit(cmd("c", 1, value=1), soon())          # the late seq 1 is never applied
    assert ln.kv["k"] == 2

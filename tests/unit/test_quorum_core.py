"""The quorum store's protocol logic with in-memory replicas: which replicas answer is
chosen by the test, so each textbook anomaly (and its absence in correct mode) is
shown deterministically, and so are the error verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from splitbrain.nodekit import NodeError, opt_bool
from splitbrain.quorum import Coordinator, Replica, Settings, merge, settings_from


class Net:
    """Three replicas; ``up`` says which ones answer the next calls (in that order)."""

    def __init__(self, n: int = 3) -> None:
        self.replicas = {f"n{i}": Replica(None) for i in range(1, n + 1)}
        self.up = list(self.replicas)

    def fanout(self, route: str, body: dict[str, Any], need: int) -> list[dict[str, Any]]:
        out = []
        for name in self.up:       # every reachable replica gets the request ...
            rep = self.replicas[name]
            if route == "/replica/get":
                out.append({"rec": rep.get(body["key"])})
            else:
                out.append({"changed": rep.put(body["key"], body["rec"])})
        return out                 # ... and the coordinator counts the answers

    def coord(self, name: str, clock: float = 0.0, **kw: Any) -> Coordinator:
        s = Settings(n=len(self.replicas), w=kw.pop("w", 2), r=kw.pop("r", 2), **kw)
        return Coordinator(name, s, self.fanout, clock=lambda: clock)


def partial_write(net: Net, value: Any) -> None:
    """A write whose read phase saw n1, n2 and whose value then reached n1 only."""
    c = net.coord("n1")
    net.up = ["n1"]
    c.s.r = 1                     # let the read phase pass with n1 alone
    with pytest.raises(NodeError) as e:
        c.write("k", value)
    assert e.value.definite is False     # it is on n1: indeterminate, not failed
    net.up = list(net.replicas)


def test_abd_write_then_read_from_any_majority() -> None:
    net = Net()
    net.coord("n1").write("k", "a")
    for quorum in (["n1", "n2"], ["n2", "n3"], ["n1", "n3"]):
        net.up = quorum
        assert net.coord("n3").read("k") == "a"
    net.up = ["n2", "n3"]
    net.coord("n2").write("k", "b")
    net.up = ["n1", "n3"]                 # n3 is the overlap with the last write
    assert net.coord("n1").read("k") == "b"


def test_versions_grow_past_the_highest_seen() -> None:
    net = Net()
    net.coord("n1").write("k", 1)
    net.coord("n2").write("k", 2)
    vers = [r.get("k")["ver"] for r in net.replicas.values()]
    assert all(v[0] == 2 and v[1] == "n2" for v in vers)


def test_write_back_makes_a_seen_value_stay_seen() -> None:
    net = Net()
    net.coord("n2").write("k", "old")
    partial_write(net, "new")
    net.up = ["n1", "n2"]
    assert net.coord("n2").read("k") == "new"     # saw the partial write, wrote it back
    net.up = ["n2", "n3"]                          # a quorum without n1
    assert net.coord("n3").read("k") == "new"


def test_without_write_back_a_value_is_seen_then_unseen() -> None:
    net = Net()
    net.coord("n2").write("k", "old")
    partial_write(net, "new")
    net.up = ["n1", "n2"]
    assert net.coord("n2", write_back=False).read("k") == "new"
    net.up = ["n2", "n3"]
    assert net.coord("n3", write_back=False).read("k") == "old"   # not linearizable


def test_small_quorums_read_stale() -> None:
    net = Net()
    net.up = ["n1"]
    net.coord("n1", w=1, r=1).write("k", "x")     # acknowledged by n1 alone
    net.up = ["n3"]
    assert net.coord("n3", w=1, r=1).read("k") is None


def test_lww_loses_an_acknowledged_write_from_a_slow_clock() -> None:
    net = Net()
    net.coord("n1", lww=True, clock=1000.0).write("k", "first")
    net.coord("n2", lww=True, clock=990.0).write("k", "second")   # acknowledged ...
    assert net.coord("n3", lww=True).read("k") == "first"          # ... and gone
    # ABD ignores clocks: the later write wins whatever the clocks say
    net2 = Net()
    net2.coord("n1", clock=1000.0).write("k", "first")
    net2.coord("n2", clock=990.0).write("k", "second")
    assert net2.coord("n3").read("k") == "second"


def test_errors_say_whether_anything_happened() -> None:
    net = Net()
    net.up = ["n1"]
    with pytest.raises(NodeError) as e:
        net.coord("n1").read("k")
    assert e.value.definite
    with pytest.raises(NodeError) as e:
        net.coord("n1").write("k", 1)               # read phase failed: nothing sent
    assert e.value.definite
    assert net.replicas["n1"].get("k") is None
    with pytest.raises(NodeError) as e:
        net.coord("n1").add("s", 1)                 # sent to n1: may be there
    assert not e.value.definite
    with pytest.raises(NodeError) as e:
        net.coord("n1", lww=True).write("k", 1)     # LWW has no read phase
    assert not e.value.definite


def test_grow_only_sets_merge_by_union_and_write_back() -> None:
    net = Net()
    net.up = ["n1", "n2"]
    net.coord("n1").add("s", 1)
    net.up = ["n2", "n3"]
    net.coord("n3").add("s", 2)
    net.up = ["n1", "n3"]
    assert net.coord("n1").read("s") == [1, 2]
    assert net.replicas["n1"].get("s")["set"] == [1, 2]   # written back
    with pytest.raises(NodeError, match="set"):
        net.coord("n1").write("s", 3)


def test_replica_keeps_only_newer_versions_and_logs_deltas(tmp_path) -> None:
    from splitbrain.nodekit import AppendLog
    log = AppendLog(str(tmp_path / "replica.log"))
    rep = Replica(log)
    assert rep.put("k", {"ver": [2, "n1", 5], "val": "b"})
    assert not rep.put("k", {"ver": [1, "n9", 9], "val": "a"})   # older: acked, ignored
    assert rep.put("s", {"set": [3, 1]})
    assert not rep.put("s", {"set": [1]})
    assert rep.put("s", {"set": [1, 2]})
    again = Replica(AppendLog(str(tmp_path / "replica.log")))
    assert again.get("k") == {"ver": [2, "n1", 5], "val": "b"}
    assert again.get("s") == {"set": [1, 2, 3]}
    assert [len(line) > 0 for line in open(tmp_path / "replica.log")] == [True] * 3


def test_merge_and_settings() -> None:
    assert merge([None, None]) is None
    assert merge([{"ver": [1, "n2", 0], "val": 1}, {"ver": [1, "n3", 0], "val": 2}])["val"] == 2
    with pytest.raises(NodeError):
        merge([{"set": [1]}, {"ver": [1, "n1", 0], "val": 1}])
    s = settings_from({}, 5, opt_bool)
    assert (s.w, s.r, s.write_back, s.lww) == (3, 3, True, False)
    s = settings_from({"w": "1", "r": "0", "write_back": "false", "lww": "true"}, 3, opt_bool)
    assert (s.w, s.r, s.write_back, s.lww) == (1, 2, False, True)
    with pytest.raises(SystemExit):
        settings_from({"w": "4"}, 3, opt_bool)

"""Overlapping fault programs: mixed's seeded schedule, the Raft-hazard scenarios, and
that everything they break is recorded, journaled and healed (fake node plumbing only)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from splitbrain.errors import HarnessError
from splitbrain.history.ops import Op
from splitbrain.nemesis import build_nemesis, plan
from splitbrain.nemesis.journal import read_entries, unhealed
from splitbrain.nemesis.programs import PROCESS_KINDS, LaggingLeader

sys.path.insert(0, str(Path(__file__).parent))
from nemesis_fakes import FakeSystem, RecordingNode  # noqa: E402

NAMES = ["n1", "n2", "n3", "n4", "n5"]


def make(tmp_path: Path, faults: list[str], *, n: int = 5, leader: str | None = "n1",
         interval: float = 0.01, seed: int = 42, system_cls=FakeSystem, **opts: str):
    nodes = [RecordingNode(f"n{i + 1}", f"10.9.0.{i + 1}") for i in range(n)]
    system = system_cls(nodes, leader) if system_cls is FakeSystem else system_cls(nodes)
    ops: list[Op] = []
    lock = threading.Lock()

    def record(op: Op) -> Op:
        with lock:
            op.time = time.monotonic_ns()
            ops.append(op)
        return op
    nem = build_nemesis(faults, system=system, nodes=nodes, interval=interval, targets="one",
                        seed=seed, record=record, journal_path=tmp_path / "faults.journal",
                        options=dict(opts))
    return nem, nodes, system, ops


def run_for(nem, seconds: float, watch=None) -> None:
    """Run the program in a thread for ``seconds``; ``watch()`` is polled meanwhile."""
    stop = threading.Event()
    t = threading.Thread(target=nem.run, args=(stop,), daemon=True)
    t.start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if watch is not None:
            watch()
        time.sleep(0.002)
    stop.set()
    t.join(timeout=10)
    assert not t.is_alive()


def test_mixed_plan_is_seeded_and_overlaps_lanes() -> None:
    a = plan(["mixed"], NAMES, 7, 200)
    assert a == plan(["mixed"], NAMES, 7, 200)
    assert a != plan(["mixed"], NAMES, 8, 200)
    assert plan(["mixed"], NAMES, 7, 20) == a[:20]
    active: list[str] = []
    most = 0
    healed_older_first = False
    for s in a:
        if s["action"] == "start":
            assert s["lane"] not in active          # one fault per lane
            active.append(s["lane"])
        else:
            assert s["lane"] in active
            healed_older_first |= s["lane"] != active[-1]
            active.remove(s["lane"])
        assert sum(1 for x in active if x in PROCESS_KINDS) <= 2   # a minority of 5
        most = max(most, len(active))
    assert most == 3                      # partition + kill + pause at once
    assert healed_older_first             # heals in another order than applied
    assert {s["fault"] for s in a if s["action"] == "start"} == {"partition", "kill", "pause"}
    assert all(0.5 <= s["wait"] <= 1.5 for s in a)      # around the interval (1 s here)


def test_mixed_kinds_come_from_the_mix_option() -> None:
    steps = plan(["mixed"], NAMES, 3, 100, options={"mix": "partition,packet-loss,clock"})
    started = {s["fault"] for s in steps if s["action"] == "start"}
    assert started == {"partition", "packet-loss", "clock"}
    lanes = {s["lane"] for s in steps}
    assert lanes == {"net", "clock"}      # partitions and packet loss share one lane
    three = plan(["mixed"], ["n1", "n2", "n3"], 3, 200)
    active: list[str] = []
    for s in three:
        (active.append if s["action"] == "start" else active.remove)(s["lane"])
        assert sum(1 for x in active if x in PROCESS_KINDS) <= 1   # minority of 3


def test_mixed_run_overlaps_faults_records_journals_and_heals_all(tmp_path: Path) -> None:
    nem, nodes, system, ops = make(tmp_path, ["mixed"], interval=0.005, seed=3)
    most = [0]

    def watch() -> None:
        act = nem.active()
        most[0] = max(most[0], len(act))
        procs = [x for _k, name, d in act if name in PROCESS_KINDS for x in d["nodes"]]
        assert len(procs) == len(set(procs))   # never killed and paused at once
    run_for(nem, 0.6, watch)
    assert most[0] >= 2
    assert nem.active() == [] and nem.current() is None
    assert unhealed(read_entries(tmp_path / "faults.journal")) == []
    assert ops and all(o.process == "nemesis" for o in ops)
    assert {o.f for o in ops} >= {"start-partition", "stop-partition", "kill", "start",
                                  "pause", "resume"}
    # every invoke is completed by the next op (the nemesis is one logical process)
    for inv, done in zip(ops[::2], ops[1::2], strict=True):
        assert (inv.type, done.type, inv.f) == ("invoke", "info", done.f)
    kills = sum(1 for c in system.calls if c[0] == "kill")
    starts = sum(1 for c in system.calls if c[0] == "start")
    assert kills == starts > 0 and all(n.cmds for n in nodes)


def test_heal_from_another_thread_heals_every_active_fault(tmp_path: Path) -> None:
    """Ctrl-C: the runner's heal() while the program runs leaves nothing broken."""
    nem, _nodes, _system, _ops = make(tmp_path, ["mixed"], interval=0.2, seed=5)
    stop = threading.Event()
    t = threading.Thread(target=nem.run, args=(stop,), daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while len(nem.active()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(nem.active()) >= 2
    nem.heal()
    stop.set()
    t.join(timeout=10)
    nem.heal()
    assert nem.active() == []
    assert unhealed(read_entries(tmp_path / "faults.journal")) == []


def test_sub_second_intervals(tmp_path: Path) -> None:
    nem, _nodes, _system, ops = make(tmp_path, ["mixed"], interval=0.02)
    run_for(nem, 0.5)
    assert sum(1 for o in ops if o.type == "invoke") >= 10


def test_lagging_leader_sides_are_a_bare_majority_with_the_laggards() -> None:
    for n in (3, 4, 5, 7):
        names = [f"n{i}" for i in range(1, n + 1)]
        lag = max(1, (n - 1) // 2)
        laggards, keep, cut = LaggingLeader.sides(names, lag, "n1")
        assert "n1" not in laggards and "n1" in cut
        assert len(laggards) == lag and len(laggards) + len(keep) == n // 2 + 1
        assert sorted(laggards + keep + cut) == sorted(names)


def test_lagging_leader_run(tmp_path: Path) -> None:
    nem, _nodes, _system, ops = make(tmp_path, ["lagging-leader"], interval=0.05, leader="n2")
    run_for(nem, 0.4)
    starts = [o for o in ops if o.f == "start-partition" and o.type == "invoke"]
    kinds = [o.value["kind"] for o in starts]
    assert kinds[:2] == ["lagging-leader:fall-behind", "lagging-leader:cut-leader"]
    behind, cut = starts[0].value, starts[1].value
    assert len(behind["nodes"]) == 2 and "n2" not in behind["nodes"]
    assert "n2" in cut["nodes"] and len(cut["nodes"]) == 2
    # the laggards now sit on the majority side, cut off from the leader
    assert set(cut["grudge"]["n2"]) >= set(behind["nodes"])
    assert nem.active() == []


def test_crash_uncommitted_run(tmp_path: Path) -> None:
    nem, _nodes, system, ops = make(tmp_path, ["crash-uncommitted"], interval=0.05,
                                    leader="n4")
    run_for(nem, 0.5)
    fs = [o.f for o in ops if o.type == "invoke"]
    assert fs[:4] == ["start-partition", "kill", "stop-partition", "start"]
    assert ops[0].value["nodes"] == ["n4"] and ("kill", "n4") in system.calls
    assert nem.active() == []


def test_leader_churn_run(tmp_path: Path) -> None:
    nem, _nodes, system, ops = make(tmp_path, ["leader-churn"], interval=0.02, leader="n3")
    run_for(nem, 0.5)
    hits = [c for c in system.calls if c[0] in ("kill", "pause")]
    assert len(hits) >= 3 and {c[1] for c in hits} == {"n3"}
    assert nem.active() == []


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="cannot be combined with partition"):
        make(tmp_path, ["mixed", "partition"])
    with pytest.raises(HarnessError, match="mix=partition,bogus: unknown kind 'bogus'"):
        make(tmp_path, ["mixed"], mix="partition,bogus")
    with pytest.raises(HarnessError, match="mix is used by --nemesis mixed"):
        make(tmp_path, ["partition"], mix="kill")
    with pytest.raises(HarnessError, match="can't be given a skewed clock"):
        make(tmp_path, ["mixed"], mix="partition,clock")
    with pytest.raises(HarnessError, match="at least 3 nodes"):
        make(tmp_path, ["lagging-leader"], n=2)

    class NoLeader(FakeSystem):
        leader = __import__("splitbrain.clusters.system", fromlist=["System"]).System.leader

        def __init__(self, nodes) -> None:
            super().__init__(nodes, None)

    for prog in ("lagging-leader", "crash-uncommitted", "leader-churn"):
        with pytest.raises(HarnessError, match="does not report one"):
            make(tmp_path, [prog], system_cls=NoLeader)

"""Schedule determinism, op recording, journaling and refusals (fake node plumbing only)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from splitbrain.errors import HarnessError
from splitbrain.history.ops import Op
from splitbrain.nemesis import FAULTS, build_nemesis, plan
from splitbrain.nemesis.journal import read_entries, unhealed

sys.path.insert(0, str(Path(__file__).parent))
from nemesis_fakes import FakeSystem, RecordingNode  # noqa: E402

NAMES = ["n1", "n2", "n3", "n4", "n5"]


def make(tmp_path: Path, faults: list[str], *, leader: str | None = None, targets: str = "one",
         isolated: bool = True, **opts: str):
    nodes = [RecordingNode(n, f"10.9.0.{i + 1}", isolated) for i, n in enumerate(NAMES)]
    system = FakeSystem(nodes, leader)
    ops: list[Op] = []
    nem = build_nemesis(faults, system=system, nodes=nodes, interval=0.01, targets=targets,
                        seed=42, record=lambda op: ops.append(op) or op,
                        journal_path=tmp_path / "faults.journal", options=dict(opts))
    return nem, nodes, system, ops


def test_plan_is_a_pure_function_of_seed_and_nodes() -> None:
    a = plan(["partition", "kill", "pause"], NAMES, 42, 30, targets="minority")
    b = plan(["partition", "kill", "pause"], NAMES, 42, 30, targets="minority")
    c = plan(["partition", "kill", "pause"], NAMES, 43, 30, targets="minority")
    assert a == b
    assert a != c
    assert {s["fault"] for s in a} == {"partition", "kill", "pause"}
    # a prefix of a longer plan is the shorter plan: steps don't depend on how many are asked
    assert plan(["partition", "kill", "pause"], NAMES, 42, 5, targets="minority") == a[:5]


def test_schedule_run_follows_the_plan(tmp_path: Path) -> None:
    """Two runs with the same seed apply the same faults on the same nodes in the same order."""
    def applied(run_ops: list[Op]) -> list[tuple[str, object]]:
        return [(o.f, json.dumps(o.value, sort_keys=True)) for o in run_ops
                if o.type == "info" and o.f in ("start-partition", "kill")]

    seqs = []
    for _ in range(2):
        nem, _nodes, _sys, ops = make(tmp_path, ["partition-halves", "kill"])
        stop = threading.Event()
        calls = {"n": 0}
        orig = nem.start

        def counting_start(step, orig=orig, calls=calls, stop=stop):
            calls["n"] += 1
            if calls["n"] == 6:
                stop.set()
            orig(step)
        nem.start = counting_start
        nem.run(stop)
        seqs.append(applied(ops))
    assert len(seqs[0]) == 6
    assert seqs[0] == seqs[1]
    expected = plan(["partition-halves", "kill"], NAMES, 42, 6)
    assert [f for f, _ in seqs[0]] == [
        "start-partition" if s["fault"] == "partition-halves" else "kill" for s in expected]


def test_partition_ops_journal_and_iptables_commands(tmp_path: Path) -> None:
    nem, nodes, _sys, ops = make(tmp_path, ["partition-one"])
    step = plan(["partition-one"], NAMES, 42, 1)[0]
    target = step["choice"]["nodes"][0]
    nem.start(step)
    assert nem.current() is not None and target in nem.current()
    inv, info = ops
    assert (inv.type, inv.process, inv.f) == ("invoke", "nemesis", "start-partition")
    assert info.type == "info" and info.f == "start-partition"
    assert info.value == step["choice"]["grudge"]
    addr = {n.name: n.address for n in nodes}
    tnode = next(n for n in nodes if n.name == target)
    script = tnode.cmds[-1]
    for other in NAMES:
        if other != target:
            assert f"-s {addr[other]}" in script and "-j DROP" in script
    assert "-N SPLITBRAIN" in script
    entries = read_entries(tmp_path / "faults.journal")
    assert len(unhealed(entries)) == 1
    assert entries[0]["detail"]["grudge"] == info.value
    assert entries[0]["nodes"] == addr

    nem.heal()
    nem.heal()  # idempotent: nothing more recorded
    assert [o.f for o in ops[2:]] == ["stop-partition", "stop-partition"]
    assert nem.current() is None
    assert all("-X SPLITBRAIN" in n.cmds[-1] for n in nodes)
    assert unhealed(read_entries(tmp_path / "faults.journal")) == []


def test_kill_and_pause_use_the_system_and_leader_targets(tmp_path: Path) -> None:
    nem, _nodes, system, ops = make(tmp_path, ["kill"], leader="n4", targets="leader")
    nem.start(plan(["kill"], NAMES, 1, 1, targets="leader")[0])
    nem.heal()
    assert system.calls == [("kill", "n4"), ("start", "n4")]
    assert ops[1].value == {"nodes": ["n4"], "signal": "SIGKILL"}
    assert [o.f for o in ops] == ["kill", "kill", "start", "start"]

    nem, _nodes, system, ops = make(tmp_path, ["pause"], targets="majority")
    step = plan(["pause"], NAMES, 7, 1, targets="majority")[0]
    nem.start(step)
    nem.heal()
    chosen = step["choice"]["targets"]
    assert len(chosen) == 3
    assert sorted(system.calls) == sorted([("pause", n) for n in chosen]
                                          + [("resume", n) for n in chosen])
    assert ops[1].value["signal"] == "SIGSTOP" and ops[3].value["signal"] == "SIGCONT"


def test_partition_leader_isolates_the_live_leader(tmp_path: Path) -> None:
    nem, _nodes, _sys, ops = make(tmp_path, ["partition-leader"], leader="n2")
    nem.start(plan(["partition-leader"], NAMES, 3, 1)[0])
    assert ops[1].value["n2"] == ["n1", "n3", "n4", "n5"]
    assert ops[1].value["n1"] == ["n2"]
    nem.heal()


def test_refusals_are_one_line_harness_errors(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="--nemesis bogus: unknown fault"):
        make(tmp_path, ["bogus"])
    with pytest.raises(HarnessError, match="share this host's network"):
        make(tmp_path, ["partition"], isolated=False)
    with pytest.raises(HarnessError, match="share this host's network"):
        make(tmp_path, ["packet-loss"], isolated=False)
    with pytest.raises(HarnessError, match="does not support membership"):
        make(tmp_path, ["member"])
    with pytest.raises(HarnessError, match="can't be given a skewed clock"):
        make(tmp_path, ["clock"])
    with pytest.raises(HarnessError, match="nemesis-targets"):
        make(tmp_path, ["kill"], targets="everyone")
    with pytest.raises(HarnessError, match="grudge_file"):
        make(tmp_path, ["partition-grudge"])
    with pytest.raises(HarnessError, match="loss=2"):
        make(tmp_path, ["packet-loss"], loss="2")


def test_empty_fault_list_does_nothing(tmp_path: Path) -> None:
    nem, nodes, _sys, ops = make(tmp_path, [])
    stop = threading.Event()
    stop.set()
    nem.run(stop)
    nem.heal()
    assert nem.current() is None and ops == [] and all(not n.cmds for n in nodes)
    assert not (tmp_path / "faults.journal").exists()


def test_every_fault_name_is_known_to_make_fault() -> None:
    for f in FAULTS:
        if f == "partition-grudge":
            continue
        assert plan([f], NAMES, 1, 2)


def test_two_node_clusters_only_get_feasible_partitions(tmp_path: Path) -> None:
    steps = plan(["partition"], ["n1", "n2"], 9, 60)
    kinds = {s["choice"]["kind"] for s in steps}
    assert kinds == {"partition-one", "partition-halves", "partition-leader"}
    nodes = [RecordingNode("n1", "10.9.0.1"), RecordingNode("n2", "10.9.0.2")]
    with pytest.raises(HarnessError, match="partition-ring needs at least 3 nodes"):
        build_nemesis(["partition-ring"], system=FakeSystem(nodes), nodes=nodes, interval=1,
                      targets="one", seed=1, record=lambda op: op,
                      journal_path=tmp_path / "j")


def test_recorded_ops_pair_into_one_shaded_period_per_fault(tmp_path: Path) -> None:
    """The report's fault shading reads our op names: every fault begins and ends a period."""
    from splitbrain.nemesis.schedule import make_fault
    from splitbrain.reports.faults import fault_periods, is_fault_end

    faults = ["partition", "kill", "pause", "packet-loss"]
    nem, _nodes, _sys, ops = make(tmp_path, faults)
    steps = plan(faults, NAMES, 42, 8)
    for s in steps:
        nem.start(s)
        nem.heal()
    t = 0
    for o in ops:
        t += 1
        o.time = t
    periods = fault_periods([o.to_dict() for o in ops])
    assert len(periods) == len(steps)
    assert all(not p.open_ended and p.start < p.end for p in periods)
    for name in ("clock", "member"):
        f = make_fault(name, nem.ctx)
        assert not is_fault_end(f.start_f) and is_fault_end(f.stop_f), name


def test_nemesis_options(tmp_path: Path) -> None:
    from splitbrain.nemesis import check_options
    from splitbrain.nemesis.grudge import symmetric

    check_options({"loss": "0.1", "symmetric": "false"})
    with pytest.raises(HarnessError, match="unknown nemesis option 'lose'"):
        check_options({"lose": "0.1"})
    with pytest.raises(HarnessError, match="symmetric=maybe"):
        make(tmp_path, ["partition-halves"], symmetric="maybe")
    steps = plan(["partition-halves"], NAMES, 3, 5, options={"symmetric": "false"})
    assert all(not symmetric(s["choice"]["grudge"]) for s in steps)
    nem, _nodes, _sys, ops = make(tmp_path, ["partition-leader"], leader="n5", symmetric="false")
    nem.start(plan(["partition-leader"], NAMES, 3, 1)[0])
    assert ops[1].value == {"n1": [], "n2": [], "n3": [], "n4": [], "n5": ["n1", "n2", "n3", "n4"]}
    nem.heal()


def test_partition_follower_isolates_a_node_that_is_not_the_leader(tmp_path: Path) -> None:
    targets = set()
    for seed in range(12):
        nem, _nodes, _sys, ops = make(tmp_path, ["partition-follower"], leader="n2")
        nem.start(plan(["partition-follower"], NAMES, seed, 1)[0])
        (target,) = ops[0].value["nodes"]
        assert target != "n2" and ops[1].value[target] == [n for n in NAMES if n != target]
        targets.add(target)
        nem.heal()
    assert len(targets) >= 3            # the planned draw spreads over the followers
    # without a known leader any node may be picked
    nem, _nodes, _sys, ops = make(tmp_path, ["partition-follower"])
    nem.start(plan(["partition-follower"], NAMES, 1, 1)[0])
    assert ops[1].error is None
    nem.heal()

"""Journal replay: which faults count as left behind, and how recovery heals and closes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from splitbrain.errors import ClusterGone
from splitbrain.harness.recovery import recover_journals
from splitbrain.nemesis.journal import Journal, find_journals, open_faults, read_entries, unhealed

sys.path.insert(0, str(Path(__file__).parent))
from nemesis_fakes import RecordingNode  # noqa: E402

NODES = {"n1": "10.9.0.1", "n2": "10.9.0.2", "n3": "10.9.0.3"}
GRUDGE = {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def write_journal(path: Path, entries: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))


def apply_entry(fid: str, pid: int, pid_start: str | None = "1", fault: str = "partition-one",
                detail: dict | None = None) -> dict:
    return {"event": "apply", "id": fid, "pid": pid, "pid_start": pid_start, "backend": "netns",
            "test": "t1", "nodes": NODES, "fault": fault,
            "detail": detail or {"kind": fault, "grudge": GRUDGE, "addresses": NODES}}


def test_unhealed_pairs_applies_with_heals(tmp_path: Path) -> None:
    j = tmp_path / "faults.journal"
    write_journal(j, [apply_entry("a", 1), {"event": "heal", "id": "a"}, apply_entry("b", 1)])
    with open(j, "a") as f:
        f.write('{"event": "apply", "id": "c", "torn')       # killed mid-write
    assert [e["id"] for e in unhealed(read_entries(j))] == ["b"]


def test_faults_of_a_live_writer_are_not_recovered(tmp_path: Path) -> None:
    j = tmp_path / "run1" / "faults.journal"
    live = Journal(j, {"backend": "netns", "test": "t1", "nodes": NODES})
    live.applying("partition-one", {"grudge": GRUDGE})
    assert open_faults(j) == []                 # this very process is alive
    write_journal(tmp_path / "run2" / "faults.journal", [apply_entry("x", dead_pid())])
    assert [e["id"] for e in open_faults(tmp_path / "run2" / "faults.journal")] == ["x"]
    # a reused pid with another start time is not the writer
    write_journal(tmp_path / "run3" / "faults.journal",
                  [apply_entry("y", os.getpid(), pid_start="0")])
    assert [e["id"] for e in open_faults(tmp_path / "run3" / "faults.journal")] == ["y"]


def test_recover_heals_removes_rules_and_closes_the_journal(tmp_path: Path) -> None:
    j = tmp_path / "store" / "t1" / "20260101T000000" / "faults.journal"
    write_journal(j, [apply_entry("a", dead_pid()),
                      apply_entry("b", dead_pid(), fault="pause",
                                  detail={"nodes": ["n2"], "daemon": "db"})])
    (tmp_path / "store" / "latest").symlink_to(j.parent)
    nodes = [RecordingNode(n, a) for n, a in NODES.items()]
    attached = []

    def attach(entry: dict):
        attached.append((entry["backend"], entry["test"]))
        return None, nodes

    assert list(find_journals(tmp_path / "store")) == [j]
    report = recover_journals(tmp_path / "store", attach)
    assert len(report) == 2 and all("healed" in r for r in report)
    assert attached == [("netns", "t1"), ("netns", "t1")]
    for n in nodes:
        assert any("-X SPLITBRAIN" in c for c in n.cmds), n.name
    # the paused daemon of n2 is looked up to be resumed (SIGCONT) by its pid file
    assert any("run/db.pid" in c for c in nodes[1].cmds)
    assert not any("run/db.pid" in c for c in nodes[0].cmds + nodes[2].cmds)
    assert unhealed(read_entries(j)) == []
    assert recover_journals(tmp_path / "store", attach) == []      # nothing left


def test_recover_closes_faults_of_clusters_that_are_gone(tmp_path: Path) -> None:
    j = tmp_path / "faults.journal"
    write_journal(j, [apply_entry("a", dead_pid())])

    def gone(entry: dict):
        raise ClusterGone("no netns cluster named t1: start one with ...")
    report = recover_journals(tmp_path, gone)
    assert report and "no longer exists" in report[0]
    assert unhealed(read_entries(j)) == []


def test_recover_keeps_faults_it_could_not_reach(tmp_path: Path) -> None:
    j = tmp_path / "faults.journal"
    write_journal(j, [apply_entry("a", dead_pid())])

    def broken(entry: dict):
        raise OSError("engine unreachable")
    report = recover_journals(tmp_path, broken)
    assert report and "NOT healed" in report[0]
    assert [e["id"] for e in unhealed(read_entries(j))] == ["a"]


def test_recreated_cluster_is_not_touched(tmp_path: Path) -> None:
    j = tmp_path / "faults.journal"
    write_journal(j, [apply_entry("a", dead_pid())])
    nodes = [RecordingNode(n, f"10.99.0.{i}") for i, n in enumerate(NODES, 1)]
    report = recover_journals(tmp_path, lambda e: (None, nodes))
    assert "recreated" in report[0]
    assert all(not n.cmds for n in nodes)
    assert unhealed(read_entries(j)) == []

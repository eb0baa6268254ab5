"""The host registry of claims: private, checked on read, owners told apart by pid and
start time; and cleanup by claim (``cluster down --all``) on the local backend, with
real processes: this store's and killed runs' clusters go, live runs and other
stores' clusters stay, and nothing without a claim is touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splitbrain.clusters.backends.local import LocalBackend
from splitbrain.clusters.ownership import Claim, claims, private_dir, proc_start, state_root
from splitbrain.errors import HarnessError
from splitbrain.harness.claims import down_all, find_named, new_claim, remove_claimed


def dead_owner() -> dict:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return {"pid": p.pid, "start": "1"}


@pytest.fixture
def local_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "local"
    monkeypatch.setenv("SPLITBRAIN_LOCAL_ROOT", str(root))
    return root


def test_registry_is_private_and_claims_round_trip(private_state_dir: Path):
    assert state_root() == private_state_dir
    c = Claim(backend="local", name="sf-rt", store="/s", system="raft")
    c.take()
    c.add("dir", "/x")
    reg = private_state_dir / "registry"
    assert reg.stat().st_mode & 0o777 == 0o700
    f = reg / f"{c.id}.json"
    assert f.stat().st_mode & 0o077 == 0
    [back] = claims()
    assert back.to_dict() == c.to_dict() and back.state == "live" and back.mine()
    c.keep()
    assert claims()[0].state == "kept" and claims()[0].kind == "cluster"
    c.owner = dead_owner()
    c.save()
    assert claims()[0].state == "killed"
    c.owner = {"pid": os.getpid(), "start": "0"}          # this pid, but another start: reused
    c.save()
    assert claims()[0].state == "killed"
    c.drop()
    assert claims() == []


@pytest.mark.parametrize("bad", [
    {"name": "../../etc"}, {"name": "a/b"}, {"backend": "docker; rm -rf /"}, {"kind": "evil"},
    {"store": "relative/store"}, {"made": [["netns", 1]]}, {"made": [["file", "/etc/passwd"]]},
    {"owner": {"pid": "1"}}, {"options": {"a": 1}},
])
def test_a_forged_claim_is_never_listed(private_state_dir: Path, bad: dict):
    c = Claim(backend="local", name="sf-ok")
    doc = c.to_dict() | bad
    (private_dir("registry") / f"{c.id}.json").write_text(json.dumps(doc))
    (private_dir("registry") / "notes.json").write_text("{}")
    assert claims() == []


def test_a_claim_file_that_is_a_symlink_is_ignored(private_state_dir: Path, tmp_path: Path):
    c = Claim(backend="local", name="sf-link")
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(c.to_dict()))
    (private_dir("registry") / f"{c.id}.json").symlink_to(target)
    assert claims() == []


def test_state_root_below_a_world_writable_directory_is_refused(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)                 # world-writable, no sticky bit
    monkeypatch.setenv("SPLITBRAIN_STATE_DIR", str(open_dir / "state"))
    with pytest.raises(HarnessError, match="world-writable"):
        private_dir("registry")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand a directory to someone else")
def test_a_state_directory_of_another_user_is_refused(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    monkeypatch.setenv("SPLITBRAIN_STATE_DIR", str(theirs))
    with pytest.raises(HarnessError, match="belongs to uid 65534"):
        private_dir("registry")


# -- cleanup by claim, on the local backend ---------------------------------------------------

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def _cluster(name: str, store: Path, *, kind: str = "cluster") -> tuple[Claim, list]:
    """A local cluster with a daemon per node, made as `cluster up` does; kept."""
    be = LocalBackend()
    claim = new_claim(be, name, store, kind=kind)
    claim.take()                    # what node_scope does before creating
    be.claim = claim
    nodes = be.create(name, 2)
    for n in nodes:
        n.start_daemon("sleeper", SLEEPER)
    claim.keep()
    return claim, nodes


def _pids(nodes: list) -> list[int]:
    return [int(Path(n.pid_file("sleeper")).read_text()) for n in nodes]


def _alive(pid: int) -> bool:
    return proc_start(pid) is not None


def test_down_all_removes_ours_and_killed_runs_and_leaves_the_rest(tmp_path: Path, local_root):
    a, b = tmp_path / "storeA", tmp_path / "storeB"
    kept_a, nodes_a = _cluster("sf-kept-a", a)
    kept_b, nodes_b = _cluster("sf-kept-b", b)
    killed, nodes_k = _cluster("sf-killed", a, kind="run")
    killed.owner, killed.kind = dead_owner(), "run"
    killed.save()
    live, nodes_l = _cluster("sf-live", a, kind="run")
    holder = subprocess.Popen(SLEEPER)             # a live owner that is not this process
    live.owner, live.kind = {"pid": holder.pid, "start": proc_start(holder.pid)}, "run"
    live.save()
    foreign = local_root / "sf-foreign-000000"     # splitbrain's dir layout, but no claim
    foreign.mkdir(parents=True)
    pa, pb, pk, pl = _pids(nodes_a), _pids(nodes_b), _pids(nodes_k), _pids(nodes_l)
    try:
        rep = down_all(b)
        assert any("sf-kept-b" in r for r in rep.removed)
        assert any("sf-killed" in r for r in rep.removed)
        assert len(rep.removed) == 2
        assert any("sf-kept-a" in x and "another store" in x for x in rep.left)
        assert any("sf-live" in x and "live run" in x for x in rep.left)
        assert not any(map(_alive, pb + pk))
        assert all(map(_alive, pa + pl))
        assert foreign.is_dir()
        assert {c.name for c in claims()} == {"sf-kept-a", "sf-live"}
        # everywhere: the other store's cluster and the live run go too
        rep = down_all(b, everywhere=True)
        assert len(rep.removed) == 2 and not rep.failed
        assert not any(map(_alive, pa + pl))
        assert claims() == [] and foreign.is_dir()
    finally:
        holder.kill()
        for c in claims():
            remove_claimed(c)


def test_a_reused_pid_is_never_signalled(tmp_path: Path, local_root):
    claim, nodes = _cluster("sf-reuse", tmp_path / "s")
    pid = _pids(nodes)[0]
    other = subprocess.Popen(SLEEPER)
    try:
        # pretend n1's daemon died and `other` got its pid: the claim's start time differs
        Path(f"{nodes[0].pid_file('sleeper')}.start").write_text("1")
        claim.made = [m for m in claim.made if not m[1].startswith(f"{pid}@")]
        claim.made.append(["pid", f"{other.pid}@1"])
        Path(nodes[0].pid_file("sleeper")).write_text(str(other.pid))
        claim.save()
        remove_claimed(claim)
        time.sleep(0.2)
        assert other.poll() is None, "a process splitbrain did not start was killed"
    finally:
        other.kill()
        os.kill(pid, 9)


def test_a_name_held_elsewhere_is_refused_and_a_killed_one_replaced(tmp_path: Path, local_root):
    a, b = tmp_path / "A", tmp_path / "B"
    claim, nodes = _cluster("sf-name", a)
    pids = _pids(nodes)
    try:
        with pytest.raises(HarnessError, match=r"kept there: remove it with `splitbrain cluster "
                                               r"down --name sf-name --store .*A`"):
            new_claim(LocalBackend(), "sf-name", b)
        assert find_named("sf-name", a).id == claim.id
        with pytest.raises(HarnessError, match="no cluster named 'sf-name' in store .*B; "
                                               "there is local cluster"):
            find_named("sf-name", b)
        claim.owner, claim.kind = dead_owner(), "run"        # its run was killed
        claim.save()
        fresh = new_claim(LocalBackend(), "sf-name", b)
        assert fresh.id != claim.id and claims() == []        # the leftover went first
        assert not any(map(_alive, pids))
    finally:
        for c in claims():
            remove_claimed(c)


def test_store_journals_of_a_claimed_cluster_are_left_to_its_claim(tmp_path: Path):
    """`cluster heal --store` heals unclaimed journals only: a journal naming a cluster
    that a claim holds (a live run's, say) is not acted on from the store."""
    from splitbrain.harness.recovery import recover_store_journals

    j = tmp_path / "store" / "t1" / "20260101T000000" / "faults.journal"
    j.parent.mkdir(parents=True)
    entry = {"event": "apply", "id": "a", "pid": dead_owner()["pid"], "pid_start": "1",
             "backend": "netns", "test": "t1", "nodes": {"n1": "10.0.0.1"},
             "fault": "partition-one", "detail": {"grudge": {"n1": ["n2"]}}}
    j.write_text(json.dumps(entry) + "\n")
    holder = subprocess.Popen(SLEEPER)
    claim = Claim(backend="netns", name="t1",
                  owner={"pid": holder.pid, "start": proc_start(holder.pid)})
    claim.save()
    attached: list = []
    try:
        assert recover_store_journals(tmp_path / "store",
                                      lambda e: attached.append(e) or (None, [])) == []
        assert attached == []
        claim.drop()                             # unclaimed: now it is the store's to heal
        out = recover_store_journals(tmp_path / "store", lambda e: attached.append(e)
                                     or (None, []))
        assert len(attached) == 1 and out and out[0].ok
    finally:
        holder.kill()

"""Safe on real clusters, end to end through the CLI as a user runs it (issue 14).

- SIGKILL of `splitbrain test` during a fault, on each backend (docker, netns, ssh
  against sshd in containers, local — which has no network, so its fault is a pause):
  `splitbrain cluster status` from another folder heals the fault and lists the
  leftovers; `splitbrain cluster down --all` from there removes them.
- `cluster down --all` from store B leaves store A's cluster (healthy), a namespace
  and links named like ours that splitbrain did not make, and a container labelled
  `splitbrain=1` that no claim covers.

Each test keeps its claims in a private state directory (tests/conftest.py), so it
sees only what it made.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from splitbrain.nemesis.journal import read_entries, unhealed

pytestmark = [pytest.mark.slow]
TAG = os.getpid() % 100000
BIN = str(Path(sys.executable).with_name("splitbrain"))   # the console script: cwd not on the path


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    env.pop("SPLITBRAIN_REQUIRE_DOCKER", None)
    return subprocess.run([BIN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def wait_until(pred: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def start_run(store: Path, name: str, backend: str, fault: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [BIN, "test", "--system", "raft", "--backend", backend, "--nemesis", fault,
         "--nemesis-interval", "300", "--time-limit", "600", "--name", name,
         "--store", str(store), "--seed", "4", "--quiet", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def journal_of(proc: subprocess.Popen, store: Path, name: str) -> Path:
    """Wait until the run journaled its first fault; the journal's path."""
    found: list[Path] = []

    def journaled() -> bool:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            pytest.fail(f"the run ended (exit {proc.returncode}) before a fault: {err[-1500:]}")
        found[:] = [j for j in store.glob(f"{name}/*/faults.journal") if read_entries(j)]
        return bool(found)
    wait_until(journaled, "the first journaled fault", timeout=240)
    return found[0]


def kill_and_check(proc: subprocess.Popen, journal: Path, tmp_path: Path, name: str,
                   faulted: Callable[[], bool], resources: Callable[[], bool],
                   by_name: Path | None = None) -> None:
    """SIGKILL mid-fault, then heal through `cluster status` and remove through
    `cluster down --all` (or, with ``by_name`` = the run's store, `cluster down --name`),
    both from a folder that is not the store's parent."""
    wait_until(faulted, "the journaled fault to be in effect", timeout=60)
    os.killpg(proc.pid, signal.SIGKILL)             # the harness (and only it) dies
    proc.wait(timeout=30)
    assert len(unhealed(read_entries(journal))) == 1
    assert faulted(), "the fault should outlive the killed run"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = cli("check", str(journal.parent / "history.jsonl"), "--model", "cas-register",
            cwd=elsewhere)                              # does not touch clusters: a note
    assert "1 killed run(s) left a cluster on this host" in r.stderr, r.stderr

    r = cli("cluster", "status", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert name in r.stdout and "killed run, faults healed" in r.stdout, r.stdout
    assert "healed leftover of a killed run" in r.stderr, r.stderr
    assert not faulted(), "cluster status should have healed the killed run's fault"
    assert unhealed(read_entries(journal)) == []
    assert resources(), "healing must not remove the cluster: it is listed for `down`"

    if by_name is None:
        r = cli("cluster", "down", "--all", "--store", str(elsewhere / "store"), cwd=elsewhere)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"run '{name}'" in r.stdout and "1 removed" in r.stdout, r.stdout
    else:                      # one killed test's cluster, by its name and store
        r = cli("cluster", "status", "--name", name, "--store", str(by_name), cwd=elsewhere)
        assert r.returncode == 0 and "n3" in r.stdout, r.stdout + r.stderr
        r = cli("cluster", "down", "--name", name, "--store", str(by_name), cwd=elsewhere)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"cluster '{name}' removed" in r.stdout, r.stdout
    assert not resources(), "cluster down --all should have removed the killed run's cluster"
    r = cli("cluster", "status", cwd=elsewhere)
    assert name not in r.stdout and "no clusters" in r.stdout, r.stdout


# -- docker and netns: partitions ------------------------------------------------------------

def _isolated_backend_case(backend_name: str, tmp_path: Path) -> None:
    from splitbrain.clusters.backends import get_backend
    from splitbrain.errors import ClusterGone
    from splitbrain.nemesis.partition import our_rules

    name = f"sf-kill-{backend_name}-{TAG}"
    store = tmp_path / "store"
    backend = get_backend(backend_name)
    proc = start_run(store, name, backend_name, "partition-halves", "--nodes", "3")
    try:
        journal = journal_of(proc, store, name)
        grudge = read_entries(journal)[0]["detail"]["grudge"]
        nodes = backend.attach(name)

        def faulted() -> bool:
            return sorted(n.name for n in nodes if our_rules(n)) == sorted(
                k for k, v in grudge.items() if v)

        def resources() -> bool:
            try:
                return len(backend.attach(name)) == 3
            except ClusterGone:
                return False
        kill_and_check(proc, journal, tmp_path, name, faulted, resources)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        cli("cluster", "down", "--all", "--store", str(store), cwd=tmp_path)


def test_docker_sigkill_during_a_partition(tmp_path: Path, requires_docker) -> None:
    _isolated_backend_case("docker", tmp_path)


@pytest.mark.root
def test_netns_sigkill_during_a_partition(tmp_path: Path, requires_root) -> None:
    _isolated_backend_case("netns", tmp_path)


# -- local: a pause (its nodes share the host's network) -------------------------------------

def test_local_sigkill_during_a_pause(tmp_path: Path, monkeypatch) -> None:
    from splitbrain.clusters.ownership import proc_start

    monkeypatch.setenv("SPLITBRAIN_LOCAL_ROOT", str(tmp_path / "local"))
    name = f"sf-kill-local-{TAG}"
    store = tmp_path / "store"
    proc = start_run(store, name, "local", "pause", "--nodes", "3",
                     "--nemesis-targets", "all")
    try:
        journal = journal_of(proc, store, name)
        pids = [int(p.read_text()) for p in (tmp_path / "local").glob("*/n*/run/raft.pid")]
        assert len(pids) == 3

        def state(pid: int) -> str:
            try:
                return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                return "gone"

        def faulted() -> bool:
            return all(state(p) == "T" for p in pids)

        def resources() -> bool:
            return any(proc_start(p) is not None for p in pids) and \
                any((tmp_path / "local").iterdir())
        kill_and_check(proc, journal, tmp_path, name, faulted, resources, by_name=store)
        assert all(state(p) in ("gone", "Z", "X") for p in pids)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        cli("cluster", "down", "--all", "--store", str(store), cwd=tmp_path)


# -- ssh: real sshd in containers ----------------------------------------------------------

def _keypair(path: Path) -> str:
    import paramiko
    key = paramiko.ECDSAKey.generate(bits=256)
    key.write_private_key_file(str(path))
    return f"{key.get_name()} {key.get_base64()} splitbrain-test"


@pytest.mark.docker
def test_ssh_sigkill_during_a_partition(tmp_path: Path, requires_docker) -> None:
    """The hosts are containers this test makes through the docker backend directly
    (no claim): `down --all` must remove the run's work and faults on them, never them."""
    from splitbrain.clusters.backends.docker import DockerBackend

    hosts_name = f"sf-sshhosts-{TAG}"
    docker = DockerBackend(progress=lambda m: None)
    pub = _keypair(tmp_path / "id_ecdsa")
    hosts = docker.create(hosts_name, 3)
    proc = None
    store = tmp_path / "store"
    try:
        known = []
        for h in hosts:
            h.write_file("/root/.ssh/authorized_keys", pub + "\n", mode=0o600)
            key = h.exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout.split()[:2]
            known.append(f"{h.address} {' '.join(key)}")
        (tmp_path / "known_hosts").write_text("\n".join(known) + "\n")
        name = f"sf-kill-ssh-{TAG}"
        work = f"/var/lib/splitbrain/{name}"
        proc = start_run(store, name, "ssh", "partition-halves",
                         "--nodes", ",".join(h.address for h in hosts),
                         "--ssh-key", str(tmp_path / "id_ecdsa"),
                         "--ssh-known-hosts", str(tmp_path / "known_hosts"))
        journal = journal_of(proc, store, name)
        entry = read_entries(journal)[0]
        grudge = entry["detail"]["grudge"]
        # the journal names the hosts and the credentials reference, never a secret
        assert entry["backend_args"]["hosts"] == [h.address for h in hosts]
        assert entry["backend_args"]["key_file"] == str(tmp_path / "id_ecdsa")
        assert entry["backend_args"]["known_hosts"] == str(tmp_path / "known_hosts")
        assert "PRIVATE KEY" not in journal.read_text()
        by_name = {f"n{i}": h for i, h in enumerate(hosts, 1)}

        def rules(h) -> int:
            return h.exec(["sh", "-c", "iptables -w -S | grep -c SPLITBRAIN || true"]).stdout.strip()

        def faulted() -> bool:
            return sorted(k for k, h in by_name.items() if rules(h) != "0") == sorted(
                k for k, v in grudge.items() if v)

        def resources() -> bool:
            return any(h.exec(["test", "-d", work], check=False).rc == 0 for h in hosts)
        raft_pids = [h.exec(["cat", f"{work}/run/raft.pid"]).stdout.strip() for h in hosts]
        kill_and_check(proc, journal, tmp_path, name, faulted, resources)
        for h, pid in zip(hosts, raft_pids, strict=True):
            assert h.exec(["kill", "-0", pid], check=False).rc != 0, "raft survived down --all"
            assert h.exec(["true"]).rc == 0          # the hosts themselves are untouched
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        cli("cluster", "down", "--all", "--store", str(store), cwd=tmp_path)
        docker.destroy(hosts_name)


# -- down --all from another store ----------------------------------------------------------

@pytest.mark.root
@pytest.mark.docker
def test_down_all_leaves_other_stores_and_what_splitbrain_did_not_make(
        tmp_path: Path, requires_root, requires_docker) -> None:
    import docker as docker_sdk

    name = f"sf-keepme-{TAG}"
    a, b = tmp_path / "A", tmp_path / "B"
    for d in (a, b):
        d.mkdir()
    foreign_ns, veth = "sb-foreign", (f"sbvpn{TAG}"[:15], f"sbbrain{TAG}"[:15])
    made: list[str] = []
    client = docker_sdk.from_env()
    container = None
    try:
        r = cli("cluster", "up", "--system", "raft", "--backend", "netns", "--nodes", "3",
                "--name", name, cwd=a)
        assert r.returncode == 0, r.stdout + r.stderr
        existing = subprocess.run(["ip", "netns", "list"], capture_output=True,
                                  text=True).stdout.split()
        if foreign_ns not in existing:
            subprocess.run(["ip", "netns", "add", foreign_ns], check=True)
            made.append("netns")
        subprocess.run(["ip", "link", "add", veth[0], "type", "veth", "peer", "name", veth[1]],
                       check=True)
        made.append("veth")
        image = client.images.list(filters={"label": "splitbrain.image=node"})[0]
        container = client.containers.run(image.id, ["sleep", "600"], detach=True,
                                          name=f"sf-unclaimed-{TAG}",
                                          labels={"splitbrain": "1",
                                                  "splitbrain.test": f"sf-unclaimed-{TAG}"})

        r = cli("cluster", "down", "--all", cwd=b)          # from store B (./store of B)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "0 removed" in r.stdout and f"'{name}'" in r.stdout and \
            "kept by another store" in r.stdout, r.stdout

        assert foreign_ns in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                            text=True).stdout
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert veth[0] in links and veth[1] in links
        container.reload()
        assert container.status == "running"
        r = cli("cluster", "status", "--name", name, cwd=a)
        assert r.returncode == 0, r.stderr
        rows = [ln for ln in r.stdout.splitlines() if ln.strip("│ ").startswith("n")]
        assert len(rows) == 3 and all(" yes " in ln for ln in rows), r.stdout
        assert "leader" in r.stdout, r.stdout                  # healthy: it elected a leader
    finally:
        cli("cluster", "down", "--name", name, cwd=a)
        if container is not None:
            container.remove(force=True)
        if "veth" in made:
            subprocess.run(["ip", "link", "delete", veth[0]], check=False)
        if "netns" in made:
            subprocess.run(["ip", "netns", "delete", foreign_ns], check=False)

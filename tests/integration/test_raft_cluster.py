"""Real splitbrain.raft node processes on loopback (127.0.0.x): no Docker, no root.

Each node runs from a copy of ``splitbrain/raft`` alone (plus a bare
``splitbrain/__init__.py``), which also proves the package needs only the standard
library and nothing else from splitbrain.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import splitbrain.raft
from splitbrain.raft.client import RaftClient, RaftError

pytestmark = pytest.mark.timeout(120)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(cond: Callable[[], object], timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except (RaftError, OSError) as e:
            last_exc = e
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_exc})")


class Cluster:
    """Starts, kills and restarts node processes; all state lives under ``root``."""

    def __init__(self, root: Path, n: int, extra: list[str] | None = None) -> None:
        self.root = root
        pkg = root / "code" / "splitbrain"
        shutil.copytree(Path(splitbrain.raft.__file__).parent, pkg / "raft",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (pkg / "__init__.py").write_text('"""bare package for a node"""\n')
        self.extra = extra or []
        base = random.randrange(20, 240)
        self.addrs: dict[str, tuple[str, int, int]] = {}
        for i in range(1, n + 1):
            self.addrs[f"n{i}"] = self._new_addr(base, i)
        self.base = base
        self.procs: dict[str, subprocess.Popen] = {}
        self.peers = ",".join(f"{k}={h}:{r}:{c}" for k, (h, r, c) in self.addrs.items())

    @staticmethod
    def _new_addr(base: int, i: int) -> tuple[str, int, int]:
        host = f"127.0.{base}.{i}"
        return host, free_port(host), free_port(host)

    def start(self, nid: str, join: bool = False, peers: str | None = None) -> None:
        host, rport, cport = self.addrs[nid]
        cmd = [sys.executable, "-m", "splitbrain.raft", "--id", nid, "--peers",
               peers or self.peers, "--client-port", str(cport),
               "--data-dir", str(self.root / nid), *self.extra]
        if join:
            cmd.append("--join")
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(self.root / "code")}
        log = open(self.root / f"{nid}.log", "ab")  # noqa: SIM115 - owned by the process
        self.procs[nid] = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)

    def start_all(self) -> None:
        for nid in self.addrs:
            self.start(nid)

    def add_node(self, nid: str) -> str:
        i = len(self.addrs) + 1
        self.addrs[nid] = self._new_addr(self.base, i)
        host, r, c = self.addrs[nid]
        self.start(nid, join=True, peers=f"{nid}={host}:{r}:{c}")
        return f"{host}:{r}:{c}"

    def kill(self, nid: str) -> None:
        p = self.procs.pop(nid)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def stop_all(self) -> None:
        for nid in list(self.procs):
            self.kill(nid)

    def url(self, nid: str) -> str:
        host, _r, c = self.addrs[nid]
        return f"http://{host}:{c}"

    def client(self, nid: str, **kw) -> RaftClient:
        return RaftClient(self.url(nid), timeout=kw.pop("timeout", 8.0), **kw)

    def status(self, nid: str) -> dict:
        c = self.client(nid, timeout=2.0)
        try:
            return c.status()
        finally:
            c.close()

    def leader(self, among: list[str] | None = None, timeout: float = 15.0) -> str:
        """Wait until the live nodes agree on one leader, and return it."""
        def agreed() -> str | None:
            names = among or list(self.procs)
            sts = [self.status(n) for n in names]
            leads = {s["leader"] for s in sts}
            if len(leads) == 1 and None not in leads:
                lead = leads.pop()
                if lead in self.procs and self.status(lead)["role"] == "leader":
                    return lead
            return None
        return wait_for(agreed, timeout, "an agreed leader")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}"
                         for p in sorted(self.root.glob("n*.log")))


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(n: int, extra: list[str] | None = None, start: bool = True) -> Cluster:
        c = Cluster(tmp_path / f"c{len(made)}", n, extra)
        made.append(c)
        if start:
            c.start_all()
        return c

    yield make
    for c in made:
        c.stop_all()


def test_three_nodes_elect_leader_and_followers_forward(make_cluster) -> None:
    cl = make_cluster(3)
    lead = cl.leader()
    follower = next(n for n in cl.addrs if n != lead)
    c = cl.client(follower)
    c.put("x", 1)
    assert c.cas("x", 1, 2) is True
    assert c.cas("x", 1, 3) is False
    assert c.txn([["append", "l", 1], ["r", "l", None]]) == [["append", "l", 1], ["r", "l", [1]]]
    assert c.get("x") == 2
    st = cl.status(follower)
    assert st["leader"] == lead and set(st["members"]) == set(cl.addrs)
    assert st["term"] >= 1
    # noop + put + 2 cas + txn reach the follower's commit index with the next heartbeat
    wait_for(lambda: cl.status(follower)["commit"] >= 5, what="follower commit")


def test_connection_refused_is_definite() -> None:
    host = "127.0.0.1"
    c = RaftClient(f"http://{host}:{free_port(host)}", timeout=2.0)
    with pytest.raises(RaftError) as ei:
        c.put("x", 1)
    assert ei.value.definite is True


def test_acked_writes_survive_leader_sigkill_five_nodes(make_cluster) -> None:
    cl = make_cluster(5)
    lead = cl.leader()
    c = cl.client(lead)
    for i in range(30):
        c.put(f"k{i}", i)
    cl.kill(lead)
    second = next(n for n in cl.procs)
    cl.kill(second)  # and one more: 3 of 5 remain, still a majority
    new = cl.leader()
    assert new not in (lead, second)
    c2 = cl.client(new)
    assert [c2.get(f"k{i}") for i in range(30)] == list(range(30))
    c2.put("after", True)
    assert cl.client(next(n for n in cl.procs if n != new)).get("after") is True


def test_restart_after_sigkill_recovers_from_disk(make_cluster) -> None:
    cl = make_cluster(3, extra=["--snapshot-entries", "40"])
    lead = cl.leader()
    c = cl.client(lead)
    for i in range(100):  # crosses two snapshot thresholds
        c.txn([["append", "l", i]])
    before = {n: cl.status(n)["last_index"] for n in cl.addrs}
    cl.stop_all()  # SIGKILL everyone: only the disks remember
    cl.start_all()
    lead = cl.leader()
    assert cl.client(lead).get("l") == list(range(100))
    for n in cl.addrs:
        st = wait_for(lambda n=n: (s := cl.status(n))["applied"] >= before[lead] and s,
                      what=f"{n} to apply")
        assert st["snapshot_index"] > 0


def test_added_node_catches_up_and_can_lead(make_cluster) -> None:
    cl = make_cluster(3, extra=["--snapshot-entries", "50"])
    lead = cl.leader()
    c = cl.client(lead)
    for i in range(120):
        c.put(f"k{i % 10}", i)
    addr = cl.add_node("n4")
    members = c.member_add("n4", addr)
    assert set(members) == {"n1", "n2", "n3", "n4"}
    st = wait_for(lambda: (s := cl.status("n4"))["applied"] >= cl.status(lead)["commit"] and s,
                  what="n4 to catch up")
    assert st["voter"] is True and st["snapshot_index"] > 0  # came in by InstallSnapshot
    c.transfer_leader("n4")
    assert cl.leader() == "n4"
    c4 = cl.client("n4")
    assert [c4.get(f"k{i}") for i in range(10)] == list(range(110, 120))


def test_removed_node_stops_voting(make_cluster) -> None:
    cl = make_cluster(3)
    lead = cl.leader()
    gone, other = (n for n in cl.addrs if n != lead)
    members = cl.client(lead).member_remove(gone)
    assert gone not in members
    wait_for(lambda: cl.status(gone)["voter"] is False, what="removed node to learn it")
    cl.kill(other)
    # Voters are now {lead, other}; with other dead there is no majority, even though
    # the removed node is alive: its votes must not count.
    wait_for(lambda: cl.status(lead)["role"] != "leader", what="leader to step down")
    time.sleep(2.0)
    for n in (lead, gone):
        assert cl.status(n)["role"] != "leader"
    with pytest.raises(RaftError) as ei:
        cl.client(lead, timeout=10).put("x", 1)
    assert ei.value.definite is True  # no leader known: rejected before proposing


def test_retried_write_applies_once_across_leader_change(make_cluster) -> None:
    cl = make_cluster(3)
    lead = cl.leader()
    c1 = cl.client(lead)
    res = c1.txn([["append", "l", 7]])
    seq = c1.next_seq - 1
    cl.kill(lead)
    survivor = next(iter(cl.procs))
    c2 = cl.client(survivor, client_id=c1.client_id)
    assert c2.txn([["append", "l", 7]], seq=seq) == res  # the retry, via a new leader
    assert c2.get("l") == [7]


def test_no_dedup_bug_applies_retry_twice(make_cluster) -> None:
    cl = make_cluster(3, extra=["--bug", "no-dedup"])
    lead = cl.leader()
    c1 = cl.client(lead)
    c1.txn([["append", "l", 7]])
    c2 = cl.client(next(n for n in cl.addrs if n != lead), client_id=c1.client_id)
    c2.txn([["append", "l", 7]], seq=c1.next_seq - 1)
    assert c2.get("l") == [7, 7]


def test_no_fsync_bug_loses_acked_writes_on_sigkill(make_cluster) -> None:
    cl = make_cluster(3, extra=["--bug", "no-fsync"])
    lead = cl.leader()
    c = cl.client(lead)
    time.sleep(2.5)
    c.txn([["append", "l", 0]])  # this one triggers the periodic (2 s) write...
    for i in range(1, 6):
        c.txn([["append", "l", i]])  # ...these stay in memory until the next one
    cl.stop_all()  # SIGKILL
    cl.start_all()
    lead = cl.leader()
    got = cl.client(lead).get("l") or []
    assert got == list(range(len(got))) and len(got) < 6  # acknowledged appends lost


def swallowing_proxy(target: str) -> tuple[str, Callable[[], None]]:
    """An HTTP front that delivers each request to ``target`` and drops the answer:
    the write is applied, the client sees a lost connection (an unknown outcome)."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    u = urlsplit(target)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        n = int(next(ln.split(":", 1)[1] for ln in lines if ln.lower().startswith("content-length")))
        while len(body) < n:
            body += conn.recv(65536)
        method, path, _ = lines[0].split(" ")
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        c.request(method, path, body, {"Content-Type": "application/json"})
        c.getresponse().read()
        c.close()
        conn.close()                       # the answer never reaches the client

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()

    def close() -> None:
        stop.set()
        srv.close()
    return f"http://127.0.0.1:{srv.getsockname()[1]}", close


@pytest.mark.parametrize("bug,expect", [(None, [7]), ("no-dedup", [7, 7])])
def test_client_resends_an_unknown_write_with_its_seq_on_another_node(make_cluster, bug,
                                                                      expect) -> None:
    """As etcd's and ZooKeeper's clients retry: the lost answer makes the client resend
    the same (client, seq) to the other nodes; the session applies it once, unless the
    no-dedup bug is on (then it shows as a duplicate append)."""
    cl = make_cluster(3, extra=["--bug", bug] if bug else None)
    lead = cl.leader()
    front, close = swallowing_proxy(cl.url(lead))
    try:
        c = RaftClient(front, timeout=5, fallbacks=[cl.url(n) for n in cl.addrs], retry_s=20)
        res = c.txn([["append", "l", 7]])
        assert res == [["append", "l", 7]] and c.retries >= 1
        assert cl.client(lead).get("l") == expect
    finally:
        close()
    # without retries the same loss is an unknown outcome, never a definite failure
    front, close = swallowing_proxy(cl.url(lead))
    try:
        with pytest.raises(RaftError) as ei:
            RaftClient(front, timeout=5).put("x", 1)
        assert ei.value.definite is False
    finally:
        close()


def test_follower_retries_a_write_forwarded_to_a_leader_that_stopped(make_cluster) -> None:
    """The leader is paused just as a follower forwards a session write to it: the
    follower gives up on it when a new leader is elected and re-proposes the write
    there, instead of waiting out the paused one (which would end indeterminate)."""
    cl = make_cluster(3)
    lead = cl.leader()
    other = next(n for n in cl.addrs if n != lead)
    c = cl.client(other, timeout=15)
    c.put("warm", 1)
    cl.procs[lead].send_signal(signal.SIGSTOP)
    try:
        c.txn([["append", "l", 1]])          # forwarded to the paused leader first
        assert c.get("l") == [1]
        assert c.retries == 0                # the node retried, not the client
    finally:
        cl.procs[lead].send_signal(signal.SIGCONT)
    new = cl.leader()
    assert new != lead
    assert cl.client(new).get("l") == [1]


def test_lock_regranted_after_a_lease_ran_out_is_lease_expired_not_invalid(make_cluster) -> None:
    """A real Raft lock: the holder sits on it past its 1 s lease, another client gets
    it, the first one's release finds it gone. The checker calls that a lease that
    ran out (reported), never two valid holders."""
    from splitbrain.checker.lock import LockChecker
    from splitbrain.history.ops import Op

    cl = make_cluster(3)
    lead = cl.leader()
    a, b = cl.client(lead), cl.client(lead)
    t0 = time.monotonic_ns()
    hist: list[Op] = []

    def rec(p: int, typ: str, f: str, value=None) -> None:
        hist.append(Op(typ, p, f, value, "L", time=time.monotonic_ns() - t0, index=len(hist)))

    rec(0, "invoke", "acquire")
    tok_a = a.lock_acquire("L", "a", 1.0)
    rec(0, "ok", "acquire")
    with pytest.raises(RaftError) as ei:     # a's lease is running: b is refused
        b.lock_acquire("L", "b", 1.0)
    assert ei.value.status == 409
    time.sleep(1.3)                           # a is "paused" past its lease
    rec(1, "invoke", "acquire")
    tok_b = b.lock_acquire("L", "b", 1.0)
    rec(1, "ok", "acquire")
    assert tok_b > tok_a                      # fencing tokens grow
    rec(0, "invoke", "release")
    assert a.lock_release("L", tok_a) is False   # a's lease had run out: not a's any more
    rec(0, "ok", "release")
    rec(1, "invoke", "release")
    assert b.lock_release("L", tok_b) is True
    rec(1, "ok", "release")
    r = LockChecker(lease_s=1.0).check(hist).to_json()
    assert r["valid"] is True and r["two-holders-count"] == 0
    assert r["lease-expired-count"] == 1 and r["lease-expired"][0]["kind"] == "lease-expired"
    assert r["strict-mutex"]["linearizable"] is False

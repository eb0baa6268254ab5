"""ZooKeeper: our plumbing without a JVM — zoo.cfg, the JVM command line, srvr parsing,
znode naming, and the client's definite/indefinite mapping of kazoo's exceptions (the
kazoo calls are replaced by stand-ins that fail the way kazoo does).
(Real ZooKeeper runs in tests/integration/test_system_zookeeper.py.)
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from kazoo.exceptions import (
    BadVersionError,
    ConnectionClosedError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    OperationTimeoutError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError

from splitbrain.clusters.backends.local import LocalNode
from splitbrain.clusters.systems import get_system
from splitbrain.clusters.systems.zookeeper import (
    ZooKeeperClient,
    ZooKeeperSystem,
    parse_mode,
    znode_for,
)
from splitbrain.errors import ClientError


def nodes(tmp_path: Path, k: int = 3) -> list[LocalNode]:
    return [LocalNode(f"n{i}", f"127.0.0.{i}", str(tmp_path / f"n{i}")) for i in range(1, k + 1)]


def test_registry_and_options() -> None:
    assert get_system("zookeeper") is ZooKeeperSystem
    o = ZooKeeperSystem.parse_options({})
    assert o["sync"] is True and o["heap"] == "256m"   # linearizable reads by default
    assert ZooKeeperSystem.parse_options({"sync": "false"})["sync"] is False
    assert "stale reads, allowed by ZooKeeper's guarantees" in ZooKeeperSystem.options["sync"].help


def test_config_binds_each_server_to_its_address(tmp_path: Path) -> None:
    ns = nodes(tmp_path)
    s = ZooKeeperSystem(ns, {}, "t")
    cfg = dict(line.split("=", 1) for line in s.config(ns[1]).splitlines())
    assert cfg["clientPortAddress"] == "127.0.0.2"
    assert cfg["dataDir"] == f"{ns[1].work_dir}/zookeeper/data"
    assert cfg["4lw.commands.whitelist"] == "*"
    assert cfg["admin.enableServer"] == "false"
    assert [cfg[f"server.{i}"] for i in (1, 2, 3)] == [
        f"127.0.0.{i}:2888:3888" for i in (1, 2, 3)]
    assert int(cfg["maxSessionTimeout"]) >= 60000   # lock sessions keep their long timeouts
    assert [s.myid(n) for n in ns] == [1, 2, 3]


def test_jvm_command_is_small_and_foreground(tmp_path: Path) -> None:
    ns = nodes(tmp_path, 1)
    s = ZooKeeperSystem(ns, ZooKeeperSystem.parse_options({"heap": "128m"}), "t")
    cmd = s.command(ns[0])
    assert cmd[0] == "java" and "-Xmx128m" in cmd
    assert cmd[-2:] == ["org.apache.zookeeper.server.quorum.QuorumPeerMain",
                        f"{ns[0].work_dir}/zookeeper/zoo.cfg"]
    assert "/usr/share/java/zookeeper.jar" in cmd[cmd.index("-cp") + 1]


def test_parse_mode_and_znodes() -> None:
    assert parse_mode("Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\n"
                      "Mode: follower\nNode count: 5\n") == "follower"
    assert parse_mode("This ZooKeeper instance is not currently serving requests\n") is None
    assert znode_for("k7") == "/splitbrain/kv/k7"
    assert znode_for("a/b c") == "/splitbrain/kv/a%2Fb%20c"     # one znode, not a tree


class Result:
    """What kazoo's *_async calls return: something with get(timeout=)."""

    def __init__(self, value=None, exc: Exception | None = None) -> None:
        self.value, self.exc = value, exc

    def get(self, timeout=None):
        if self.exc is not None:
            raise self.exc
        return self.value


class FakeKazoo:
    """Stands in for KazooClient's async calls: scripted answers per method."""

    def __init__(self, **answers) -> None:
        self.answers = {k: list(v) for k, v in answers.items()}
        self.calls: list[tuple[str, tuple, dict]] = []

    def _answer(self, name, *args, **kw):
        self.calls.append((name, args, kw))
        a = self.answers[name].pop(0)
        return Result(exc=a) if isinstance(a, Exception) else Result(a)

    def __getattr__(self, name):
        if name.endswith("_async"):   # a bound method, as kazoo's are
            return types.MethodType(lambda me, *a, **k: me._answer(name[:-6], *a, **k), self)
        raise AttributeError(name)


class Stat:
    def __init__(self, version: int) -> None:
        self.version = version


def zk_client(tmp_path: Path, fake: FakeKazoo, **kw) -> ZooKeeperClient:
    c = ZooKeeperClient(nodes(tmp_path, 1)[0], **kw)
    c._zk = fake
    c._started.add(id(fake))          # no real session: the fake answers
    return c


def test_write_creates_when_absent(tmp_path: Path) -> None:
    fake = FakeKazoo(set=[NoNodeError()], create=["/splitbrain/kv/k"])
    zk_client(tmp_path, fake).write("k", [1])
    assert [c[0] for c in fake.calls] == ["set", "create"]
    assert fake.calls[1][1][1] == b"[1]" and fake.calls[1][2]["makepath"] is True


def test_cas_is_a_versioned_set(tmp_path: Path) -> None:
    fake = FakeKazoo(get=[(b"1", Stat(4)), (b"1", Stat(5)), (b"2", Stat(6))],
                     set=[Stat(5), BadVersionError()], create=[NodeExistsError()])
    c = zk_client(tmp_path, fake)
    assert c.cas("k", 1, 2) is True
    assert fake.calls[1][2]["version"] == 4
    assert c.cas("k", 1, 3) is False                 # BadVersion: someone wrote in between
    assert c.cas("k", 1, 3) is False                 # value differs: no set sent
    assert c.cas("k", None, 1) is False              # create-only, NodeExists
    assert [x[0] for x in fake.calls] == ["get", "set", "get", "set", "get", "create"]


def test_sync_before_read(tmp_path: Path) -> None:
    fake = FakeKazoo(sync=["/splitbrain/kv/k"], get=[(b'"v"', Stat(1))])
    assert zk_client(tmp_path, fake, sync=True).read("k") == "v"
    assert [x[0] for x in fake.calls] == ["sync", "get"]
    fake = FakeKazoo(get=[NoNodeError()])
    assert zk_client(tmp_path, fake).read("k") is None
    assert [x[0] for x in fake.calls] == ["get"]


@pytest.mark.parametrize("exc,write_definite", [
    (ConnectionLoss(), False),            # sent or queued: may be committed
    (OperationTimeoutError(), False),
    (SessionExpiredError(), False),       # in-flight ops fail with it when the session ends
    (KazooTimeoutError(), False),         # our wait ran out; kazoo may still send it
    (ConnectionClosedError("closed"), True),
])
def test_error_mapping(tmp_path: Path, exc: Exception, write_definite: bool) -> None:
    with pytest.raises(ClientError) as e:
        zk_client(tmp_path, FakeKazoo(set=[exc])).write("k", 1)
    assert e.value.definite is write_definite
    with pytest.raises(ClientError) as e:
        zk_client(tmp_path, FakeKazoo(get=[exc])).read("k")
    assert e.value.definite is True


def test_lock_gives_up_and_removes_its_znode(tmp_path: Path) -> None:
    d = "/splitbrain/locks/m"
    fake = FakeKazoo(create=[f"{d}/lock-0000000002"],
                     get_children=[["lock-0000000001", "lock-0000000002"]],
                     exists=[Stat(0)], delete=[True])
    c = zk_client(tmp_path, fake, lock_timeout=0.0)
    c._lock_zk, c._lock_lease = fake, 60.0
    with pytest.raises(ClientError) as e:
        c.lock_acquire("m", 10)
    assert e.value.definite is True
    assert fake.calls[-1] == ("delete", (f"{d}/lock-0000000002",), {})


def test_lock_whose_znode_could_not_be_removed_is_indefinite(tmp_path: Path) -> None:
    d = "/splitbrain/locks/m"
    fake = FakeKazoo(create=[f"{d}/lock-0000000002"],
                     get_children=[ConnectionLoss()], delete=[ConnectionLoss()])
    c = zk_client(tmp_path, fake)
    c._lock_zk, c._lock_lease = fake, 60.0
    with pytest.raises(ClientError) as e:
        c.lock_acquire("m", 10)
    assert e.value.definite is False
    assert c._lock_zk is None        # the session that may hold it is ended, not reused


def test_lock_calls_with_unknown_outcome_end_the_lock_session(tmp_path: Path) -> None:
    """A znode we may have created, or failed to delete, must not outlive the call in a
    live session: nobody would ever get the lock again (the client thinks it holds none)."""
    d = "/splitbrain/locks/m"
    fake = FakeKazoo(create=[ConnectionLoss()])
    c = zk_client(tmp_path, fake)
    c._lock_zk, c._lock_lease = fake, 60.0
    with pytest.raises(ClientError) as e:
        c.lock_acquire("m", 10)
    assert e.value.definite is False and c._lock_zk is None
    fake = FakeKazoo(delete=[ConnectionLoss()])
    c = zk_client(tmp_path, fake)
    c._lock_zk, c._lock_lease = fake, 60.0
    c._held.add(f"{d}/lock-0000000001")
    with pytest.raises(ClientError) as e:
        c.lock_release("m", f"{d}/lock-0000000001")
    assert e.value.definite is False and c._lock_zk is None and not c._held
    fake = FakeKazoo(delete=[NoNodeError()])      # already gone: fine, session kept
    c = zk_client(tmp_path, fake)
    c._lock_zk, c._lock_lease = fake, 60.0
    c.lock_release("m", f"{d}/lock-0000000001")
    assert c._lock_zk is fake


def test_lock_held_when_lowest(tmp_path: Path) -> None:
    d = "/splitbrain/locks/m"
    fake = FakeKazoo(create=[f"{d}/lock-0000000003"],
                     get_children=[["lock-0000000004", "lock-0000000003"]], delete=[True])
    c = zk_client(tmp_path, fake)
    c._lock_zk, c._lock_lease = fake, 60.0
    tok = c.lock_acquire("m", 10)
    assert tok == f"{d}/lock-0000000003"
    assert fake.calls[0][2] == {"ephemeral": True, "sequence": True, "makepath": True}
    c.lock_release("m", tok)
    assert fake.calls[-1] == ("delete", (tok,), {})


def test_lock_session_timeout_covers_the_lease(tmp_path: Path) -> None:
    c = ZooKeeperClient(nodes(tmp_path, 1)[0], session_timeout=5.0)
    zk = c._lock_session(12.0)
    assert zk._session_timeout == 12000          # the lease, not the KV session's 5 s
    assert c._lock_session(3.0) is zk            # a shorter lease fits the same session


class FakeTxn:
    """Records a multi's ops; commit answers with the scripted results."""

    def __init__(self, client: FakeKazoo, results) -> None:
        self.client, self.results, self.ops = client, results, []

    def __getattr__(self, name):
        if name in ("create", "set_data", "check", "delete"):
            return lambda *a, **k: self.ops.append((name, a, k))
        raise AttributeError(name)

    def commit_async(self):
        return Result(exc=self.results) if isinstance(self.results, Exception) \
            else Result(self.results)


def test_txn_is_one_multi_rechecking_every_read(tmp_path: Path) -> None:
    fake = FakeKazoo(ensure_path=[True],
                     get=[(b"[1]", Stat(3)), NoNodeError(), NoNodeError()])
    txns = []

    def transaction():
        txns.append(FakeTxn(fake, [True, True, True, True]))
        return txns[-1]
    fake.transaction = transaction
    c = zk_client(tmp_path, fake)
    out = c.txn([["append", "x", 2], ["r", "y", None], ["w", "z", 5]])
    assert out == [["append", "x", 2], ["r", "y", None], ["w", "z", 5]]
    assert txns[0].ops == [
        ("set_data", ("/splitbrain/kv/x", b"[1,2]"), {"version": 3}),
        ("create", ("/splitbrain/kv/y", b""), {}),        # y absent: create+delete asserts it
        ("delete", ("/splitbrain/kv/y",), {}),
        ("create", ("/splitbrain/kv/z", b"5"), {}),
    ]


def test_txn_rolled_back_is_retried_then_definite(tmp_path: Path) -> None:
    fake = FakeKazoo(ensure_path=[True], get=[(b"[]", Stat(1)), (b"[]", Stat(2))])
    fake.transaction = lambda: FakeTxn(fake, [BadVersionError()])
    c = zk_client(tmp_path, fake)
    c.txn_retries = 2
    with pytest.raises(ClientError) as e:
        c.txn([["append", "x", 1]])
    assert e.value.definite is True


def test_txn_unknown_outcome(tmp_path: Path) -> None:
    for ops, definite in ([["append", "x", 1]], False), ([["r", "x", None]], True):
        fake = FakeKazoo(ensure_path=[True], get=[(b"[]", Stat(1))])
        fake.transaction = lambda f=fake: FakeTxn(f, ConnectionLoss())
        with pytest.raises(ClientError) as e:
            zk_client(tmp_path, fake).txn(ops)
        assert e.value.definite is definite      # a check-only multi changes nothing

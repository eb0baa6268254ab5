"""etcd: our plumbing without a daemon — command lines, options, and the client's
request bodies and definite/indefinite error mapping through an httpx MockTransport.
(Real etcd runs in tests/integration/test_system_etcd.py.)
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from splitbrain.clusters.backends.local import LocalNode
from splitbrain.clusters.systems import get_system
from splitbrain.clusters.systems.etcd import (
    EtcdClient,
    EtcdSystem,
    classify_error,
    decode_value,
    encode_value,
)
from splitbrain.errors import ClientError, HarnessError


def nodes(tmp_path: Path, k: int = 3) -> list[LocalNode]:
    return [LocalNode(f"n{i}", f"127.0.0.{i}", str(tmp_path / f"n{i}")) for i in range(1, k + 1)]


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


class Script:
    """Answers requests with the given handlers in order; records the JSON bodies."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.bodies: list[tuple[str, dict]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append((request.url.path, json.loads(request.content or b"{}")))
        a = self.answers.pop(0)
        if isinstance(a, Exception):
            raise a
        status, body = a
        return httpx.Response(status, json=body)


def client(tmp_path: Path, script: Script, **kw) -> EtcdClient:
    return EtcdClient(nodes(tmp_path, 1)[0], transport=httpx.MockTransport(script), **kw)


def err(msg: str, code: int) -> dict:
    return {"error": msg, "message": msg, "code": code}


def test_registry_and_options() -> None:
    assert get_system("etcd") is EtcdSystem
    o = EtcdSystem.parse_options({"serializable": "true", "snapshot_count": "100"})
    assert o["serializable"] is True and o["snapshot_count"] == 100
    with pytest.raises(HarnessError, match="serializable"):
        EtcdSystem.parse_options({"serializable": "maybe"})


def test_bootstrap_command_and_unique_token(tmp_path: Path) -> None:
    ns = nodes(tmp_path)
    s1 = EtcdSystem(ns, EtcdSystem.parse_options({"snapshot_count": "50"}), "my test")
    s2 = EtcdSystem(ns, {}, "my test")
    assert s1.cluster_token != s2.cluster_token and s1.cluster_token.startswith("my-test-")
    initial = ",".join(f"{n.name}=http://{n.address}:2380" for n in ns)
    cmd = s1.command(ns[1], initial_cluster=initial, state="new")
    args = dict(zip(cmd[1::2], cmd[2::2], strict=False))
    assert args["--name"] == "n2"
    assert args["--data-dir"] == f"{ns[1].work_dir}/etcd"
    assert args["--listen-client-urls"] == "http://127.0.0.2:2379"
    assert args["--listen-peer-urls"] == "http://127.0.0.2:2380"
    assert args["--initial-cluster-token"] == s1.cluster_token
    assert args["--initial-cluster-state"] == "new"
    assert args["--snapshot-count"] == "50"
    assert "--snapshot-count" not in s2.command(ns[0], initial_cluster=initial, state="new")


def test_missing_binary_is_one_clear_error(tmp_path: Path) -> None:
    ns = nodes(tmp_path, 1)
    s = EtcdSystem(ns, EtcdSystem.parse_options({"etcd_binary": str(tmp_path / "no-etcd")}), "t")
    with pytest.raises(HarnessError, match="-o etcd_binary="):
        s.install(ns[0])


def test_values_are_canonical_json() -> None:
    assert encode_value({"b": 1, "a": [1, 2]}) == encode_value({"a": [1, 2], "b": 1})
    assert decode_value(encode_value([1, "x", None])) == [1, "x", None]


def test_read_write_and_serializable_flag(tmp_path: Path) -> None:
    sc = Script((200, {"header": {}}),
                (200, {"header": {}, "kvs": [{"key": b64("k"), "value": encode_value(5),
                                              "mod_revision": "7"}]}),
                (200, {"header": {}}))
    c = client(tmp_path, sc, serializable=True)
    c.write("k", 5)
    assert c.read("k") == 5
    assert c.read("absent") is None
    assert sc.bodies[0] == ("/v3/kv/put", {"key": b64("k"), "value": encode_value(5)})
    assert sc.bodies[1] == ("/v3/kv/range", {"key": b64("k"), "serializable": True})


def test_cas_compares_value_or_absence(tmp_path: Path) -> None:
    sc = Script((200, {"succeeded": True}), (200, {}), (200, {"succeeded": True}))
    c = client(tmp_path, sc)
    assert c.cas("k", 1, 2) is True
    assert c.cas("k", 1, 3) is False           # no "succeeded": the compare failed
    assert c.cas("k", None, 4) is True
    cmp0 = sc.bodies[0][1]["compare"][0]
    assert (cmp0["target"], cmp0["value"]) == ("VALUE", encode_value(1))
    cmp2 = sc.bodies[2][1]["compare"][0]
    assert (cmp2["target"], cmp2["create_revision"]) == ("CREATE", "0")


def test_txn_reads_then_commits_with_mod_revision_compares(tmp_path: Path) -> None:
    snap = {"responses": [
        {"response_range": {"kvs": [{"value": encode_value([1]), "mod_revision": "9"}]}},
        {"response_range": {}}]}
    sc = Script((200, snap), (200, {"succeeded": True}))
    out = client(tmp_path, sc).txn([["r", "x", None], ["append", "x", 2], ["w", "y", 7]])
    assert out == [["r", "x", [1]], ["append", "x", 2], ["w", "y", 7]]
    commit = sc.bodies[1][1]
    assert commit["compare"] == [
        {"key": b64("x"), "target": "MOD", "result": "EQUAL", "mod_revision": "9"},
        {"key": b64("y"), "target": "MOD", "result": "EQUAL", "mod_revision": "0"}]
    assert commit["success"] == [
        {"request_put": {"key": b64("x"), "value": encode_value([1, 2])}},
        {"request_put": {"key": b64("y"), "value": encode_value(7)}}]


def test_txn_conflict_retries_then_fails_definitely(tmp_path: Path) -> None:
    snap = {"responses": [{"response_range": {}}]}
    sc = Script((200, snap), (200, {}), (200, snap), (200, {}))
    with pytest.raises(ClientError) as e:
        client(tmp_path, sc, txn_retries=2).txn([["append", "x", 1]])
    assert e.value.definite is True and len(sc.bodies) == 4


def test_read_only_txn_makes_one_request(tmp_path: Path) -> None:
    sc = Script((200, {"responses": [{"response_range": {}}]}))
    assert client(tmp_path, sc).txn([["r", "x", None]]) == [["r", "x", None]]
    assert len(sc.bodies) == 1


@pytest.mark.parametrize("msg,code,definite", [
    ("etcdserver: request timed out", 14, False),
    ("etcdserver: request timed out, possibly due to previous leader failure", 14, False),
    ("etcdserver: leader changed", 14, False),
    ("etcdserver: server stopped", 14, False),
    ("etcdserver: no leader", 14, True),
    ("raft proposal dropped", 2, True),
    ("etcdserver: too many requests", 8, True),
    ("etcdserver: duplicate key given in txn request", 3, True),
    ("etcdserver: requested lease not found", 5, True),
    ("something new and strange", 2, False),
])
def test_write_error_mapping(tmp_path: Path, msg: str, code: int, definite: bool) -> None:
    assert classify_error(msg, code, mutating=True) is definite
    with pytest.raises(ClientError) as e:
        client(tmp_path, Script((503, err(msg, code)))).write("k", 1)
    assert e.value.definite is definite
    with pytest.raises(ClientError) as e:
        client(tmp_path, Script((503, err(msg, code)))).read("k")
    assert e.value.definite is True            # a read never has an effect


@pytest.mark.parametrize("exc,definite", [
    (httpx.ConnectError("refused"), True),
    (httpx.ConnectTimeout("unreachable"), True),
    (httpx.PoolTimeout("pool"), True),
    (httpx.ReadTimeout("slow"), False),
    (httpx.WriteTimeout("slow"), False),
    (httpx.RemoteProtocolError("server disconnected"), False),
    (httpx.ReadError("reset"), False),
])
def test_transport_error_mapping(tmp_path: Path, exc: Exception, definite: bool) -> None:
    with pytest.raises(ClientError) as e:
        client(tmp_path, Script(exc)).cas("k", 1, 2)
    assert e.value.definite is definite


def test_lock_grants_lease_and_revokes_on_unknown_outcome(tmp_path: Path) -> None:
    sc = Script((200, {"ID": "42", "TTL": "10"}), httpx.ReadTimeout("blocked"), (200, {}))
    with pytest.raises(ClientError) as e:
        client(tmp_path, sc).lock_acquire("m", 9.5)
    assert e.value.definite is False
    assert sc.bodies[0] == ("/v3/lease/grant", {"TTL": "10"})
    assert sc.bodies[1][1]["lease"] == "42"
    assert sc.bodies[2] == ("/v3/lease/revoke", {"ID": "42"})


def test_lock_whose_lease_grant_failed_is_definite(tmp_path: Path) -> None:
    with pytest.raises(ClientError) as e:
        client(tmp_path, Script(httpx.ReadTimeout("slow"))).lock_acquire("m", 5)
    assert e.value.definite is True


def test_lock_release_unlocks_then_revokes(tmp_path: Path) -> None:
    sc = Script((200, {}), (200, {}))
    client(tmp_path, sc).lock_release("m", {"key": "a2V5", "lease": "42"})
    assert [p for p, _ in sc.bodies] == ["/v3/lock/unlock", "/v3/lease/revoke"]


def test_an_empty_node_joins_an_existing_cluster(tmp_path: Path) -> None:
    ns = nodes(tmp_path)
    s = EtcdSystem(ns, {}, "t")
    assert not s._joins_running_cluster(ns[1])                # nothing bootstrapped yet
    (Path(ns[0].work_dir) / "etcd" / "member").mkdir(parents=True)
    s._in_setup = True
    assert not s._joins_running_cluster(ns[1])                # bootstrapping together
    s._in_setup = False
    assert s._joins_running_cluster(ns[1])                    # a System made for a live cluster
    assert not s._joins_running_cluster(ns[0])                # has data: restarts from it

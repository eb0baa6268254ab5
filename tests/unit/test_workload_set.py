"""The set workload: op shapes, cas and txn adds through FakeClient, error paths."""

from __future__ import annotations

import pytest
from fakes import FakeClient, take

from splitbrain.clusters.system import ADD, CAS, READ, WRITE
from splitbrain.errors import ClientError, HarnessError
from splitbrain.workloads.base import WorkloadConfig
from splitbrain.workloads.generator import OpSpec
from splitbrain.workloads.set import SetWorkload

CAS_ONLY = frozenset({READ, WRITE, CAS})


def make(**opts) -> SetWorkload:
    return SetWorkload(WorkloadConfig(key_count=3, options={"run-id": "t", **opts}))


def test_generator_unique_adds_and_reads() -> None:
    w = make()
    ops = take(w.generator(), 500, workers=5)
    adds = [op.value for op in ops if op.f == "add"]
    assert {op.f for op in ops} == {"add", "read"}
    assert len(adds) == len(set(adds)) > 300
    assert all(op.value is None for op in ops if op.f == "read")
    finals = take(w.final_generator(), 10, workers=5)
    assert [op.f for op in finals] == ["final-read"] * 5


@pytest.mark.parametrize("caps", [CAS_ONLY, None], ids=["cas", "txn"])
def test_adds_then_read(caps) -> None:
    w = make()
    c = FakeClient() if caps is None else FakeClient(capabilities=caps)
    for e in range(7):
        assert w.apply(c, OpSpec("add", e)) == ("ok", e)
    assert w.apply(c, OpSpec("read", None)) == ("ok", list(range(7)))
    used = {m for m, _ in c.calls}
    assert ("txn" in used) is (caps is None)
    assert ("cas" in used) is (caps is not None)
    # elements are spread over the keys
    assert sorted(len(c.store[k]) for k in w.keys) == [2, 2, 3]


def test_cas_add_retries_a_refusal_and_keeps_other_elements() -> None:
    w = make()
    c = FakeClient(capabilities=CAS_ONLY)
    c.inject("cas", ClientError("conflict", definite=True))
    assert w.apply(c, OpSpec("add", 3)) == ("ok", 3)
    assert w.apply(c, OpSpec("add", 0)) == ("ok", 0)
    assert c.store[w.key_of(0)] == [3, 0]


def test_indefinite_errors_propagate_and_read_errors_are_definite() -> None:
    w = make()
    c = FakeClient(capabilities=CAS_ONLY)
    c.inject("cas", ClientError("timeout", definite=False), applied=True)
    with pytest.raises(ClientError) as e:
        w.apply(c, OpSpec("add", 1))
    assert not e.value.definite
    c.inject("read", ClientError("timeout", definite=False))
    with pytest.raises(ClientError) as e:
        w.apply(c, OpSpec("add", 2))
    assert e.value.definite
    t = FakeClient()
    t.inject("txn", ClientError("timeout", definite=False))
    with pytest.raises(ClientError) as e:
        w.apply(t, OpSpec("add", 4))
    assert not e.value.definite


def test_read_flattens_and_keeps_duplicates_and_garbage() -> None:
    w = make()
    c = FakeClient(capabilities=CAS_ONLY)
    c.store[w.keys[0]] = [3, 0, 3]
    c.store[w.keys[1]] = "junk"
    assert w.apply(c, OpSpec("read", None)) == ("ok", [0, 3, 3, "junk"])


def test_mode_option_checked() -> None:
    with pytest.raises(HarnessError, match="set-mode"):
        make(**{"set-mode": "bogus"})
    w = make(**{"set-mode": "txn"})
    with pytest.raises(HarnessError, match="no txn capability"):
        w.apply(FakeClient(capabilities=CAS_ONLY), OpSpec("add", 1))
    w = make(**{"set-mode": "cas"})
    c = FakeClient()
    w.apply(c, OpSpec("add", 1))
    assert "txn" not in {m for m, _ in c.calls}


ADD_ONLY = frozenset({READ, WRITE, ADD})


def test_add_mode_needs_read_and_add_and_adds_once() -> None:
    """set-mode=add: one client.add per element (no cas), reads key by key."""
    w = make(**{"set-mode": "add"})
    assert w.requires == frozenset({READ, ADD})
    assert SetWorkload.requires == frozenset({READ, CAS})   # the class default is untouched
    c = FakeClient(capabilities=ADD_ONLY)
    for e in range(7):
        assert w.apply(c, OpSpec("add", e)) == ("ok", e)
    assert w.apply(c, OpSpec("read", None)) == ("ok", list(range(7)))
    assert [m for m, _ in c.calls].count("add") == 7
    assert {m for m, _ in c.calls} == {"add", "read"}
    assert c.store[w.key_of(4)] == [1, 4]


def test_add_mode_errors_propagate_with_their_verdict() -> None:
    w, c = make(**{"set-mode": "add"}), FakeClient(capabilities=ADD_ONLY)
    c.inject("add", ClientError("reached 1 of 2 replicas", definite=False), applied=True)
    with pytest.raises(ClientError) as e:
        w.apply(c, OpSpec("add", 5))
    assert not e.value.definite
    c.inject("add", ClientError("refused", definite=True))
    with pytest.raises(ClientError) as e:
        w.apply(c, OpSpec("add", 6))
    assert e.value.definite
    assert w.apply(c, OpSpec("read", None)) == ("ok", [5])


def test_add_mode_refuses_a_client_without_add() -> None:
    w = make(**{"set-mode": "add"})
    with pytest.raises(HarnessError, match="no add capability"):
        w.apply(FakeClient(capabilities=CAS_ONLY), OpSpec("add", 1))


def test_add_mode_is_listed() -> None:
    o = SetWorkload.declared_options()["set-mode"]
    assert "add" in o.choices and "add:" in o.help

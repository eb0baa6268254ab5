"""The bank workload: op shapes, cas and txn transfers through FakeClient, error paths."""

from __future__ import annotations

import pytest
from fakes import FakeClient, take

from splitbrain.clusters.system import CAS, READ, TXN, WRITE
from splitbrain.errors import ClientError, HarnessError
from splitbrain.workloads.bank import BankWorkload
from splitbrain.workloads.base import WorkloadConfig
from splitbrain.workloads.generator import OpSpec

CAS_ONLY = frozenset({READ, WRITE, CAS})


def make(**opts) -> BankWorkload:
    return BankWorkload(WorkloadConfig(key_count=3, options={"run-id": "t", **opts}))


def tr(a: str, b: str, n: int) -> OpSpec:
    return OpSpec("transfer", {"from": a, "to": b, "amount": n})


def test_generator_shapes() -> None:
    w = make()
    ops = take(w.generator(), 300, workers=3)
    assert {op.f for op in ops} == {"transfer", "read"}
    for op in ops:
        if op.f == "transfer":
            t = op.value
            assert t["from"] != t["to"] and {t["from"], t["to"]} <= set(w.accounts)
            assert 1 <= t["amount"] <= 5
    assert [op.f for op in take(w.final_generator(), 9, workers=3)] == ["final-read"] * 3


def test_cas_mode_transfers_conserve_and_refuse_overdraft() -> None:
    w, c = make(), FakeClient(capabilities=CAS_ONLY)
    assert w.requires == frozenset({READ, CAS})
    assert w.apply(c, OpSpec("read", None)) == ("ok", None)
    assert w.apply(c, tr("a0", "a1", 4))[0] == "ok"
    assert w.apply(c, tr("a0", "a2", 7)) == ("fail", {"from": "a0", "to": "a2", "amount": 7})
    assert w.apply(c, OpSpec("read", None)) == ("ok", {"a0": 6, "a1": 14, "a2": 10})


def test_cas_mode_error_paths() -> None:
    w, c = make(), FakeClient(capabilities=CAS_ONLY)
    w.apply(c, tr("a0", "a1", 1))
    c.inject("cas", ClientError("no leader", definite=True))
    assert w.apply(c, tr("a0", "a1", 1))[0] == "ok"   # retried
    c.inject("cas", ClientError("timeout", definite=False), applied=True)
    with pytest.raises(ClientError) as e:
        w.apply(c, tr("a0", "a1", 1))
    assert e.value.definite is False
    c.inject("read", ClientError("timeout", definite=False))
    with pytest.raises(ClientError) as e:
        w.apply(c, tr("a0", "a1", 1))
    assert e.value.definite is True
    assert sum(c.store[w.key].values()) == w.total == 30


def test_txn_mode_one_atomic_txn_per_transfer() -> None:
    w, c = make(**{"bank-mode": "txn"}), FakeClient()
    assert w.requires == frozenset({TXN})
    assert w.apply(c, tr("a0", "a1", 15)) == ("ok", {"from": "a0", "to": "a1", "amount": 15})
    assert w.apply(c, OpSpec("final-read", None)) == ("ok", {"a0": -5, "a1": 25, "a2": 10})
    assert [m for m, _ in c.calls] == ["txn", "txn"]
    c.inject("txn", ClientError("timeout", definite=False))
    with pytest.raises(ClientError):
        w.apply(c, tr("a0", "a1", 1))
    with pytest.raises(HarnessError, match="no txn capability"):
        w.apply(FakeClient(capabilities=CAS_ONLY), tr("a0", "a1", 1))


def test_txn_mode_checker_allows_negative_cas_mode_does_not() -> None:
    assert make(**{"bank-mode": "txn"}).checkers()[0].negative_allowed is True
    assert make().checkers()[0].negative_allowed is False


def test_bad_options() -> None:
    with pytest.raises(HarnessError, match="bank-mode"):
        make(**{"bank-mode": "2pc"})
    with pytest.raises(HarnessError, match="at least 2 accounts"):
        BankWorkload(WorkloadConfig(key_count=1))

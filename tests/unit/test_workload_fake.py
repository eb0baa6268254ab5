"""Tests of the fakes in fakes.py, so the workload tests rest on a fake that keeps the
Client contract."""

from __future__ import annotations

import pytest
from fakes import FakeClient, hist

from splitbrain.errors import ClientError


def test_fake_cas_none_means_absent() -> None:
    c = FakeClient()
    assert c.cas("k", None, 1) is True
    assert c.cas("k", None, 2) is False
    assert c.read("k") == 1


def test_fake_injected_error_before_and_after_effect() -> None:
    c = FakeClient()
    c.inject("write", ClientError("down", definite=True))
    with pytest.raises(ClientError):
        c.write("k", 1)
    assert c.read("k") is None
    c.inject("write", ClientError("timeout", definite=False), applied=True)
    with pytest.raises(ClientError):
        c.write("k", 2)
    assert c.read("k") == 2


def test_fake_txn_append_and_lock() -> None:
    c = FakeClient()
    c.txn([["append", "a", 1], ["append", "a", 2]])
    assert c.txn([["r", "a", None]]) == [["r", "a", [1, 2]]]
    other = FakeClient(c.store)
    tok = c.lock_acquire("l", 5)
    with pytest.raises(ClientError):
        other.lock_acquire("l", 5)
    c.lock_release("l", tok)
    assert other.lock_acquire("l", 5)


def test_hist_helper_orders_and_times() -> None:
    ops = hist([(0, "invoke", "read", None), (0, "ok", "read", 3, "k", 42)])
    assert [o.index for o in ops] == [0, 1]
    assert ops[1].key == "k" and ops[1].time == 42 and ops[0].time == 1_000_000

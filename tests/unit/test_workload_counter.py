"""The counter workload: op shapes and the read + cas retry loop's outcomes."""

from __future__ import annotations

import pytest
from fakes import FakeClient, take

from splitbrain.errors import ClientError
from splitbrain.workloads.base import WorkloadConfig
from splitbrain.workloads.counter import CounterWorkload
from splitbrain.workloads.generator import Context, OpSpec


def make(**opts) -> CounterWorkload:
    return CounterWorkload(WorkloadConfig(options={"run-id": "t", **opts}))


def test_generator_shapes() -> None:
    w = make()
    ops = take(w.generator(), 300, workers=3)
    assert {op.f for op in ops} == {"add", "read"}
    assert all(op.key == w.key for op in ops)
    assert all(1 <= op.value <= 5 for op in ops if op.f == "add")
    assert all(op.value is None for op in ops if op.f == "read")


def test_final_generator_one_read_per_worker() -> None:
    import random

    w = make()
    g = w.final_generator()
    rng = random.Random(0)
    for worker in range(3):
        ctx = Context(worker=worker, process=worker, concurrency=3, rng=rng)
        op = g.next(ctx)
        assert op is not None and op.f == "final-read" and op.key == w.key
        assert g.next(ctx) is None


def test_add_and_read() -> None:
    w, c = make(), FakeClient()
    assert w.apply(c, OpSpec("read", None, w.key)) == ("ok", 0)
    assert w.apply(c, OpSpec("add", 3, w.key)) == ("ok", 3)
    assert w.apply(c, OpSpec("add", 2, w.key)) == ("ok", 2)
    assert w.apply(c, OpSpec("final-read", None, w.key)) == ("ok", 5)


class Racing(FakeClient):
    """Another writer bumps the counter between every read and cas."""

    def read(self, key):
        v = super().read(key)
        self.store[key] = (self.store.get(key) or 0) + 1
        return v


def test_add_gives_up_with_fail_when_every_cas_is_refused() -> None:
    w = make(**{"max-retries": 3})
    c = Racing()
    assert w.apply(c, OpSpec("add", 1, w.key)) == ("fail", 1)
    assert [m for m, _ in c.calls].count("cas") == 3


def test_definite_cas_error_is_retried_and_indefinite_is_info() -> None:
    w, c = make(), FakeClient()
    c.inject("cas", ClientError("no leader", definite=True))
    assert w.apply(c, OpSpec("add", 2, w.key)) == ("ok", 2)
    assert c.store[w.key] == 2
    c.inject("cas", ClientError("timeout", definite=False), applied=True)
    with pytest.raises(ClientError) as e:
        w.apply(c, OpSpec("add", 1, w.key))
    assert e.value.definite is False
    assert c.store[w.key] == 3  # it did apply: recording fail would have been a lie


def test_read_error_inside_add_is_a_definite_fail() -> None:
    w, c = make(), FakeClient()
    c.inject("read", ClientError("timeout", definite=False))
    with pytest.raises(ClientError) as e:
        w.apply(c, OpSpec("add", 1, w.key))
    assert e.value.definite is True
    assert w.key not in c.store


def test_plain_read_error_propagates() -> None:
    w, c = make(), FakeClient()
    c.inject("read", ClientError("down", definite=True))
    with pytest.raises(ClientError):
        w.apply(c, OpSpec("read", None, w.key))

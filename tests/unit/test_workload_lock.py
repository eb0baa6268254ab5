"""The lock workload: alternation per worker, token handling, error paths, mutex model."""

from __future__ import annotations

import pytest
from fakes import FakeClient, hist, take

from splitbrain.errors import ClientError, HarnessError
from splitbrain.workloads.base import WorkloadConfig
from splitbrain.workloads.generator import OpSpec
from splitbrain.workloads.lock import LockWorkload


def make(**opts) -> LockWorkload:
    return LockWorkload(WorkloadConfig(options={"run-id": "t", **opts}))


def test_each_worker_alternates_acquire_release() -> None:
    w = make()
    ops = take(w.generator(), 12, workers=3)
    for worker in range(3):
        fs = [op.f for op in ops[worker::3]]
        assert fs == ["acquire", "release"] * 2
    assert {op.key for op in ops} == {w.lock_name}
    finals = take(w.final_generator(), 10, workers=2)
    assert [op.f for op in finals] == ["release", "release"]


def test_acquire_release_and_local_fails() -> None:
    w = make(**{"lease-s": "3"})
    a = FakeClient()
    b = FakeClient(a.store)
    assert w.apply(a, OpSpec("release", None, w.lock_name)) == ("fail", None)
    assert a.calls == []  # nothing was attempted
    assert w.apply(a, OpSpec("acquire", None, w.lock_name)) == ("ok", None)
    assert a.calls == [("lock_acquire", (w.lock_name, 3.0))]
    assert w.apply(a, OpSpec("acquire", None, w.lock_name)) == ("fail", None)
    with pytest.raises(ClientError):  # the fake refuses a held lock
        w.apply(b, OpSpec("acquire", None, w.lock_name))
    assert w.apply(a, OpSpec("release", None, w.lock_name)) == ("ok", None)
    assert w.apply(b, OpSpec("acquire", None, w.lock_name)) == ("ok", None)


def test_definite_release_error_keeps_the_token_indefinite_drops_it() -> None:
    w, c = make(), FakeClient()
    w.apply(c, OpSpec("acquire", None, "L"))
    c.inject("lock_release", ClientError("no leader", definite=True))
    with pytest.raises(ClientError):
        w.apply(c, OpSpec("release", None, "L"))
    assert w.holds(c)
    c.inject("lock_release", ClientError("timeout", definite=False))
    with pytest.raises(ClientError):
        w.apply(c, OpSpec("release", None, "L"))
    assert not w.holds(c)


def test_acquire_error_holds_nothing() -> None:
    w, c = make(), FakeClient()
    c.inject("lock_acquire", ClientError("timeout", definite=False))
    with pytest.raises(ClientError):
        w.apply(c, OpSpec("acquire", None, "L"))
    assert not w.holds(c)


def test_bad_lease_option() -> None:
    with pytest.raises(HarnessError, match="lease-s"):
        make(**{"lease-s": "soon"})


def test_mutex_model_flags_two_acquires_without_release() -> None:
    lin = make().checkers()[0]
    assert lin.name == "linearizability" and make().model() == "mutex"
    good = hist([(0, "invoke", "acquire", None), (0, "ok", "acquire", None),
                 (0, "invoke", "release", None), (0, "ok", "release", None),
                 (1, "invoke", "acquire", None), (1, "ok", "acquire", None),
                 (2, "invoke", "release", None), (2, "fail", "release", None)])
    assert lin.check(good).to_json()["valid"] is True
    bad = hist([(0, "invoke", "acquire", None), (0, "ok", "acquire", None),
                (1, "invoke", "acquire", None), (1, "ok", "acquire", None)])
    assert lin.check(bad).to_json()["valid"] is False
    # an info release may have happened: a later acquire is fine
    maybe = hist([(0, "invoke", "acquire", None), (0, "ok", "acquire", None),
                  (0, "invoke", "release", None), (0, "info", "release", None),
                  (1, "invoke", "acquire", None), (1, "ok", "acquire", None)])
    assert lin.check(maybe).to_json()["valid"] is True

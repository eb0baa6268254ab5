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


def test_lock_checker_decides_and_the_mutex_model_is_only_information() -> None:
    """A lease lock is judged by the lease-aware checker; the strict mutex model would
    call every expired lease a violation, so it is reported inside the lock checker."""
    w = make()
    names = [c.name for c in w.checkers()]
    assert names == ["lock", "stats"] and w.model() == "mutex"
    lock = w.checkers()[0]
    bad = hist([(0, "invoke", "acquire", None, "L", 0), (0, "ok", "acquire", None, "L", 10),
                (1, "invoke", "acquire", None, "L", 20), (1, "ok", "acquire", None, "L", 30)])
    r = lock.check(bad).to_json()
    assert r["valid"] is False and r["strict-mutex"]["linearizable"] is False


def test_a_worker_releases_before_its_phase_ends() -> None:
    """The generator's closing op is the release owed after an acquire, and only that."""
    from splitbrain.workloads.generator import Context

    w = make()
    gen = w.generator()
    ctx = Context(worker=0, process=0, concurrency=2, rng=__import__("random").Random(1))
    assert gen.closing(ctx) is None                    # never asked: nothing owed
    assert gen.next(ctx).f == "acquire"
    closing = gen.closing(ctx)
    assert closing is not None and closing.f == "release"
    assert gen.closing(ctx) is None                    # owed once
    assert gen.next(ctx).f == "acquire"                # back in step
    ctx1 = Context(worker=1, process=1, concurrency=2, rng=ctx.rng)
    assert gen.closing(ctx1) is None


def test_release_after_the_lease_says_so(monkeypatch) -> None:
    import splitbrain.workloads.lock as lockmod

    w, c = make(**{"lease-s": "3"}), FakeClient()
    clock = iter([100.0, 104.5])
    monkeypatch.setattr(lockmod.time, "monotonic", lambda: next(clock))
    assert w.apply(c, OpSpec("acquire", None, "L")) == ("ok", None)
    assert w.apply(c, OpSpec("release", None, "L")) == ("ok", {"lease-expired": True,
                                                                "held-s": 4.5})

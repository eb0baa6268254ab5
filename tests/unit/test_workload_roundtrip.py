"""Each workload end to end on a tiny in-process stand-in for the runner: workers
interleave at random, ops apply atomically to a shared FakeClient store, errors are
injected, and every checker must call the history valid — and must call it invalid
when the fake is made to misbehave in the way the checker is there to catch."""

from __future__ import annotations

import random
from typing import Any

import pytest
from fakes import FakeClient
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.clusters.system import CAS, READ, WRITE
from splitbrain.errors import ClientError
from splitbrain.history.ops import Op, validate
from splitbrain.verdict import merge as merge_valid
from splitbrain.workloads import get_workload
from splitbrain.workloads.base import Workload, WorkloadConfig
from splitbrain.workloads.generator import Context

METHODS = ("read", "write", "cas", "txn", "lock_acquire", "lock_release")


def simulate(w: Workload, make_client, *, ops: int = 300, concurrency: int = 4,
             fault_rate: float = 0.0, seed: int = 7, abandon_rate: float = 0.0) -> list[Op]:
    """Run the main phase for ``ops`` invocations, then the final phase; return the history.

    With ``abandon_rate``, some ops are applied (or not) and never completed in the
    history, as when a worker hangs past the end of the run."""
    rng = random.Random(seed)
    history: list[Op] = []
    clients = [make_client() for _ in range(concurrency)]
    process = list(range(concurrency))
    pending: dict[int, Any] = {}
    clock = [0]

    def record(t: str, p: int, spec: Any, value: Any) -> None:
        clock[0] += 1_000_000
        history.append(Op(type=t, process=p, f=spec.f, value=value, key=spec.key,
                          time=clock[0], index=len(history)))

    def complete(wk: int) -> None:
        spec = pending.pop(wk)
        c = clients[wk]
        if rng.random() < fault_rate:
            definite = rng.random() < 0.5
            c.inject(rng.choice(METHODS), ClientError("injected", definite=definite),
                     applied=not definite and rng.random() < 0.5)
        abandon = rng.random() < abandon_rate
        if abandon and rng.random() < 0.5:  # hung before doing anything
            process[wk] += concurrency
            return
        try:
            typ, value = w.apply(c, spec)
        except ClientError as e:
            typ, value = ("fail" if e.definite else "info"), spec.value
        if abandon:  # hung after its effect: the completion is never recorded
            process[wk] += concurrency
            c._faults.clear()
            return
        record(typ, process[wk], spec, value)
        if typ == "info":
            process[wk] += concurrency
        c._faults.clear()

    def run(gen, budget: int | None) -> None:
        done: set[int] = set()
        n = 0
        while len(done) < concurrency or pending:
            wk = rng.randrange(concurrency)
            if wk in pending:
                complete(wk)
                continue
            if wk in done or (budget is not None and n >= budget):
                done.add(wk)
                continue
            spec = gen.next(Context(worker=wk, process=process[wk], concurrency=concurrency,
                                    rng=rng))
            if spec is None:
                done.add(wk)
                continue
            n += 1
            pending[wk] = spec
            record("invoke", process[wk], spec, spec.value)

    run(w.generator(), ops)
    final = w.final_generator()
    if final is not None:
        run(final, None)
    validate(history)
    return history


def verdicts(w: Workload, history: list[Op]) -> dict[str, Any]:
    return {c.name: c.check(history).to_json() for c in w.checkers()}


def workload(name: str, **opts) -> Workload:
    return get_workload(name)(WorkloadConfig(concurrency=4, ops_per_key=40, key_count=3,
                                             options={"run-id": "rt", **opts}))


CASES = [("register", {}, None), ("counter", {}, None), ("set", {}, None),
         ("set", {}, frozenset({READ, WRITE, CAS})), ("append", {}, None), ("lock", {}, None),
         ("bank", {}, None), ("bank", {"bank-mode": "txn"}, None)]


@pytest.mark.parametrize("fault_rate", [0.0, 0.2], ids=["clean", "faults"])
@pytest.mark.parametrize("name,opts,caps", CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_correct_system_gives_valid_history(name, opts, caps, fault_rate) -> None:
    w = workload(name, **opts)
    store: dict[str, Any] = {}
    h = simulate(w, lambda: FakeClient(store) if caps is None else FakeClient(store, caps),
                 fault_rate=fault_rate)
    res = verdicts(w, h)
    safety = {k: v for k, v in res.items() if k != "stats"}
    assert all(v["valid"] is True for v in safety.values()), res
    assert merge_valid(v["valid"] for v in safety.values()) is True
    if fault_rate:
        assert res["stats"]["fail"] + res["stats"]["info"] > 0


class LyingCas(FakeClient):
    """Every 5th cas says yes but writes nothing."""

    n = 0

    def cas(self, key, expected, new):
        LyingCas.n += 1
        if LyingCas.n % 5 == 0 and self.store.get(key) == expected:
            self.calls.append(("cas", (key, expected, new)))
            return True
        return super().cas(key, expected, new)


class TornTxn(FakeClient):
    """Every 4th txn applies only its first micro-op but reports success."""

    n = 0

    def txn(self, ops):
        TornTxn.n += 1
        if TornTxn.n % 4 == 0 and len(ops) > 1 and ops[0][0] != "r":
            super().txn(ops[:1])
            return ops
        return super().txn(ops)


class FreeForAll(FakeClient):
    """Grants the lock to whoever asks."""

    def lock_acquire(self, name, lease_s):
        self.locks.pop(name, None)
        return super().lock_acquire(name, lease_s)


class StaleReads(FakeClient):
    """Reads answer from a snapshot taken at the first read."""

    snap: dict[str, Any] | None = None

    def read(self, key):
        if StaleReads.snap is None:
            StaleReads.snap = dict(self.store)
        return StaleReads.snap.get(key)


@pytest.mark.parametrize("name,opts,cls,checker", [
    ("counter", {}, LyingCas, "counter"),
    ("set", {"set-mode": "cas"}, LyingCas, "set"),
    ("register", {}, LyingCas, "linearizability"),
    ("bank", {"bank-mode": "txn"}, TornTxn, "bank"),
    ("append", {}, TornTxn, "elle"),
    ("lock", {}, FreeForAll, "lock"),
    ("register", {}, StaleReads, "linearizability"),
])
def test_misbehaving_system_is_caught(name, opts, cls, checker) -> None:
    cls.n = 0
    if cls is StaleReads:
        StaleReads.snap = None
    w = workload(name, **opts)
    store: dict[str, Any] = {}
    h = simulate(w, lambda: cls(store))
    res = verdicts(w, h)
    assert res[checker]["valid"] is False, res[checker]


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32), fault=st.sampled_from([0.0, 0.1, 0.4]),
       abandon=st.sampled_from([0.0, 0.05]),
       case=st.sampled_from([("counter", {}), ("set", {"set-mode": "cas"}),
                             ("set", {"set-mode": "txn"}), ("bank", {}),
                             ("bank", {"bank-mode": "txn"}), ("lock", {})]))
def test_workload_checkers_never_call_a_correct_system_invalid(seed, fault, abandon,
                                                              case) -> None:
    name, opts = case
    w = workload(name, **opts)
    store: dict[str, Any] = {}
    h = simulate(w, lambda: FakeClient(store), ops=120, fault_rate=fault, seed=seed,
                 abandon_rate=abandon)
    for c in w.checkers():
        if c.name in ("stats", "linearizability"):
            continue
        r = c.check(h).to_json()
        assert r["valid"] is not False, (c.name, r)

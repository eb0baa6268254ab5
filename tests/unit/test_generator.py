"""The generator combinators the workloads are built from."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from splitbrain.workloads.generator import (
    Context,
    EachWorker,
    Fn,
    Independent,
    Limit,
    Mix,
    Once,
    OpSpec,
    Seq,
)


def ctx(worker: int = 0, seed: int = 1, concurrency: int = 4) -> Context:
    return Context(worker=worker, process=worker, concurrency=concurrency,
                   rng=random.Random(seed))


def test_mix_follows_its_weights() -> None:
    g = Mix([(3, lambda r: OpSpec("read")), (1, lambda r: OpSpec("write", 1))])
    c = ctx()
    counts = Counter(g.next(c).f for _ in range(4000))
    assert 0.7 < counts["read"] / 4000 < 0.8
    with pytest.raises(ValueError):
        Mix([])


def test_limit_counts_ops_not_calls() -> None:
    g = Limit(3, Fn(lambda c: OpSpec("x") if c.worker == 0 else None))
    assert g.next(ctx(1)) is None        # a worker with nothing does not use up the limit
    assert [g.next(ctx(0)) is not None for _ in range(5)] == [True, True, True, False, False]


def test_each_worker_runs_its_own_copy_once() -> None:
    g = EachWorker(lambda: Once(OpSpec("final-read")))
    assert g.next(ctx(0)).f == "final-read" and g.next(ctx(0)) is None
    assert g.next(ctx(1)).f == "final-read" and g.next(ctx(1)) is None


def test_seq_moves_on_when_a_generator_is_done() -> None:
    g = Seq([Once(OpSpec("a")), Once(OpSpec("b"))])
    assert [g.next(ctx()).f, g.next(ctx()).f, g.next(ctx())] == ["a", "b", None]


def test_independent_keys_rotate_per_group() -> None:
    g = Independent(lambda: Fn(lambda c: OpSpec("w")), group_size=2, ops_per_key=3, prefix="k")
    keys = [g.next(ctx(w)).key for w in (0, 1, 0, 2, 3, 2)]
    assert keys[:3] == ["k0", "k0", "k0"]         # workers 0 and 1 share a key
    assert keys[3:] == ["k1", "k1", "k1"]         # workers 2 and 3 share another
    assert g.next(ctx(0)).key == "k2"             # after 3 ops a key is retired
    assert g.keys() == ["k0", "k1", "k2"]
    limited = Independent(lambda: Fn(lambda c: OpSpec("w")), group_size=1, ops_per_key=1,
                          prefix="q", max_keys=2)
    assert [limited.next(ctx()).key, limited.next(ctx()).key, limited.next(ctx())] == \
        ["q0", "q1", None]


def test_same_seed_same_ops() -> None:
    def run(seed: int) -> list:
        g = Mix([(1, lambda r: OpSpec("w", r.randint(0, 9))), (1, lambda r: OpSpec("r"))])
        c = ctx(seed=seed)
        return [(o.f, o.value) for o in (g.next(c) for _ in range(50))]
    assert run(7) == run(7) and run(7) != run(8)

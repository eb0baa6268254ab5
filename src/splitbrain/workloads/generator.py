"""Generators: what each worker does next.

A generator is asked, under the runner's lock, for the next op of one worker;
it returns an :class:`OpSpec` or ``None`` when it has nothing more for that
worker. Generators here are small and composable (Jepsen's idea, a much
smaller vocabulary): a weighted mix, op-count limits, independent keys,
sequences and once-per-worker final ops. Time limits and rate are applied by
the runner.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class OpSpec:
    """An op to invoke: function, value and (for keyed workloads) key."""

    f: str
    value: Any = None
    key: Any = None


@dataclass(slots=True)
class Context:
    """What a generator may look at: the worker, its current process, a seeded rng."""

    worker: int
    process: int
    concurrency: int
    rng: random.Random
    time_ns: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Generator(ABC):
    """Produces ops for workers. Called with the runner's generator lock held."""

    @abstractmethod
    def next(self, ctx: Context) -> OpSpec | None:
        """The next op for ``ctx.worker``, or None if this worker is done."""

    def closing(self, ctx: Context) -> OpSpec | None:
        """An op ``ctx.worker`` must still do when its phase ends (e.g. release a lock
        it holds), or None. Asked once per worker, after its last ``next``."""
        return None


OpFn = Callable[[random.Random], OpSpec]


class Mix(Generator):
    """A weighted random mix of op makers, forever: ``Mix([(3, read), (1, write)])``."""

    def __init__(self, choices: Sequence[tuple[float, OpFn]]) -> None:
        if not choices:
            raise ValueError("Mix needs at least one choice")
        self.fns = [fn for _, fn in choices]
        self.weights = [float(w) for w, _ in choices]
        total = sum(self.weights)
        acc, self.cum = 0.0, []
        for w in self.weights:
            acc += w / total
            self.cum.append(acc)

    def next(self, ctx: Context) -> OpSpec | None:
        r = ctx.rng.random()
        for i, c in enumerate(self.cum):
            if r <= c:
                return self.fns[i](ctx.rng)
        return self.fns[-1](ctx.rng)


class Limit(Generator):
    """At most ``n`` ops in total from ``inner``."""

    def __init__(self, n: int, inner: Generator) -> None:
        self.left, self.inner = n, inner

    def next(self, ctx: Context) -> OpSpec | None:
        if self.left <= 0:
            return None
        op = self.inner.next(ctx)
        if op is not None:
            self.left -= 1
        return op


class Fn(Generator):
    """Ops from a function of the context (returns None when done)."""

    def __init__(self, fn: Callable[[Context], OpSpec | None]) -> None:
        self.fn = fn

    def next(self, ctx: Context) -> OpSpec | None:
        return self.fn(ctx)


class EachWorker(Generator):
    """Every worker runs its own copy of ``factory()`` (e.g. a final read per worker)."""

    def __init__(self, factory: Callable[[], Generator]) -> None:
        self.factory = factory
        self.gens: dict[int, Generator] = {}

    def next(self, ctx: Context) -> OpSpec | None:
        g = self.gens.get(ctx.worker)
        if g is None:
            g = self.gens[ctx.worker] = self.factory()
        return g.next(ctx)

    def closing(self, ctx: Context) -> OpSpec | None:
        g = self.gens.get(ctx.worker)
        return None if g is None else g.closing(ctx)


class Once(Generator):
    """A single op (per copy): combine with EachWorker for once-per-worker ops."""

    def __init__(self, op: OpSpec) -> None:
        self.op: OpSpec | None = op

    def next(self, ctx: Context) -> OpSpec | None:
        op, self.op = self.op, None
        return op


class Seq(Generator):
    """Run generators one after another (per the whole run, not per worker)."""

    def __init__(self, gens: Sequence[Generator]) -> None:
        self.gens = list(gens)
        self.i = 0

    def next(self, ctx: Context) -> OpSpec | None:
        while self.i < len(self.gens):
            op = self.gens[self.i].next(ctx)
            if op is not None:
                return op
            self.i += 1
        return None


class Independent(Generator):
    """Independent keys: workers form groups of ``group_size``; each group works on
    one key through its own ``factory()`` generator, and after ``ops_per_key`` ops
    the key is retired and a fresh one takes its place.

    Keys are ``prefix + str(n)`` with n counting up across the run, so histories
    can be checked key by key (P-compositionality).
    """

    def __init__(self, factory: Callable[[], Generator], *, group_size: int,
                 ops_per_key: int, prefix: str = "k", max_keys: int | None = None) -> None:
        if group_size < 1 or ops_per_key < 1:
            raise ValueError("group_size and ops_per_key must be >= 1")
        self.factory, self.group_size, self.ops_per_key = factory, group_size, ops_per_key
        self.prefix, self.max_keys = prefix, max_keys
        self.next_key = 0
        self.groups: dict[int, list[Any]] = {}  # group -> [key, generator, ops issued]

    def _fresh(self) -> list[Any] | None:
        if self.max_keys is not None and self.next_key >= self.max_keys:
            return None
        k = f"{self.prefix}{self.next_key}"
        self.next_key += 1
        return [k, self.factory(), 0]

    def next(self, ctx: Context) -> OpSpec | None:
        g = ctx.worker // self.group_size
        st = self.groups.get(g)
        if st is None or st[2] >= self.ops_per_key:
            st = self._fresh()
            if st is None:
                return None
            self.groups[g] = st
        op = st[1].next(ctx)
        if op is None:  # the per-key generator ran dry: move on
            st[2] = self.ops_per_key
            return self.next(ctx) if self.max_keys is None or self.next_key < self.max_keys else None
        st[2] += 1
        op.key = st[0]
        return op

    def keys(self) -> list[str]:
        """Every key handed out so far."""
        return [f"{self.prefix}{i}" for i in range(self.next_key)]

"""Fakes for the harness's own plumbing in unit tests (never a system under test):
FakeClient (an in-memory Client), ``take`` (ops from a generator) and ``hist``
(a history from compact tuples). test_workload_fake.py tests the fakes themselves."""

from __future__ import annotations

import copy
import itertools
import random
from typing import Any

from splitbrain.clusters.system import CAS, DELETE, LOCK, READ, TXN, WRITE, Client
from splitbrain.errors import ClientError
from splitbrain.workloads.generator import Context, Generator, OpSpec

ALL_CAPS = frozenset({READ, WRITE, CAS, DELETE, TXN, LOCK})


class FakeClient(Client):
    """A dict-backed client. ``inject(method, error, applied=...)`` makes the next call
    of ``method`` raise ``error`` — before its effect, or after it when ``applied``."""

    def __init__(self, store: dict[str, Any] | None = None,
                 capabilities: frozenset[str] = ALL_CAPS) -> None:
        self.store: dict[str, Any] = {} if store is None else store
        self.capabilities = capabilities  # type: ignore[misc]
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._faults: list[tuple[str, Exception, bool]] = []
        self._tokens = itertools.count(1)
        self.locks: dict[str, Any] = self.store.setdefault("__locks__", {})

    def inject(self, method: str, error: Exception, *, applied: bool = False,
               times: int = 1) -> None:
        self._faults.extend([(method, error, applied)] * times)

    def _fault(self, method: str) -> tuple[Exception, bool] | None:
        for i, (m, e, applied) in enumerate(self._faults):
            if m == method:
                del self._faults[i]
                return e, applied
        return None

    def _call(self, method: str, args: tuple[Any, ...], effect: Any) -> Any:
        self.calls.append((method, args))
        fault = self._fault(method)
        if fault is not None and not fault[1]:
            raise fault[0]
        result = effect()
        if fault is not None:
            raise fault[0]
        return result

    def read(self, key: str) -> Any:
        return self._call("read", (key,), lambda: copy.deepcopy(self.store.get(key)))

    def write(self, key: str, value: Any) -> None:
        self._call("write", (key, value),
                   lambda: self.store.__setitem__(key, copy.deepcopy(value)))

    def add(self, key: str, element: Any) -> None:
        """A grow-only set: ``element`` joins the list at ``key`` unless already there."""
        def effect() -> None:
            cur = self.store.setdefault(key, [])
            if element not in cur:
                cur.append(copy.deepcopy(element))
        self._call("add", (key, element), effect)

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        def effect() -> bool:
            if self.store.get(key) != expected:
                return False
            self.store[key] = copy.deepcopy(new)
            return True
        return self._call("cas", (key, expected, new), effect)

    def txn(self, ops: list[list[Any]]) -> list[list[Any]]:
        def effect() -> list[list[Any]]:
            out = []
            for f, k, v in ops:
                if f == "r":
                    out.append([f, k, copy.deepcopy(self.store.get(k))])
                elif f == "w":
                    self.store[k] = copy.deepcopy(v)
                    out.append([f, k, v])
                elif f == "append":
                    self.store[k] = [*(self.store.get(k) or []), v]
                    out.append([f, k, v])
                else:
                    raise ValueError(f"bad micro-op {f!r}")
            return out
        return self._call("txn", (copy.deepcopy(ops),), effect)

    def lock_acquire(self, name: str, lease_s: float) -> Any:
        def effect() -> Any:
            if name in self.locks:
                raise ClientError("lock held by another", definite=True)
            tok = next(self._tokens)
            self.locks[name] = (id(self), tok)
            return tok
        return self._call("lock_acquire", (name, lease_s), effect)

    def lock_release(self, name: str, token: Any) -> None:
        def effect() -> None:
            if self.locks.get(name) != (id(self), token):
                raise ClientError("not the holder", definite=True)
            del self.locks[name]
        self._call("lock_release", (name, token), effect)



def take(gen: Generator, n: int, *, workers: int = 1, seed: int = 1) -> list[OpSpec]:
    """Up to ``n`` ops from ``gen``, asking workers round-robin (stops at the first None)."""
    rng = random.Random(seed)
    out: list[OpSpec] = []
    for i in range(n):
        w = i % workers
        op = gen.next(Context(worker=w, process=w, concurrency=workers, rng=rng))
        if op is None:
            break
        out.append(op)
    return out


# -- the fake keeps the Client contract --------------------------------------------------


def hist(events: list[tuple[Any, ...]], *, step_ns: int = 1_000_000) -> list:
    """Ops from ``(process, type, f, value[, key[, time_ns]])`` tuples, indexed in order;
    without an explicit time, op i happens at ``i * step_ns``."""
    from splitbrain.history.ops import Op

    ops = []
    for i, ev in enumerate(events):
        p, t, f, v = ev[:4]
        key = ev[4] if len(ev) > 4 else None
        tm = ev[5] if len(ev) > 5 else (i + 1) * step_ns
        ops.append(Op(type=t, process=p, f=f, value=v, key=key, time=tm, index=i))
    return ops

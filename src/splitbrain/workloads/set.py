"""The ``set`` workload: unique adds to a set, reads, and final reads after heal.

Every element is a distinct int, added once. The set is spread over ``key-count``
keys (element e lives under key ``e % key-count``) to keep contention down. Each
key holds a list:

* with the ``txn`` capability (and ``-w set-mode`` not ``cas``), an add is one
  ``["append", key, e]`` micro-op and a read is one txn reading every key — one
  atomic snapshot;
* otherwise an add is a read + ``cas(key, old, old + [e])`` retry loop (a missing
  key holds None: ``cas(key, None, [e])`` creates it only if absent), and a read
  reads the keys one by one. Reading keys one by one is fine for the checker:
  each element lives in exactly one key, so each element's presence is judged by
  one read of one key made inside the read op's interval;
* with ``-w set-mode=add`` (needs ``read`` and ``add``), an add is one
  ``client.add(key, e)``: the key holds a grow-only set that the store merges by
  union (a leaderless quorum store, which has no cas), and reads read the keys one
  by one as in cas mode. The checker is the same: an acknowledged add must be in
  every read invoked after it, so a store whose reads miss a quorum's adds shows
  stale or lost elements.

Add outcomes never lie: a refused cas is retried; an errored read gives up with a
definite fail (nothing was written); a cas, append or add whose outcome is unknown
is ``info``. The loop appends even if the element already seems present, so a cas
that said "no" yet applied shows up as a duplicate instead of being hidden.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from splitbrain.checker.base import Checker
from splitbrain.checker.set_checker import SetChecker
from splitbrain.checker.stats import StatsChecker
from splitbrain.clusters.system import ADD, CAS, READ, TXN, Client
from splitbrain.errors import HarnessError
from splitbrain.workloads.base import IntAtLeast, Workload, WorkloadConfig, WorkloadOption
from splitbrain.workloads.cas_update import cas_update
from splitbrain.workloads.generator import EachWorker, Generator, Mix, Once, OpSpec
from splitbrain.workloads.naming import run_prefix

MODES = ("auto", "cas", "txn", "add")


class SetWorkload(Workload):
    """Unique adds and reads of a set; lost / duplicated / unexpected / stale elements."""

    name = "set"
    requires = frozenset({READ, CAS})
    options = {
        "key-count": WorkloadOption(3, "keys the set is spread over", IntAtLeast(1)),
        "max-retries": WorkloadOption(20, "refused cas attempts of one add before it fails",
                                      IntAtLeast(1)),
        "set-mode": WorkloadOption("auto", "txn: an add is one append txn (needs txn); cas: "
                                   "read + cas (needs read, cas); add: one add to a "
                                   "grow-only set merged by union (needs read, add); "
                                   "auto: txn where offered, else cas",
                                   choices=MODES),
    }

    def __init__(self, config: WorkloadConfig) -> None:
        super().__init__(config)
        prefix = run_prefix(config, "set")
        n = config.key_count or config.options["key-count"]
        if n < 1:
            raise HarnessError(f"set workload: key count must be at least 1, got {n}")
        self.keys = [f"{prefix}{i}" for i in range(n)]
        self.max_retries = config.options["max-retries"]
        self.mode = config.options["set-mode"]
        if self.mode == "txn":
            self.requires = frozenset({TXN})  # type: ignore[misc]
        elif self.mode == "add":
            self.requires = frozenset({READ, ADD})  # type: ignore[misc]
        self._elements = itertools.count()

    def generator(self) -> Generator:
        elements = self._elements  # the runner calls generators under its lock

        def add(rng: random.Random) -> OpSpec:
            return OpSpec("add", next(elements))

        def read(rng: random.Random) -> OpSpec:
            return OpSpec("read", None)

        return Mix([(4, add), (1, read)])

    def final_generator(self) -> Generator | None:
        return EachWorker(lambda: Once(OpSpec("final-read", None)))

    def key_of(self, element: int) -> str:
        """The key an element is stored under."""
        return self.keys[element % len(self.keys)]

    def uses_txn(self, client: Client) -> bool:
        """Whether adds and reads go through ``txn`` for this client."""
        if self.mode == "txn":
            if TXN not in client.capabilities:
                raise HarnessError("set workload: set-mode=txn but the system's client has no "
                                   "txn capability; use set-mode=cas")
            return True
        return self.mode == "auto" and TXN in client.capabilities

    def apply(self, client: Client, op: OpSpec) -> tuple[str, Any]:
        if op.f in ("read", "final-read"):
            return "ok", self._read(client)
        if op.f == "add":
            if self.mode == "add":
                if ADD not in client.capabilities:
                    raise HarnessError("set workload: set-mode=add but the system's client "
                                       "has no add capability; use set-mode=cas or txn")
                client.add(self.key_of(op.value), op.value)
                return "ok", op.value
            if self.uses_txn(client):
                client.txn([["append", self.key_of(op.value), op.value]])
                return "ok", op.value
            return self._cas_add(client, op.value)
        raise HarnessError(f"set workload: unknown op {op.f!r}")

    def _read(self, client: Client) -> list[Any]:
        if self.uses_txn(client):
            values = [mop[2] for mop in client.txn([["r", k, None] for k in self.keys])]
        else:
            values = [client.read(k) for k in self.keys]
        out: list[Any] = []
        for v in values:
            if isinstance(v, list):
                out.extend(v)
            elif v is not None:  # not a list: report it, the checker calls it unexpected
                out.append(v)
        return sorted(out, key=_order)

    def _cas_add(self, client: Client, element: int) -> tuple[str, Any]:
        def add(seen: Any) -> list[Any]:
            current = seen if isinstance(seen, list) else [] if seen is None else [seen]
            return [*current, element]

        applied = cas_update(client, self.key_of(element), add, max_retries=self.max_retries,
                             what="add")
        return ("ok" if applied else "fail"), element

    def checkers(self) -> list[Checker]:
        return [SetChecker(), StatsChecker()]


def _order(v: Any) -> tuple[int, Any]:
    """Sort ints first, anything else after by its text (a read may hold garbage)."""
    return (0, v) if isinstance(v, int) and not isinstance(v, bool) else (1, repr(v))

"""The ``counter`` workload: a distributed counter built from read + compare-and-set.

``add d`` reads the counter (a missing key is 0) and tries ``cas(key, seen,
seen + d)``, re-reading and retrying while the cas answers a definite no, at most
``max-retries`` times. Outcomes, chosen so the history never lies:

* cas said yes                 -> ok d
* every attempt was refused    -> fail d (nothing was written)
* a read errored               -> fail (a read writes nothing, and every earlier
                                  cas was a definite no)
* a cas errored, definite      -> retried like a refusal (it did not apply)
* a cas errored, not definite  -> ClientError(definite=False): info, it may have applied

``read`` returns the counter (0 when missing). After heal every worker does one
``final-read``. The counter checker judges the history.

A missing key holds ``None``: ``cas(key, None, d)`` creates it only if absent.
"""

from __future__ import annotations

import random
from typing import Any

from splitbrain.checker.base import Checker
from splitbrain.checker.counter import CounterChecker
from splitbrain.checker.stats import StatsChecker
from splitbrain.clusters.system import CAS, READ, Client
from splitbrain.errors import HarnessError
from splitbrain.workloads.base import IntAtLeast, Workload, WorkloadConfig, WorkloadOption
from splitbrain.workloads.cas_update import cas_update
from splitbrain.workloads.generator import EachWorker, Generator, Mix, Once, OpSpec
from splitbrain.workloads.naming import run_prefix


class CounterWorkload(Workload):
    """Adds (read + cas retry loops) and reads of one counter; bounds-checked."""

    name = "counter"
    requires = frozenset({READ, CAS})
    options = {
        "max-retries": WorkloadOption(10, "refused cas attempts of one add before it fails",
                                      IntAtLeast(1)),
        "max-delta": WorkloadOption(5, "largest amount one add adds (from 1)", IntAtLeast(1)),
    }

    def __init__(self, config: WorkloadConfig) -> None:
        super().__init__(config)
        self.key = run_prefix(config, "counter") + "value"
        self.max_retries = config.options["max-retries"]
        self.max_delta = config.options["max-delta"]

    def generator(self) -> Generator:
        key, hi = self.key, self.max_delta

        def add(rng: random.Random) -> OpSpec:
            return OpSpec("add", rng.randint(1, hi), key)

        def read(rng: random.Random) -> OpSpec:
            return OpSpec("read", None, key)

        return Mix([(3, add), (1, read)])

    def final_generator(self) -> Generator | None:
        key = self.key
        return EachWorker(lambda: Once(OpSpec("final-read", None, key)))

    def apply(self, client: Client, op: OpSpec) -> tuple[str, Any]:
        if op.f in ("read", "final-read"):
            v = client.read(op.key)
            return "ok", 0 if v is None else v
        if op.f == "add":
            return self._add(client, op.key, op.value)
        raise HarnessError(f"counter workload: unknown op {op.f!r}")

    def _add(self, client: Client, key: str, delta: int) -> tuple[str, Any]:
        applied = cas_update(client, key, lambda seen: (0 if seen is None else seen) + delta,
                             max_retries=self.max_retries, what="add")
        return ("ok" if applied else "fail"), delta

    def checkers(self) -> list[Checker]:
        return [CounterChecker(), StatsChecker()]

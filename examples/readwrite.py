"""A complete plugin workload: blind reads and writes of one register per key.

For systems whose client has ``read`` and ``write`` but no compare-and-set (the
built-in ``register`` workload needs cas). Each key's history is checked for
linearizability against the ``register`` model:

    splitbrain test --workload readwrite:ReadWrite -w max-value=9 ...

(run from this directory, or put it on PYTHONPATH). See docs/plugins.md.
"""

from __future__ import annotations

import random
from typing import Any

from splitbrain.checker.base import Checker
from splitbrain.checker.linearizability import LinearizabilityChecker
from splitbrain.checker.stats import StatsChecker
from splitbrain.clusters.system import READ, WRITE, Client
from splitbrain.errors import HarnessError
from splitbrain.workloads.base import IntAtLeast, Workload, WorkloadConfig, WorkloadOption
from splitbrain.workloads.generator import Generator, Independent, Mix, OpSpec
from splitbrain.workloads.naming import run_prefix


class ReadWrite(Workload):
    """Reads and writes of small ints on independent keys; linearizability per key."""

    name = "readwrite"
    requires = frozenset({READ, WRITE})          # checked against System.capabilities
    options = {                                  # -w max-value=9, refused if mistyped
        "max-value": WorkloadOption(4, "largest value written (from 0)", IntAtLeast(1)),
        "read-share": WorkloadOption(0.5, "share of reads among the ops", float),
    }

    def __init__(self, config: WorkloadConfig) -> None:
        super().__init__(config)                 # parses and fills config.options
        self.max_value = config.options["max-value"]
        self.read_share = config.options["read-share"]
        if not 0 < self.read_share < 1:
            raise HarnessError(f"-w read-share={self.read_share}: expected a share in (0, 1)")
        self.prefix = run_prefix(config, "rw")   # keys no earlier run has touched

    def generator(self) -> Generator:
        hi, reads = self.max_value, self.read_share

        def read(rng: random.Random) -> OpSpec:
            return OpSpec("read")

        def write(rng: random.Random) -> OpSpec:
            return OpSpec("write", rng.randint(0, hi))

        return Independent(lambda: Mix([(reads, read), (1 - reads, write)]),
                           group_size=max(1, min(self.config.concurrency, 5)),
                           ops_per_key=self.config.ops_per_key, prefix=self.prefix)

    def apply(self, client: Client, op: OpSpec) -> tuple[str, Any]:
        if op.f == "read":
            return "ok", client.read(op.key)
        if op.f == "write":
            client.write(op.key, op.value)       # a ClientError says fail or info
            return "ok", op.value
        raise HarnessError(f"readwrite workload: unknown op {op.f!r}")

    def checkers(self) -> list[Checker]:
        return [LinearizabilityChecker("register", ("read", "write"),
                                       time_limit=self.config.checker_time_limit),
                StatsChecker()]

    def model(self) -> str | None:
        return "register"                        # the report's linearizability view

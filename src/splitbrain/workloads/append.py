"""The ``append`` workload: Elle list-append transactions.

Each op is one ``txn`` of 1 to ``max-txn-length`` micro-ops over a small set of
``key-count`` active keys: ``["append", k, v]`` with v unique across the run, or
``["r", k, None]`` (the client fills in the list it read). A key that has taken
``max-writes-per-key`` appends is retired and a fresh key takes its place, so the
lists stay short and the dependency graph stays dense (Elle's advice).

Checked by the Elle checker (``splitbrain.checker.elle``) against
``consistency-model`` (default ``strict-serializable``).
"""

from __future__ import annotations

from typing import Any

from splitbrain.checker.base import Checker
from splitbrain.checker.elle import ElleChecker
from splitbrain.checker.elle import models as elle_models
from splitbrain.checker.stats import StatsChecker
from splitbrain.clusters.system import TXN, Client
from splitbrain.errors import HarnessError
from splitbrain.workloads.base import IntAtLeast, Workload, WorkloadConfig, WorkloadOption
from splitbrain.workloads.generator import Context, Generator, OpSpec
from splitbrain.workloads.naming import run_prefix


class ListAppendTxns(Generator):
    """Random list-append transactions over a rotating pool of keys (shared by all workers)."""

    def __init__(self, prefix: str, *, key_count: int, max_txn_length: int,
                 max_writes_per_key: int) -> None:
        self.prefix, self.max_len, self.max_writes = prefix, max_txn_length, max_writes_per_key
        self.next_key = 0
        self.next_value = 1
        self.active: list[str] = [self._fresh() for _ in range(key_count)]
        self.writes: dict[str, int] = {}

    def _fresh(self) -> str:
        k = f"{self.prefix}{self.next_key}"
        self.next_key += 1
        return k

    def next(self, ctx: Context) -> OpSpec | None:
        rng = ctx.rng
        mops: list[list[Any]] = []
        for _ in range(rng.randint(1, self.max_len)):
            slot = rng.randrange(len(self.active))
            k = self.active[slot]
            if rng.random() < 0.5:
                mops.append(["r", k, None])
                continue
            mops.append(["append", k, self.next_value])
            self.next_value += 1
            self.writes[k] = self.writes.get(k, 0) + 1
            if self.writes[k] >= self.max_writes:
                self.active[slot] = self._fresh()
                del self.writes[k]
        return OpSpec("txn", mops)


def _consistency_model(s: str) -> str:
    """A ``-w consistency-model`` value Elle knows."""
    if elle_models.canonical_model(s) is None:
        raise ValueError("unknown consistency model; known: "
                         + ", ".join(sorted(elle_models.ALL_MODELS)))
    return s


class AppendWorkload(Workload):
    """List-append transactions (needs ``txn``), checked by Elle."""

    name = "append"
    requires = frozenset({TXN})
    options = {
        "key-count": WorkloadOption(5, "keys appended to at once", IntAtLeast(1)),
        "max-txn-length": WorkloadOption(4, "most micro-ops in one txn", IntAtLeast(1)),
        "max-writes-per-key": WorkloadOption(32, "appends before a key is retired",
                                             IntAtLeast(1)),
        "consistency-model": WorkloadOption("strict-serializable", "what Elle checks the "
                                            "history against, e.g. serializable",
                                            _consistency_model),
    }

    def __init__(self, config: WorkloadConfig) -> None:
        super().__init__(config)
        self.prefix = run_prefix(config, "la")
        self.key_count = config.key_count or config.options["key-count"]
        if self.key_count < 1:
            raise HarnessError(f"append workload: key count must be at least 1, "
                               f"got {self.key_count}")
        self.max_txn_length = config.options["max-txn-length"]
        self.max_writes_per_key = config.options["max-writes-per-key"]
        self.consistency_model = config.options["consistency-model"]

    def generator(self) -> Generator:
        return ListAppendTxns(self.prefix, key_count=self.key_count,
                              max_txn_length=self.max_txn_length,
                              max_writes_per_key=self.max_writes_per_key)

    def apply(self, client: Client, op: OpSpec) -> tuple[str, Any]:
        if op.f != "txn":
            raise HarnessError(f"append workload: unknown op {op.f!r}")
        return "ok", client.txn(op.value)

    def checkers(self) -> list[Checker]:
        return [ElleChecker(self.consistency_model, self.config.checker_time_limit),
                StatsChecker()]

"""The ``register`` workload: independent compare-and-set registers.

Workers form groups of ``group_size``; each group hammers one key with reads,
writes and cas on small ints (0-4, so cas often succeeds and collisions are
frequent) for ``ops_per_key`` ops, then moves to a fresh key. After heal and
recovery, the final phase reads back every key the run used, once each, so an
acknowledged write that was lost (e.g. by a node that did not fsync) shows even on
a key the main phase had left behind. Each key's history is checked for
linearizability against the ``cas-register`` model.

``-w cas=false`` drops cas from the mix and from what the workload needs (read and
write only), for stores that cannot offer a correct cas (a leaderless quorum store's
ABD registers); the histories are then checked against the plain ``register`` model.

Op shapes (value of invoke -> value of completion):
    read   None      -> ok v (None when the key is missing)
    write  v         -> ok v
    cas    [old,new] -> ok [old,new] | fail [old,new] (compare failed: a definite no)
"""

from __future__ import annotations

import random
from typing import Any

from splitbrain.checker.base import Checker
from splitbrain.checker.linearizability import LinearizabilityChecker
from splitbrain.checker.stats import StatsChecker
from splitbrain.clusters.system import CAS, READ, WRITE, Client, parse_bool
from splitbrain.errors import HarnessError
from splitbrain.workloads.base import Workload, WorkloadConfig, WorkloadOption
from splitbrain.workloads.generator import Context, Generator, Independent, Mix, OpSpec
from splitbrain.workloads.naming import run_prefix

MAX_VALUE = 4


def _read(rng: random.Random) -> OpSpec:
    return OpSpec("read", None)


def _write(rng: random.Random) -> OpSpec:
    return OpSpec("write", rng.randint(0, MAX_VALUE))


def _cas(rng: random.Random) -> OpSpec:
    return OpSpec("cas", [rng.randint(0, MAX_VALUE), rng.randint(0, MAX_VALUE)])


class ReadEach(Generator):
    """One ``read`` of each key, handed out to whichever worker asks next."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = list(keys)
        self.i = 0

    def next(self, ctx: Context) -> OpSpec | None:
        if self.i >= len(self.keys):
            return None
        self.i += 1
        return OpSpec("read", None, self.keys[self.i - 1])


class RegisterWorkload(Workload):
    """Read / write / cas on independent keys; linearizability per key."""

    name = "register"
    requires = frozenset({READ, WRITE, CAS})
    options = {
        "cas": WorkloadOption(True, "mix cas into reads and writes; false: read and write "
                              "only (needs read, write), checked as a plain register",
                              parse_bool),
    }

    def __init__(self, config: WorkloadConfig) -> None:
        super().__init__(config)
        self.use_cas: bool = config.options["cas"]
        if not self.use_cas:
            self.requires = frozenset({READ, WRITE})  # type: ignore[misc]
        self.group_size = config.group_size or max(1, min(config.concurrency, 5))
        self.prefix = run_prefix(config, "r")
        self.independent: Independent | None = None

    def generator(self) -> Generator:
        self.independent = Independent(
            lambda: Mix([(1, _read), (1, _write), (1, _cas)] if self.use_cas
                        else [(1, _read), (1, _write)]),
            group_size=self.group_size, ops_per_key=self.config.ops_per_key,
            prefix=self.prefix)
        return self.independent

    def final_generator(self) -> Generator | None:
        """Read back every key the main phase used (final reads, as in set and append)."""
        if self.independent is None or not self.independent.keys():
            return None
        return ReadEach(self.independent.keys())

    def apply(self, client: Client, op: OpSpec) -> tuple[str, Any]:
        if op.f == "read":
            return "ok", client.read(op.key)
        if op.f == "write":
            client.write(op.key, op.value)
            return "ok", op.value
        if op.f == "cas" and self.use_cas:
            old, new = op.value
            return ("ok" if client.cas(op.key, old, new) else "fail"), [old, new]
        raise HarnessError(f"register workload: unknown op {op.f!r}")

    def checkers(self) -> list[Checker]:
        fs = ("read", "write", "cas") if self.use_cas else ("read", "write")
        return [LinearizabilityChecker(self.model(), fs,
                                       time_limit=self.config.checker_time_limit),
                StatsChecker()]

    def model(self) -> str:
        return "cas-register" if self.use_cas else "register"

"""The ``lock`` workload: acquire / release of one lock with leases.

Every worker alternates ``acquire`` and ``release`` of the lock ``lock-name``
(default: a run-unique name). The client's ``lock_acquire(name, lease_s)`` blocks
until held and returns a token; the workload keeps the token per client for the
release. Two checkers judge the history:

* ``linearizability`` with the ``mutex`` model: the lock as a perfect mutex
  (Jepsen's view: a lease that ran out under a live holder is a violation);
* ``lock``: two holders at once, counting only what leases guarantee (see
  :mod:`splitbrain.checker.lock` for the reasoning and the client contract).

Op shapes: ``acquire`` and ``release`` with value None. A release by a worker that
holds nothing, and an acquire by one that already holds the lock (its previous
release failed definitely), end ``fail`` without contacting the system: they
certainly had no effect, and the alternation puts the worker back in step.
"""

from __future__ import annotations

from typing import Any

from splitbrain.checker.base import Checker
from splitbrain.checker.linearizability import LinearizabilityChecker
from splitbrain.checker.lock import LockChecker
from splitbrain.checker.stats import StatsChecker
from splitbrain.clusters.system import LOCK, Client
from splitbrain.errors import ClientError, HarnessError
from splitbrain.workloads.base import PositiveNumber, Workload, WorkloadConfig, WorkloadOption
from splitbrain.workloads.generator import Context, EachWorker, Generator, Once, OpSpec
from splitbrain.workloads.naming import run_prefix


class Alternate(Generator):
    """acquire, release, acquire, ... (one copy per worker via EachWorker)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.acquire_next = True

    def next(self, ctx: Context) -> OpSpec | None:
        f = "acquire" if self.acquire_next else "release"
        self.acquire_next = not self.acquire_next
        return OpSpec(f, None, self.name)


class LockWorkload(Workload):
    """Acquire / release with leases; mutex linearizability and two-holders detection."""

    name = "lock"
    requires = frozenset({LOCK})
    options = {
        "lock-name": WorkloadOption(None, "the lock's name (default: run-unique)"),
        "lease-s": WorkloadOption(10.0, "lease in seconds asked for at each acquire",
                                  PositiveNumber()),
    }

    def __init__(self, config: WorkloadConfig) -> None:
        super().__init__(config)
        self.lock_name = str(config.options.get("lock-name") or run_prefix(config, "lock")
                             + "mutex")
        self.lease_s = config.options["lease-s"]
        self._held: dict[int, tuple[Client, Any]] = {}  # id(client) -> (client, token)

    def generator(self) -> Generator:
        name = self.lock_name
        return EachWorker(lambda: Alternate(name))

    def final_generator(self) -> Generator | None:
        """Release whatever is still held, so the lock is free after the run."""
        name = self.lock_name
        return EachWorker(lambda: Once(OpSpec("release", None, name)))

    def holds(self, client: Client) -> bool:
        """Whether this client holds the lock as far as the workload knows."""
        return id(client) in self._held

    def apply(self, client: Client, op: OpSpec) -> tuple[str, Any]:
        if op.f == "acquire":
            if id(client) in self._held:
                return "fail", None  # already held: nothing was attempted
            token = client.lock_acquire(op.key, self.lease_s)
            self._held[id(client)] = (client, token)
            return "ok", None
        if op.f == "release":
            held = self._held.pop(id(client), None)
            if held is None:
                return "fail", None  # holds nothing: nothing was attempted
            try:
                client.lock_release(op.key, held[1])
            except ClientError as e:
                if e.definite:  # certainly not released: still ours
                    self._held[id(client)] = held
                raise
            return "ok", None
        raise HarnessError(f"lock workload: unknown op {op.f!r}")

    def checkers(self) -> list[Checker]:
        return [LinearizabilityChecker("mutex", ("acquire", "release"),
                                       time_limit=self.config.checker_time_limit),
                LockChecker(self.lease_s), StatsChecker()]

    def model(self) -> str | None:
        return "mutex"


"""The ``lock`` workload: acquire / release of one lock with leases.

Every worker alternates ``acquire`` and ``release`` of the lock ``lock-name``
(default: a run-unique name). The client's ``lock_acquire(name, lease_s)`` blocks
until held and returns a token; the workload keeps the token per client for the
release. A holder releases before its phase ends (the release is the worker's
closing op), so no hold outlives the main phase; a release invoked more than
``lease-s`` after the acquire returned (the lease had certainly run out: the worker
could not release in time) completes with value ``{"lease-expired": true,
"held-s": ...}``.

The ``lock`` checker (:mod:`splitbrain.checker.lock`) judges the history: two
clients holding the lock while both leases were valid is invalid; a lock granted
again after a lease ran out is reported as ``lease-expired`` (the lock is a lease:
unsafe for clients that do not check it), with the strict perfect-mutex view as
information.

Op shapes: ``acquire`` and ``release`` with value None. A release by a worker that
holds nothing, and an acquire by one that already holds the lock (its previous
release failed definitely), end ``fail`` without contacting the system: they
certainly had no effect, and the alternation puts the worker back in step.
"""

from __future__ import annotations

import time
from typing import Any

from splitbrain.checker.base import Checker
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

    def closing(self, ctx: Context) -> OpSpec | None:
        """At the phase's end, the release that follows an acquire is still done."""
        if self.acquire_next:
            return None
        self.acquire_next = True
        return OpSpec("release", None, self.name)


class LockWorkload(Workload):
    """Acquire / release with leases; two holders at once, told apart by their leases."""

    name = "lock"
    requires = frozenset({LOCK})
    options = {
        "lock-name": WorkloadOption(None, "the lock's name (default: run-unique)"),
        "lease-s": WorkloadOption(10.0, "lease in seconds asked for at each acquire",
                                  PositiveNumber()),
        "mutex": WorkloadOption("lease", "lease: a re-grant after a holder's lease ran out is "
                                "reported, the run stays valid (the lock is a lease); strict: "
                                "it is two holders at once, invalid (Jepsen's view, for "
                                "clients that never check their lease)",
                                choices=("lease", "strict")),
    }

    def __init__(self, config: WorkloadConfig) -> None:
        super().__init__(config)
        self.lock_name = str(config.options.get("lock-name") or run_prefix(config, "lock")
                             + "mutex")
        self.lease_s = config.options["lease-s"]
        # id(client) -> (client, token, monotonic time the acquire returned)
        self._held: dict[int, tuple[Client, Any, float]] = {}

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
            self._held[id(client)] = (client, token, time.monotonic())
            return "ok", None
        if op.f == "release":
            held = self._held.pop(id(client), None)
            if held is None:
                return "fail", None  # holds nothing: nothing was attempted
            held_s = time.monotonic() - held[2]
            try:
                client.lock_release(op.key, held[1])
            except ClientError as e:
                if e.definite:  # certainly not released: still ours
                    self._held[id(client)] = held
                raise
            if held_s > self.lease_s:   # could not release within the lease: say so
                return "ok", {"lease-expired": True, "held-s": round(held_s, 3)}
            return "ok", None
        raise HarnessError(f"lock workload: unknown op {op.f!r}")

    def checkers(self) -> list[Checker]:
        # The lease-aware lock checker decides; the strict mutex model (which calls
        # every expired lease a violation) is reported inside it, as information.
        return [LockChecker(self.lease_s,
                            expired_is_invalid=self.config.options["mutex"] == "strict"),
                StatsChecker()]

    def model(self) -> str | None:
        return "mutex"


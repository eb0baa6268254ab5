"""Two- and three-phase commit (``2pc``, ``3pc``): splitbrain's own atomic-commit nodes.

Keys are sharded over the nodes (each key lives on exactly one node); a transaction
is committed by the node the client talks to, acting as coordinator, with the
owners of its keys as participants (:mod:`splitbrain.twopc`, :mod:`splitbrain.threepc`).
Only ``txn`` is offered: use ``--workload append`` or ``--workload bank -w
bank-mode=txn``. A txn still in lock conflict after ``retry_s`` seconds of retries
is a definite failure; a crashed or cut-off coordinator leaves the client
indeterminate.

Failure switches: 2PC ``-o bug=commit-on-timeout`` (an in-doubt participant commits
on its own when the coordinator stays silent: ``--nemesis kill``, also
``partition``) and ``-o bug=forget-decision`` (the coordinator's log is not fsynced:
after a crash its presumed-commit rule commits txns it was still collecting votes
for or had aborted; ``--nemesis kill``). 3PC needs no switch: under ``--nemesis
partition`` a pre-committed participant commits on one side while a prepared one
aborts on the other. Both systems are checked with the bank (``-w bank-mode=txn``:
a half-applied transfer changes the total) and append (Elle) workloads.
"""

from __future__ import annotations

from typing import Any, ClassVar

from splitbrain.clusters.system import TXN, SystemOption, name_list
from splitbrain.clusters.systems.pynode import COMMON_OPTIONS, PyNodeClient, PyNodeSystem

TWOPC_BUGS = ("commit-on-timeout", "forget-decision")


class CommitClient(PyNodeClient):
    """``txn`` over ``POST /txn``; the node answers the micro-ops with reads filled in."""

    capabilities: ClassVar[frozenset[str]] = frozenset({TXN})

    def txn(self, ops: list[list[Any]]) -> list[list[Any]]:
        return [list(o) for o in self.call("/txn", {"ops": [list(o) for o in ops]})["ops"]]



_TIMING: dict[str, SystemOption] = {
    "lock_wait": SystemOption(0.5, "seconds a prepare waits for a locked key before voting no",
                              float),
    "retry_s": SystemOption(1.0, "seconds a coordinator keeps retrying a txn aborted by a "
                            "lock conflict (a definite abort, so retrying is safe)", float),
    "rpc_timeout": SystemOption(1.0, "seconds a node waits for a peer's answer", float),
    "decision_timeout": SystemOption(1.0, "seconds an in-doubt participant waits before it "
                                     "asks (2PC) or terminates (3PC)", float),
}


class TwoPCSystem(PyNodeSystem):
    """Two-phase commit, every node a participant and a coordinator."""

    name: ClassVar[str] = "2pc"
    daemon: ClassVar[str] = "twopc"
    package: ClassVar[str] = "twopc"
    client_class: ClassVar[type[PyNodeClient]] = CommitClient
    capabilities: ClassVar[frozenset[str] | None] = CommitClient.capabilities
    options: ClassVar[dict[str, SystemOption]] = {
        **COMMON_OPTIONS,
        "bug": SystemOption((), "known bugs to switch on, comma-separated: "
                            "commit-on-timeout (an in-doubt participant commits when the "
                            "coordinator is silent), forget-decision (decision log not "
                            "fsynced)", name_list(TWOPC_BUGS)),
        **_TIMING,
    }


class ThreePCSystem(PyNodeSystem):
    """Three-phase commit: non-blocking under crashes, split brain under partitions."""

    name: ClassVar[str] = "3pc"
    daemon: ClassVar[str] = "threepc"
    package: ClassVar[str] = "threepc"
    extra_packages: ClassVar[tuple[str, ...]] = ("twopc",)
    client_class: ClassVar[type[PyNodeClient]] = CommitClient
    capabilities: ClassVar[frozenset[str] | None] = CommitClient.capabilities
    options: ClassVar[dict[str, SystemOption]] = {**COMMON_OPTIONS, **_TIMING}

"""splitbrain.workloads: the registry of workloads by name (plugins as package.module:Class).

Workload modules are imported only when asked for.
"""

from __future__ import annotations

from splitbrain.registry import Entry, Registry
from splitbrain.workloads.base import Workload

WORKLOAD_REGISTRY: Registry[Workload] = Registry("workload", {
    "register": Entry("splitbrain.workloads.register:RegisterWorkload",
                      "read / write / cas on independent keys; linearizability per key"),
    "counter": Entry("splitbrain.workloads.counter:CounterWorkload",
                     "a counter from read + cas; reads within what the adds allow"),
    "set": Entry("splitbrain.workloads.set:SetWorkload",
                 "unique adds and reads; lost, stale, duplicated elements"),
    "append": Entry("splitbrain.workloads.append:AppendWorkload",
                    "Elle list-append transactions (needs txn)"),
    "lock": Entry("splitbrain.workloads.lock:LockWorkload",
                  "acquire / release of a lease lock; two holders at once"),
    "bank": Entry("splitbrain.workloads.bank:BankWorkload",
                  "transfers between accounts; the total never changes"),
}, base=Workload)

#: the names ``--workload`` accepts
WORKLOADS: tuple[str, ...] = WORKLOAD_REGISTRY.names


def get_workload(name: str) -> type[Workload]:
    """The Workload class registered as ``name`` (or a plugin); one line if unknown."""
    return WORKLOAD_REGISTRY.load(name)

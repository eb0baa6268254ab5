"""splitbrain.workloads: the registry of workloads by name.

Workload modules are imported lazily, so ``import splitbrain.workloads`` stays cheap
and a broken optional dependency of one workload does not break the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from splitbrain.errors import HarnessError

if TYPE_CHECKING:
    from splitbrain.workloads.base import Workload

#: workload name -> "module:Class" under splitbrain.workloads
_REGISTRY: dict[str, str] = {
    "register": "register:RegisterWorkload",
    "counter": "counter:CounterWorkload",
    "set": "set:SetWorkload",
    "append": "append:AppendWorkload",
    "lock": "lock:LockWorkload",
    "bank": "bank:BankWorkload",
}

#: the names ``--workload`` accepts
WORKLOADS: tuple[str, ...] = tuple(_REGISTRY)


def get_workload(name: str) -> type[Workload]:
    """The Workload class registered as ``name``; a one-line HarnessError if unknown."""
    target = _REGISTRY.get(name)
    if target is None:
        raise HarnessError(f"unknown workload {name!r}: choose one of {', '.join(WORKLOADS)}")
    mod_name, cls_name = target.split(":")
    mod = importlib.import_module(f"splitbrain.workloads.{mod_name}")
    return getattr(mod, cls_name)

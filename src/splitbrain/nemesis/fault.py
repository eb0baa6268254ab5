"""What every fault offers the schedule: plan, resolve, apply, heal.

A fault is split so that the schedule is reproducible and healing is certain:

- ``choose(rng, names)`` plans one occurrence as a pure function of the random
  stream and the node names (JSON-able; ``"leader"`` stays symbolic);
- ``resolve(choice)`` turns the plan into the exact ``detail`` (asks the live
  leader, reads addresses) without changing anything;
- the detail is journaled, then ``apply(detail)`` does it;
- ``heal(detail)`` undoes it from the detail alone, so a later process can heal
  a killed run's fault from its journal.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import System
from splitbrain.errors import HarnessError

TARGETS = ("one", "minority", "majority", "all", "leader")


@dataclass
class Context:
    """What a fault acts on: the system (None when re-attached without one) and nodes."""

    system: System | None
    nodes: list[Node]
    targets: str = "one"
    options: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise HarnessError(f"node {name!r} is not part of this cluster "
                           f"({', '.join(self.names)})")

    def leader(self) -> str | None:
        """The live leader's name, if the system knows one."""
        if self.system is None:
            return None
        try:
            ld = self.system.leader()
        except Exception:  # noqa: BLE001 - an unreachable leader is simply unknown
            return None
        return ld.name if ld is not None else None

    def daemon(self) -> str:
        return self.system.daemon if self.system is not None else "db"


def isolated_network(node: Node) -> bool:
    """False for nodes sharing the host's network (``local``): no partitions there."""
    return bool(getattr(node, "isolated_network", True))


def require_isolated(fault: str, nodes: list[Node]) -> None:
    """Refuse network faults on nodes that share the host's network stack."""
    shared = [n.name for n in nodes if not isolated_network(n)]
    if shared:
        raise HarnessError(f"{fault} needs nodes with their own network stack, but "
                           f"{', '.join(shared)} share this host's network (local backend): "
                           f"use --backend docker or netns")


def pick_targets(rng: random.Random, names: list[str], targets: str) -> list[str] | str:
    """Plan which nodes a process/clock fault hits; ``"leader"`` is resolved live."""
    n = len(names)
    if targets == "leader":
        return "leader"
    if targets == "all":
        return list(names)
    k = {"one": 1, "minority": max(1, (n - 1) // 2), "majority": n // 2 + 1}.get(targets)
    if k is None:
        raise HarnessError(f"--nemesis-targets {targets!r}: expected one of {', '.join(TARGETS)}")
    chosen = set(rng.sample(names, min(k, n)))
    return [x for x in names if x in chosen]


class Fault(ABC):
    """One kind of fault. Subclasses set ``name``, ``start_f``, ``stop_f``."""

    name: ClassVar[str]
    start_f: ClassVar[str]
    stop_f: ClassVar[str]
    #: a word the system must list in ``System.supports`` (kill, pause, clock, member)
    needs: ClassVar[str | None] = None
    #: the fewest nodes this fault makes sense on
    min_nodes: ClassVar[int] = 1
    #: True if it changes the network (needs nodes with their own network stack)
    network: ClassVar[bool] = False
    #: the ``-O`` keys (of ``schedule.NEMESIS_OPTIONS``) it reads, for ``splitbrain list``
    options: tuple[str, ...] = ()

    def __init__(self, ctx: Context, name: str | None = None) -> None:
        self.ctx = ctx
        if name:  # one class may serve several --nemesis names (partition kinds)
            self.name = name  # type: ignore[misc]

    def check_plan(self, system: type[System], n_nodes: int, isolated: bool) -> None:
        """Refuse before any node exists (one line): the system, node count or backend
        cannot take this fault. :meth:`check` repeats what needs the live nodes."""
        if self.needs is not None and self.needs not in system.supports:
            raise HarnessError(f"--nemesis {self.name}: system {system.name!r} does not support "
                               f"the {self.needs} fault (it supports: "
                               f"{', '.join(sorted(system.supports)) or 'none'})")
        if n_nodes < self.min_nodes:
            raise HarnessError(f"--nemesis {self.name}: needs at least {self.min_nodes} nodes, "
                               f"the test has {n_nodes}")
        if self.network and not isolated:
            raise HarnessError(f"--nemesis {self.name}: needs nodes with their own network "
                               f"stack; the local backend shares this host's network: use "
                               f"--backend docker or netns")

    def check(self) -> None:
        """Refuse (HarnessError, one line) when this fault can't run on these nodes/system."""

    def prepare(self) -> None:
        """One-time setup before the schedule starts (e.g. restart under libfaketime)."""

    @abstractmethod
    def choose(self, rng: random.Random, names: list[str]) -> dict[str, Any]:
        """Plan one occurrence: a pure function of ``rng`` and ``names``."""

    @abstractmethod
    def resolve(self, choice: dict[str, Any]) -> dict[str, Any]:
        """The exact detail of what will be done (no side effects)."""

    @abstractmethod
    def apply(self, detail: dict[str, Any]) -> Any:
        """Do it. Returns the value recorded in the ``info`` op."""

    @abstractmethod
    def heal(self, detail: dict[str, Any]) -> Any:
        """Undo it (idempotent). Returns the value recorded in the heal's ``info`` op."""

    def start_name(self, detail: dict[str, Any]) -> str:
        """The ``f`` of the ops recording this fault's start."""
        return self.start_f

    def stop_name(self, detail: dict[str, Any]) -> str:
        """The ``f`` of the ops recording its heal."""
        return self.stop_f

    def describe(self, detail: dict[str, Any]) -> str:
        """A short text for the live display."""
        nodes = detail.get("nodes")
        return f"{self.name} {' '.join(nodes)}" if nodes else self.name


def each(nodes: list[Node], fn: Any) -> list[Any]:
    """Run ``fn(node)`` on every node at once; re-raise the first error after all finish.

    Faults hit their nodes together (a partition is one moment, not a sweep).
    """
    from concurrent.futures import ThreadPoolExecutor

    if not nodes:
        return []
    if len(nodes) == 1:
        return [fn(nodes[0])]
    with ThreadPoolExecutor(max_workers=min(len(nodes), 16)) as pool:
        futures = [pool.submit(fn, n) for n in nodes]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]

"""The Workload interface: a generator of ops, how to apply one op through a
client's capabilities, and the checkers that judge the history.

Workloads never mention a system by name: they ask for capabilities
(``read``, ``write``, ``cas``, ``txn``, ``lock`` ...) and a system whose client
lacks one is refused with a clear message before the cluster starts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from splitbrain.checker.base import Checker
from splitbrain.clusters.system import Client, SystemOption, parse_declared
from splitbrain.workloads.generator import Generator, OpSpec

#: an option a workload declares for ``-w key=value``: the same shape (default, help,
#: type, choices) as a system's ``-o`` options
WorkloadOption = SystemOption


@dataclass(frozen=True)
class IntAtLeast:
    """A ``-w`` value parser: an integer of at least ``minimum``."""

    minimum: int

    def __call__(self, s: str) -> int:
        try:
            v = int(s)
        except (TypeError, ValueError):
            raise ValueError(f"expected an integer, got {s!r}") from None
        if v < self.minimum:
            raise ValueError(f"must be at least {self.minimum}")
        return v

    def __str__(self) -> str:
        return f"integer >= {self.minimum}"


@dataclass(frozen=True)
class PositiveNumber:
    """A ``-w`` value parser: a finite number above zero."""

    def __call__(self, s: str) -> float:
        try:
            v = float(s)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {s!r}") from None
        if not 0 < v < float("inf"):
            raise ValueError("must be a positive number")
        return v

    def __str__(self) -> str:
        return "number > 0"


#: options every workload takes
COMMON_OPTIONS: dict[str, WorkloadOption] = {
    "run-id": WorkloadOption(None, "fixed part of the key names (default: random per run, so "
                             "a reused cluster never shows an earlier run's state)"),
}


@dataclass
class WorkloadConfig:
    """Knobs shared by workloads (from the test spec)."""

    concurrency: int = 5
    seed: int = 0
    ops_per_key: int = 200
    group_size: int = 0          # 0: the workload picks (e.g. min(concurrency, 5))
    key_count: int = 0           # 0: the workload picks
    options: dict[str, Any] = field(default_factory=dict)
    checker_time_limit: float | None = None


class Workload(ABC):
    """A generator plus checkers; speaks to clients only through capabilities."""

    name: ClassVar[str] = "workload"
    requires: ClassVar[frozenset[str]] = frozenset()
    #: the ``-w key=value`` options it takes (besides :data:`COMMON_OPTIONS`); a key
    #: not declared here is refused before any node starts
    options: ClassVar[dict[str, WorkloadOption]] = {}

    def __init__(self, config: WorkloadConfig) -> None:
        config.options = self.parse_options(config.options)   # parsed in place, defaults filled
        self.config = config

    @classmethod
    def declared_options(cls) -> dict[str, WorkloadOption]:
        """Every ``-w`` option this workload takes, with its default and help."""
        return COMMON_OPTIONS | cls.options

    @classmethod
    def parse_options(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """Validate ``-w`` options against the declared ones (one line naming the bad
        key or value) and fill in the defaults. Values already parsed pass through."""
        return parse_declared(raw, cls.declared_options(), flag="-w",
                              owner=f"workload {cls.name!r}")

    @abstractmethod
    def generator(self) -> Generator:
        """Ops of the main phase (runs until the time limit or until exhausted)."""

    def final_generator(self) -> Generator | None:
        """Ops of the final phase, after heal and recovery (e.g. final reads)."""
        return None

    @abstractmethod
    def apply(self, client: Client, op: OpSpec) -> tuple[str, Any]:
        """Perform ``op`` through ``client``; return (``ok`` | ``fail``, value).

        Raise :class:`splitbrain.clusters.system.ClientError` for errors: the
        runner records ``fail`` if it is definite and ``info`` otherwise. Any
        other exception is recorded as ``info`` (outcome unknown).
        """

    @abstractmethod
    def checkers(self) -> list[Checker]:
        """The checkers that judge this workload's history."""

    def model(self) -> str | None:
        """The linearizability model the report's linearizability view uses, if any."""
        return None

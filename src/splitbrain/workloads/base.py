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
from splitbrain.clusters.system import Client
from splitbrain.workloads.generator import Generator, OpSpec


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

    def __init__(self, config: WorkloadConfig) -> None:
        self.config = config

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

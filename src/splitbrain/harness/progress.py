"""What the live view reads while a test runs: the phase and its deadline, per-node
cluster-start states, op counts, the active fault, and the check's progress."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

#: the phases of a run, in order (the live view shows where it is and what is left)
PHASES = ("setup", "cluster up", "main", "heal", "recovery", "final", "teardown", "check",
          "report", "done")

#: node states while the cluster comes up, in order
NODE_STATES = ("creating", "created", "installed", "started", "healthy")


class Progress:
    """Counters and states written by the runner's threads, read by the display."""

    def __init__(self, time_limit: float, *, recovery_time: float = 0.0,
                 final_time_limit: float = 0.0) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.phase = "setup"
        self.phase_started = time.monotonic()
        self.phase_limit: float | None = None
        self.time_limit = time_limit
        self.recovery_time = recovery_time
        self.final_time_limit = final_time_limit
        self.started: float | None = None          # start of the main phase
        self.run_started = time.monotonic()
        self.nemesis: Any = None
        self.nodes: dict[str, str] = {}             # node -> state while the cluster comes up
        self.checks: dict[str, str] = {}            # checker -> "running" / verdict word
        self.check_started: dict[str, float] = {}   # checker -> when it began running
        self._lock = threading.Lock()

    def enter(self, phase: str, limit: float | None = None) -> None:
        """Start ``phase``; ``limit`` is its length in seconds when known."""
        self.phase, self.phase_started, self.phase_limit = phase, time.monotonic(), limit
        if phase == "main":
            self.started = self.phase_started

    def node(self, name: str, state: str) -> None:
        with self._lock:
            self.nodes[name] = state

    def check(self, checker: str, state: str) -> None:
        with self._lock:
            self.checks[checker] = state
            if state == "running":
                self.check_started[checker] = time.monotonic()

    def checking_for(self, checker: str) -> float | None:
        """Seconds the checker has been running, while it runs."""
        t = self.check_started.get(checker)
        return None if t is None or self.checks.get(checker) != "running" \
            else time.monotonic() - t

    def current_fault(self) -> str | None:
        """The nemesis's description of the active fault, if any."""
        if self.nemesis is None:
            return None
        try:
            return self.nemesis.current()
        except Exception:  # noqa: BLE001 - display only
            return None

    def elapsed(self) -> float:
        """Seconds since the main phase began (0 before it)."""
        return 0.0 if self.started is None else time.monotonic() - self.started

    def in_phase(self) -> float:
        return time.monotonic() - self.phase_started

    def eta(self) -> float | None:
        """Seconds until the client phases end (main, recovery and final), if known; the
        final phase counts with its limit (it usually ends sooner, when its ops are done)."""
        left = {"main": [self.time_limit, self.recovery_time, self.final_time_limit],
                "heal": [self.recovery_time, self.final_time_limit],
                "recovery": [self.recovery_time, self.final_time_limit],
                "final": [self.final_time_limit]}.get(self.phase)
        if left is None:
            return None
        return max(0.0, sum(left) - self.in_phase())

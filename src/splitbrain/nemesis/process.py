"""Process faults: ``kill`` (SIGKILL, restart at heal) and ``pause`` (SIGSTOP, SIGCONT at heal).

Both act through the system's lifecycle (``System.kill/start/pause/resume``) on
the nodes chosen by ``--nemesis-targets`` (one, minority, majority, all, leader).
"""

from __future__ import annotations

import random
import signal
from typing import Any

from splitbrain.clusters.node import Node
from splitbrain.errors import HarnessError
from splitbrain.nemesis.fault import Fault, each, pick_targets
from splitbrain.retry import poll


def daemon_dead(node: Node, daemon: str) -> bool:
    """True if ``daemon`` has no live process on ``node`` (a zombie counts as dead)."""
    pid = node.daemon_pid(daemon)
    if pid is None:
        return True
    r = node.exec(["sh", "-c", f"sed 's/.*) //' /proc/{pid}/stat 2>/dev/null | cut -d' ' -f1"],
                  check=False)
    return r.stdout.strip() in ("", "Z", "X")


class _ProcessFault(Fault):
    verb: str = ""

    def check(self) -> None:
        sys_ = self.ctx.system
        if sys_ is not None and self.name not in sys_.supports:
            raise HarnessError(f"system {sys_.name!r} does not support the {self.name} fault "
                               f"(it supports: {', '.join(sorted(sys_.supports)) or 'none'})")

    def choose(self, rng: random.Random, names: list[str]) -> dict[str, Any]:
        return {"targets": pick_targets(rng, names, self.ctx.targets),
                "fallback": rng.choice(names)}

    def resolve(self, choice: dict[str, Any]) -> dict[str, Any]:
        d: dict[str, Any] = {"daemon": self.ctx.daemon()}
        if choice["targets"] == "leader":
            leader = self.ctx.leader()
            d["leader"] = leader
            d["nodes"] = [leader] if leader is not None else [choice["fallback"]]
        else:
            d["nodes"] = list(choice["targets"])
        return d


class Kill(_ProcessFault):
    """SIGKILL the daemon on the target nodes; start it again at heal."""

    name = "kill"
    needs = "kill"
    start_f = "kill"
    stop_f = "start"

    def apply(self, detail: dict[str, Any]) -> Any:
        sys_ = self.ctx.system
        assert sys_ is not None

        def kill(n: Node) -> None:
            sys_.kill(n)   # the fault is in effect only once the process is gone
            poll(lambda: daemon_dead(n, detail["daemon"]) or None, timeout=10, interval=0.05)
        each([self.ctx.node(n) for n in detail["nodes"]], kill)
        return {"nodes": detail["nodes"], "signal": "SIGKILL"}

    def heal(self, detail: dict[str, Any]) -> Any:
        sys_ = self.ctx.system
        nodes = [self.ctx.node(n) for n in detail["nodes"]]
        if sys_ is None:
            # Re-attached without a system (journal recovery): we can't restart it here.
            dead = [n.name for n in nodes if not n.daemon_running(detail["daemon"])]
            return {"nodes": [], "not_restarted": dead}

        def restart(n: Node) -> str | None:
            if sys_.is_running(n) and not daemon_dead(n, detail["daemon"]):
                return None
            sys_.start(n)
            return n.name
        started = [s for s in each(nodes, restart) if s]
        return {"nodes": started}


class Pause(_ProcessFault):
    """SIGSTOP the daemon on the target nodes; SIGCONT at heal."""

    name = "pause"
    needs = "pause"
    start_f = "pause"
    stop_f = "resume"

    def apply(self, detail: dict[str, Any]) -> Any:
        sys_ = self.ctx.system
        assert sys_ is not None
        each([self.ctx.node(n) for n in detail["nodes"]], sys_.pause)
        return {"nodes": detail["nodes"], "signal": "SIGSTOP"}

    def heal(self, detail: dict[str, Any]) -> Any:
        nodes = [self.ctx.node(n) for n in detail["nodes"]]
        sys_ = self.ctx.system
        if sys_ is not None:
            each(nodes, sys_.resume)
        else:
            each(nodes, lambda n: n.signal_daemon(detail["daemon"], signal.SIGCONT))
        return {"nodes": detail["nodes"], "signal": "SIGCONT"}

"""Healing outside a running schedule: by hand (``cluster heal``) and for killed runs.

:func:`heal_nodes` removes everything any fault of ours can leave on a node; it
never touches iptables or qdiscs of nodes that share the host's network.
:func:`heal_entry` undoes one journaled fault; finding the journals of killed runs
and re-attaching to their nodes is the orchestrator's job
(:mod:`splitbrain.harness.recovery`).
"""

from __future__ import annotations

import logging
import shlex
from typing import Any

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import System
from splitbrain.nemesis.clock import reset_clock
from splitbrain.nemesis.fault import Context, isolated_network
from splitbrain.nemesis.faults import make_fault
from splitbrain.nemesis.packet import clear_netem
from splitbrain.nemesis.partition import clear_drops

log = logging.getLogger("splitbrain.nemesis")


def resume_stopped(node: Node) -> list[str]:
    """SIGCONT every daemon of ``node`` (by its pid file) that is stopped; return their names."""
    run = shlex.quote(f"{node.work_dir}/run")
    script = (f"for f in {run}/*.pid; do [ -f \"$f\" ] || continue; p=$(cat \"$f\"); "
              f"[ -n \"$p\" ] || continue; "
              f"s=$(awk '/^State:/ {{print $2}}' /proc/$p/status 2>/dev/null); "
              f"if [ \"$s\" = T ] || [ \"$s\" = t ]; then kill -CONT -- -$p 2>/dev/null || "
              f"kill -CONT $p; basename \"$f\" .pid; fi; done")
    r = node.exec(["sh", "-c", script], check=False, timeout=30)
    return r.stdout.split()


def heal_nodes(nodes: list[Node], system: System | None = None) -> list[str]:
    """Remove our iptables rules and netem qdiscs, reset skewed clocks, resume paused
    daemons on ``nodes``; return a line per thing undone."""
    done: list[str] = []
    for n in nodes:
        if isolated_network(n):
            if clear_drops(n):
                done.append(f"{n.name}: removed splitbrain's iptables rules")
            for iface in clear_netem(n):
                done.append(f"{n.name}: removed netem on {iface}")
        if reset_clock(n):
            done.append(f"{n.name}: reset the clock offset")
        for d in resume_stopped(n):
            done.append(f"{n.name}: resumed paused {d}")
        if system is not None and not system.is_running(n):
            done.append(f"{n.name}: {system.name} is not running (start it with the system)")
    return done


def heal_entry(entry: dict[str, Any], system: System | None, nodes: list[Node]) -> Any:
    """Undo one journaled fault on re-attached ``nodes`` from its recorded detail alone;
    return what ``heal`` reports. Raises whatever the heal raises (the entry stays open)."""
    want = entry.get("nodes") or {}
    ctx = Context(system=system, nodes=[n for n in nodes if n.name in want or not want])
    fault = make_fault(entry["fault"], ctx)
    value = fault.heal(entry["detail"])
    if nodes and isolated_network(nodes[0]) and entry["fault"].startswith(("partition", "packet")):
        for n in ctx.nodes:      # belt and braces: no rule of ours may survive
            clear_drops(n)
    return value

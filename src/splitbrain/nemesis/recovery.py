"""Healing outside a running schedule: by hand (``cluster heal``) and for killed runs.

:func:`heal_nodes` removes everything any fault of ours can leave on a node; it
never touches iptables or qdiscs of nodes that share the host's network.
:func:`recover_journals` finds journaled faults whose run died and heals them
after re-attaching to the run's nodes.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import System
from splitbrain.errors import HarnessError
from splitbrain.nemesis.clock import reset_clock
from splitbrain.nemesis.fault import Context, isolated_network
from splitbrain.nemesis.journal import Journal, find_journals, open_faults
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


def default_attach(entry: dict[str, Any]) -> tuple[System | None, list[Node]]:
    """Re-attach to a journaled run's nodes through the backend registry (no system)."""
    from splitbrain.clusters.backends import get_backend

    return None, get_backend(entry["backend"]).attach(entry["test"])


def recover_journals(store_root: Path,
                     attach: Callable[[dict], tuple[System, list[Node]]] | None = None
                     ) -> list[str]:
    """Heal the faults of killed runs found under ``store_root``; one line per fault."""
    from splitbrain.nemesis.schedule import make_fault

    attach_fn = attach or default_attach
    report: list[str] = []
    for path in find_journals(Path(store_root)):
        entries = open_faults(path)
        if not entries:
            continue
        closer = Journal(path, {})
        for e in entries:
            what = f"{e.get('fault')} on {e.get('test')!r} ({e.get('backend')}) from {path}"
            e.setdefault("journal", str(path))
            try:
                system, nodes = attach_fn(e)
            except HarnessError as err:
                if str(err).lower().startswith("no "):
                    closer.healed(e["id"], recovered=True, note=f"cluster gone: {err}")
                    report.append(f"{what}: cluster no longer exists")
                else:
                    report.append(f"{what}: NOT healed, could not re-attach: {err}")
                continue
            except Exception as err:  # noqa: BLE001 - reported, journal stays open for next time
                report.append(f"{what}: NOT healed, could not re-attach: {err}")
                continue
            want = e.get("nodes") or {}
            have = {n.name: n.address for n in nodes}
            if want and any(have.get(k) not in (None, v) for k, v in want.items()):
                closer.healed(e["id"], recovered=True, note="cluster was recreated")
                report.append(f"{what}: cluster was recreated since, nothing left to heal")
                continue
            ctx = Context(system=system, nodes=[n for n in nodes if n.name in want or not want])
            try:
                fault = make_fault(e["fault"], ctx)
                value = fault.heal(e["detail"])
                if isolated_network(nodes[0]) and e["fault"].startswith(("partition", "packet")):
                    for n in ctx.nodes:      # belt and braces: no rule of ours may survive
                        clear_drops(n)
            except Exception as err:  # noqa: BLE001 - reported, journal stays open
                report.append(f"{what}: NOT healed: {err}")
                continue
            closer.healed(e["id"], recovered=True)
            report.append(f"{what}: healed {value}")
    return report

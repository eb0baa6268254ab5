"""Healing the faults of killed runs: find their open journal entries, re-attach to the
run's nodes through the backend registry, and undo each fault from its recorded detail.

Runs at the start of every command that touches clusters and from ``splitbrain
cluster heal``. Recovery never imports code named by a store: the system is
re-created only when the run's ``test.json`` names a built-in system (restarting
killed daemons needs it); a plugin system's faults are healed on the nodes alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splitbrain.clusters.backends import get_backend
from splitbrain.clusters.node import Node
from splitbrain.clusters.system import System
from splitbrain.clusters.systems import SYSTEMS
from splitbrain.errors import ClusterGone, HarnessError
from splitbrain.history.store import TEST
from splitbrain.nemesis.journal import Journal, find_journals, open_faults
from splitbrain.nemesis.recovery import heal_entry

Attach = Callable[[dict[str, Any]], tuple[System | None, list[Node]]]


def attach_journaled(entry: dict[str, Any]) -> tuple[System | None, list[Node]]:
    """Re-attach to a killed run's nodes, and to its system when that is a built-in one,
    from the ``test.json`` beside its journal."""
    nodes = get_backend(entry["backend"]).attach(entry["test"])
    system = None
    journal = entry.get("journal")
    if journal:
        try:
            spec = json.loads((Path(journal).parent / TEST).read_text(encoding="utf-8"))
            name = spec.get("system") if isinstance(spec, dict) else None
            if isinstance(name, str) and name in SYSTEMS:   # never a plugin's code
                cls = SYSTEMS.load(name)
                system = cls(nodes, cls.parse_options(spec.get("options") or {}),
                             entry["test"])
        except (OSError, ValueError, HarnessError):
            system = None
    return system, nodes


def recover_journals(store_root: Path, attach: Attach | None = None) -> list[str]:
    """Heal the faults of killed runs found under ``store_root``; one line per fault."""
    attach_fn = attach or attach_journaled
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
            except ClusterGone as err:
                closer.healed(e["id"], recovered=True, note=f"cluster gone: {err}")
                report.append(f"{what}: cluster no longer exists")
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
            try:
                value = heal_entry(e, system, nodes)
            except Exception as err:  # noqa: BLE001 - reported, journal stays open
                report.append(f"{what}: NOT healed: {err}")
                continue
            closer.healed(e["id"], recovered=True)
            report.append(f"{what}: healed {value}")
    return report

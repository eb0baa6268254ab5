"""Clusters by claim: make a claim before a cluster exists, refuse a name another
run or store holds, remove a claimed cluster, and ``cluster down --all``.

Nothing here looks for resources by name pattern: what is removed is what a claim
in the host registry (:mod:`splitbrain.clusters.ownership`) lists, through the
backend that made it. What no claim covers is never touched.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbrain.clusters.node import Backend
from splitbrain.clusters.ownership import Claim, claims, claims_for
from splitbrain.errors import ClusterGone, HarnessError
from splitbrain.harness.recovery import backend_for, heal_claim
from splitbrain.nemesis.recovery import heal_nodes

log = logging.getLogger("splitbrain.claims")


def store_key(store: str | Path) -> str:
    """A store as claims record it: its absolute, resolved path."""
    return os.path.realpath(os.path.expanduser(str(store)))


def new_claim(backend: Backend, name: str, store: str | Path, *, kind: str = "run",
              system: str | None = None, options: dict[str, str] | None = None) -> Claim:
    """A claim for cluster ``name`` about to be made by ``backend`` (not saved yet: the
    node scope takes it, which saves it before anything is created; a run adds its
    run directory and journal first).

    Refuses, with one line, a name that a live run or another store's kept cluster
    holds on this backend; removes a killed run's leftovers, and this store's kept
    cluster, of the same name first (as re-running a test always has)."""
    here = store_key(store)
    for old in claims_for(backend.name, name):
        state = old.state
        if state == "live" and not old.mine():
            pid = (old.owner or {}).get("pid")
            raise HarnessError(f"{old.describe()} is in use by a live splitbrain process "
                               f"(pid {pid}): pick another --name")
        if state == "kept" and old.store != here:
            raise HarnessError(f"{old.describe()} is kept there: remove it with `splitbrain "
                               f"cluster down --name {name} --store {old.store}` or pick "
                               f"another --name")
        log.info("removing %s (%s) before re-making it", old.describe(), state)
        remove_claimed(old)
    args = backend.backend_args()
    return Claim(backend=backend.name, name=name, kind=kind, store=here,
                 system=system if system and ":" not in system else None,
                 options=dict(options or {}), backend_args=args)


def remove_claimed(claim: Claim) -> list[str]:
    """Remove everything ``claim`` lists, through the backend that made it, then drop
    the claim. ssh hosts stay, so our faults are taken off them first."""
    backend = backend_for(claim)
    if claim.backend == "ssh":
        try:
            nodes = backend.attach(claim.name)
            try:
                heal_nodes(nodes)
            finally:
                for n in nodes:
                    n.close()
        except ClusterGone:
            pass
    backend.destroy(claim.name)
    claim.drop()
    made = ", ".join(f"{w} {n}" for w, n in claim.made) or "nothing recorded"
    return [f"removed {claim.describe()}: {made}"]


@dataclass
class DownReport:
    """What ``cluster down --all`` removed, left alone (and why), and failed on."""

    removed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def down_all(store: str | Path, *, everywhere: bool = False) -> DownReport:
    """Remove what this store's claims made and the leftovers of killed runs; list and
    leave alone live runs and other stores' kept clusters unless ``everywhere``."""
    here = store_key(store)
    rep = DownReport()
    for c in claims():
        state = c.state
        if c.mine():
            continue
        if not everywhere and state == "live":
            rep.left.append(f"{c.describe()}: a live run (pid {(c.owner or {}).get('pid')})")
            continue
        if not everywhere and state == "kept" and c.store != here:
            rep.left.append(f"{c.describe()}: kept by another store (--everywhere removes "
                            f"it)")
            continue
        if state == "killed" and not c.healed:
            heal_claim(c)          # faults off first (ssh hosts outlive the cluster)
        try:
            rep.removed += remove_claimed(c)
        except Exception as e:  # noqa: BLE001 - reported; the claim stays for the next try
            rep.failed.append(f"{c.describe()}: could not remove: {e}")
    return rep


def find_named(name: str, store: str | Path) -> Claim:
    """The claim of cluster ``name`` in ``store`` (any backend), or a one-line error
    that says where else a cluster of that name is."""
    here = store_key(store)
    mine = [c for c in claims() if c.name == name and c.store == here]
    if len(mine) == 1:
        return mine[0]
    if len(mine) > 1:
        raise HarnessError(f"{len(mine)} clusters named {name!r} in {here} (on "
                           f"{', '.join(c.backend for c in mine)}): remove them with "
                           f"`splitbrain cluster down --all`")
    elsewhere = [c for c in claims() if c.name == name]
    if elsewhere:
        where = "; ".join(f"{c.describe()} [{c.state}]" for c in elsewhere)
        raise HarnessError(f"no cluster named {name!r} in store {here}; there is {where}: "
                           f"pass its --store")
    raise HarnessError(f"no cluster named {name!r} in store {here} (start one with "
                       f"`splitbrain cluster up --name {name}`; `splitbrain cluster status` "
                       f"lists every cluster)")


def overview() -> list[dict[str, Any]]:
    """Every claim as a row for ``cluster status``: name, backend, state, store, made."""
    rows = []
    for c in claims():
        state = {"live": f"live (pid {(c.owner or {}).get('pid')})",
                 "kept": "kept cluster",
                 "killed": "killed run, faults healed" if c.healed else
                           "killed run, faults NOT healed"}[c.state]
        kinds: dict[str, int] = {}
        for w, _ in c.made:
            kinds[w] = kinds.get(w, 0) + 1
        rows.append({"name": c.name, "backend": c.backend, "kind": c.kind, "state": state,
                     "store": c.store or "-", "made": ", ".join(f"{n} {w}" for w, n in
                                                                kinds.items()) or "-",
                     "claim": c})
    return rows

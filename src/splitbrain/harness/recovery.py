"""Healing the faults of killed runs, found through the host registry of claims
(:mod:`splitbrain.clusters.ownership`) whatever the working directory.

A claim whose owner died says which backend made the cluster, its name, the ssh
hosts and credentials reference, the built-in system (if any) and where the run's
fault journal is. Recovery re-attaches through the backend registry, undoes each
open journal entry from its recorded detail, then removes whatever fault of ours
can remain on the nodes (iptables chain, netem, clock offset, paused daemons).

Recovery never imports code named by a store: a system is re-created only when the
claim names a built-in one (restarting killed daemons needs it). Every name read
back — from a claim, a journal — is checked before it picks a path or a resource,
and a journal entry must match its claim's backend and cluster.

``splitbrain cluster heal --store S`` also heals journals under S that no claim
covers (runs of an older splitbrain, library use); those are trusted no further
than their checked names, and never for ssh (which needs the claim's hosts).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbrain.clusters.backends import BACKENDS, get_backend
from splitbrain.clusters.node import Backend, Node
from splitbrain.clusters.ownership import Claim, check_name, claims
from splitbrain.clusters.system import System
from splitbrain.clusters.systems import SYSTEMS
from splitbrain.errors import ClusterGone, HarnessError
from splitbrain.nemesis.faults import FAULT_REGISTRY
from splitbrain.nemesis.journal import Journal, find_journals, open_faults
from splitbrain.nemesis.recovery import heal_entry, heal_nodes

Attach = Callable[[dict[str, Any]], tuple[System | None, list[Node]]]
_NODE = re.compile(r"n[0-9]{1,3}")
_DAEMON = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_HOST = re.compile(r"(?:[A-Za-z0-9_.-]+@)?(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])"
                   r"(?::[0-9]{1,5})?")


@dataclass
class Outcome:
    """One line of what recovery did, and whether that thing is healed now."""

    line: str
    ok: bool = True


# -- backends and systems from a claim --------------------------------------------------

def backend_kwargs(claim: Claim) -> dict[str, Any]:
    """The checked constructor arguments of the claim's backend (ssh: hosts and the
    credentials reference; the others need none)."""
    if claim.backend not in BACKENDS:
        raise HarnessError(f"claim {claim.id[:12]}: unknown backend {claim.backend!r}")
    if claim.backend != "ssh":
        return {}
    a = claim.backend_args
    hosts = a.get("hosts")
    if not isinstance(hosts, list) or not hosts or not all(
            isinstance(h, str) and _HOST.fullmatch(h) for h in hosts):
        raise HarnessError(f"claim {claim.id[:12]}: bad ssh host list {hosts!r}")
    out: dict[str, Any] = {"hosts": list(hosts)}
    for k in ("user",):
        if a.get(k) is not None:
            if not isinstance(a[k], str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", a[k]):
                raise HarnessError(f"claim {claim.id[:12]}: bad ssh {k} {a[k]!r}")
            out[k] = a[k]
    for k in ("key_file", "known_hosts", "base_dir"):
        if a.get(k) is not None:
            if not isinstance(a[k], str) or not a[k].startswith("/"):
                raise HarnessError(f"claim {claim.id[:12]}: {k} must be an absolute path")
            out[k] = a[k]
    if a.get("port") is not None:
        if not isinstance(a["port"], int) or not 0 < a["port"] < 65536:
            raise HarnessError(f"claim {claim.id[:12]}: bad ssh port {a['port']!r}")
        out["port"] = a["port"]
    for k in ("sudo", "accept_unknown_host_keys"):
        out[k] = a.get(k) is True
    return out


def backend_for(claim: Claim) -> Backend:
    """The backend that made ``claim``'s cluster, recording into that claim."""
    check_name(claim.name, "cluster name")
    be = get_backend(claim.backend, **backend_kwargs(claim))
    be.claim = claim
    return be


def system_for(claim: Claim, nodes: list[Node]) -> System | None:
    """The claim's system when it is a built-in one (never a plugin's code)."""
    name = claim.system
    if not isinstance(name, str) or name not in SYSTEMS:
        return None
    try:
        cls = SYSTEMS.load(name)
        return cls(nodes, cls.parse_options(dict(claim.options)), claim.name)
    except HarnessError:
        return None


# -- journal entries --------------------------------------------------------------------

def check_entry(entry: dict[str, Any]) -> None:
    """Refuse a journal entry whose names could point anywhere unexpected."""
    if not isinstance(entry.get("fault"), str) or entry["fault"] not in FAULT_REGISTRY:
        raise HarnessError(f"unknown fault {entry.get('fault')!r}")
    if not isinstance(entry.get("backend"), str) or entry["backend"] not in BACKENDS:
        raise HarnessError(f"unknown backend {entry.get('backend')!r}")
    check_name(entry.get("test"), "cluster name")
    nodes = entry.get("nodes") or {}
    if not isinstance(nodes, dict) or not all(isinstance(k, str) and _NODE.fullmatch(k)
                                              for k in nodes):
        raise HarnessError("bad node names")
    detail = entry.get("detail")
    if not isinstance(detail, dict):
        raise HarnessError("no detail")
    listed = detail.get("nodes")
    if listed is not None and not (isinstance(listed, list) and all(
            isinstance(n, str) and _NODE.fullmatch(n) for n in listed)):
        raise HarnessError("bad node names in the detail")
    grudge = detail.get("grudge")
    if grudge is not None and not (isinstance(grudge, dict) and all(
            isinstance(k, str) and _NODE.fullmatch(k) for k in grudge)):
        raise HarnessError("bad grudge")
    daemon = detail.get("daemon")
    if daemon is not None and not (isinstance(daemon, str) and _DAEMON.fullmatch(daemon)):
        raise HarnessError(f"bad daemon name {daemon!r}")


def journal_ok(path: Path) -> bool:
    """A journal we may read and append to: a regular file of ours, not a symlink
    (a store can be writable by others; recovery never writes through their link)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()


def _heal_entries(path: Path, entries: list[dict[str, Any]], attach: Attach) -> list[Outcome]:
    """Heal the open ``entries`` of one journal; close each that is healed."""
    out: list[Outcome] = []
    closer = Journal(path, {})
    for e in entries:
        what = f"{e.get('fault')} on {e.get('test')!r} ({e.get('backend')}) from {path}"
        try:
            check_entry(e)
        except HarnessError as err:
            out.append(Outcome(f"{what}: NOT healed, refusing a journal entry: {err}", False))
            continue
        e.setdefault("journal", str(path))
        try:
            system, nodes = attach(e)
        except ClusterGone as err:
            closer.healed(e["id"], recovered=True, note=f"cluster gone: {err}")
            out.append(Outcome(f"{what}: cluster no longer exists"))
            continue
        except Exception as err:  # noqa: BLE001 - reported, journal stays open for next time
            out.append(Outcome(f"{what}: NOT healed, could not re-attach: {err}", False))
            continue
        want = e.get("nodes") or {}
        have = {n.name: n.address for n in nodes}
        if want and any(have.get(k) not in (None, v) for k, v in want.items()):
            closer.healed(e["id"], recovered=True, note="cluster was recreated")
            out.append(Outcome(f"{what}: cluster was recreated since, nothing left to heal"))
            continue
        try:
            value = heal_entry(e, system, nodes)
        except Exception as err:  # noqa: BLE001 - reported, journal stays open
            out.append(Outcome(f"{what}: NOT healed: {err}", False))
            continue
        closer.healed(e["id"], recovered=True)
        out.append(Outcome(f"{what}: healed {value}"))
    return out


# -- killed runs, by claim ----------------------------------------------------------------

def heal_claim(claim: Claim) -> list[Outcome]:
    """Heal what the killed run of ``claim`` left: its open journal entries, then any
    fault of ours still on its nodes. Marks the claim healed when all of it is."""
    label = claim.describe()
    try:
        backend = backend_for(claim)
        nodes = backend.attach(claim.name)
    except ClusterGone as e:
        claim.healed = True
        claim.save()
        return [Outcome(f"{label}: its cluster no longer exists ({e})")]
    except Exception as e:  # noqa: BLE001 - reported; the claim stays unhealed
        return [Outcome(f"{label}: NOT healed, could not re-attach: {e}", False)]
    try:
        system = system_for(claim, nodes)
        out: list[Outcome] = []
        if claim.journal and journal_ok(Path(claim.journal)):
            path = Path(claim.journal)
            entries = [e for e in open_faults(path)
                       if e.get("backend") == claim.backend and e.get("test") == claim.name]
            out += _heal_entries(path, entries, lambda _e: (system, nodes))
        try:
            out += [Outcome(f"{label}: {line}") for line in heal_nodes(nodes, system)
                    if "is not running" not in line]
        except Exception as e:  # noqa: BLE001 - reported; the claim stays unhealed
            out.append(Outcome(f"{label}: NOT healed: {e}", False))
        if all(o.ok for o in out):
            claim.healed = True
            claim.save()
            if not out:
                out.append(Outcome(f"{label}: no fault was left"))
        return out
    finally:
        for n in nodes:
            try:
                n.close()
            except Exception:  # noqa: BLE001
                pass


def heal_killed_runs(only: Callable[[Claim], bool] | None = None) -> list[Outcome]:
    """Heal every killed run the registry knows of (not yet healed); one line per thing."""
    out: list[Outcome] = []
    for claim in claims():
        if claim.healed or claim.state != "killed" or (only is not None and not only(claim)):
            continue
        out += heal_claim(claim)
    return out


# -- journals no claim covers ---------------------------------------------------------------

def attach_unclaimed(entry: dict[str, Any]) -> tuple[System | None, list[Node]]:
    """Re-attach to a journal's cluster from its checked names alone (no system)."""
    if entry["backend"] == "ssh":
        raise HarnessError("an ssh run heals through its claim (it holds the hosts), "
                           "and this journal has none")
    return None, get_backend(entry["backend"]).attach(entry["test"])


def recover_store_journals(store_root: Path, attach: Attach | None = None) -> list[Outcome]:
    """Heal open faults of journals under ``store_root`` that no claim covers; entries of
    a cluster some claim holds are left to that claim (or its live owner)."""
    attach_fn = attach or attach_unclaimed
    claimed = {(c.backend, c.name) for c in claims()}
    out: list[Outcome] = []
    for path in find_journals(Path(store_root)):
        if not journal_ok(path):
            out.append(Outcome(f"{path}: NOT read: not a regular file of this user", False))
            continue
        entries = [e for e in open_faults(path)
                   if (e.get("backend"), e.get("test")) not in claimed]
        if entries:
            out += _heal_entries(path, entries, attach_fn)
    return out


def recover_journals(store_root: Path, attach: Attach | None = None) -> list[str]:
    """:func:`recover_store_journals` as lines (one per fault)."""
    return [o.line for o in recover_store_journals(store_root, attach)]

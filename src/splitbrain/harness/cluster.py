"""Cluster lifecycles as resource scopes, shared by a test run and ``splitbrain cluster up``.

Each scope undoes what it did when it exits, whatever happened inside: the nodes
scope destroys the backend's nodes (unless the cluster is kept), the system scope
collects the nodes' logs and stops the daemons. A run nests them with its clients,
workers and nemesis in one ``contextlib.ExitStack`` (see :mod:`splitbrain.harness.runner`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from splitbrain.clusters.backends import get_backend
from splitbrain.clusters.node import Backend, Node
from splitbrain.clusters.ownership import Claim
from splitbrain.clusters.system import System
from splitbrain.harness.spec import TestSpec

log = logging.getLogger("splitbrain.runner")


def resolve_backend(name: str) -> str:
    """``auto``: docker where reachable, netns as root, else local."""
    if name != "auto":
        return name
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return "docker"
    except Exception:  # noqa: BLE001 - any failure (no SDK, no engine) means "not reachable"
        pass
    return "netns" if os.geteuid() == 0 else "local"


def make_backend(spec: TestSpec) -> Backend:
    """The spec's backend (``auto`` resolved) through the backend registry."""
    name = resolve_backend(spec.backend)
    kwargs: dict[str, Any] = {}
    if name == "ssh":
        kwargs = {"hosts": spec.hosts, "user": spec.ssh_user, "key_file": spec.ssh_key,
                  "port": spec.ssh_port, "sudo": spec.ssh_sudo,
                  "accept_unknown_host_keys": spec.ssh_accept_unknown_host_keys,
                  "known_hosts": spec.ssh_known_hosts}
    return get_backend(name, **kwargs)


Keep = bool | Callable[[], bool]


def _kept(keep: Keep) -> bool:
    return keep() if callable(keep) else keep


@contextmanager
def node_scope(backend: Backend, cluster: str, count: int, *, keep: Keep = False,
               progress: Callable[[str, str], Any] | None = None,
               claim: Claim | None = None) -> Iterator[list[Node]]:
    """Create ``count`` nodes for ``cluster``; destroy them on exit unless ``keep`` (a bool,
    or a function asked at exit: ``cluster up`` keeps the cluster only once it is up).

    A create that fails half-way is cleaned up too: destroy runs whatever happened.
    With a ``claim`` (the host registry's record), this process owns it before
    anything is created and the backend records into it what it makes; it is dropped
    once the nodes are destroyed, or kept (no owner) with the cluster.
    """
    nodes: list[Node] = []
    if claim is not None:
        claim.take()
        backend.claim = claim
    try:
        nodes = backend.create(cluster, count)
        if progress is not None:
            for n in nodes:
                progress(n.name, "created")
        yield nodes
    finally:
        if _kept(keep):
            log.info("leaving the cluster %s running", cluster)
            if claim is not None:
                claim.keep()
        else:
            try:
                backend.destroy(cluster)
                if claim is not None:
                    claim.drop()
            except Exception:  # noqa: BLE001 - teardown is best effort, and logged
                log.exception("backend teardown failed (its claim stays: `splitbrain "
                              "cluster down --all` retries)")
        for n in nodes:
            try:
                n.close()
            except Exception:  # noqa: BLE001
                pass


@contextmanager
def system_scope(system: System, *, keep: Keep = False, logs_to: Path | None = None,
                 progress: Callable[[str, str], Any] | None = None) -> Iterator[System]:
    """Set the system up on its nodes; on exit collect logs into ``logs_to`` and stop the
    daemons (unless ``keep``)."""
    try:
        system.setup(progress=progress)
        yield system
    finally:
        if logs_to is not None:
            collect_logs(system, logs_to)
        if not _kept(keep):
            system.teardown()


def collect_logs(system: System, run_dir: Path) -> None:
    """Copy each node's logs to ``run_dir/nodes/<node>/`` (a missing log is no failure)."""
    for n in system.nodes:
        dest = run_dir / "nodes" / n.name
        try:
            paths = system.log_files(n)
        except Exception:  # noqa: BLE001
            continue
        for path in paths:
            try:
                dest.mkdir(parents=True, exist_ok=True)
                n.get_file(path, str(dest / Path(path).name))
            except Exception:  # noqa: BLE001 - a missing log is not a failure
                log.debug("no log %s on %s", path, n.name)

"""Backends give nodes: docker (default), netns, ssh, local. ``get_backend`` picks one by name.

Each backend is imported only when asked for, so ``import splitbrain`` stays light
and a missing optional dependency only matters to the backend that needs it.
"""

from __future__ import annotations

from typing import Any

from splitbrain.clusters.node import Backend
from splitbrain.registry import Entry, Registry

BACKENDS: Registry[Backend] = Registry("backend", {
    "docker": Entry("splitbrain.clusters.backends.docker:DockerBackend",
                    "containers of a locally built node image on a private network "
                    "(a Docker engine you may use: root or the docker group)",
                    needs=("docker",), extra="docker"),
    "netns": Entry("splitbrain.clusters.backends.netns:NetnsBackend",
                   "Linux network namespaces on this host (root; iproute2, iptables)"),
    "ssh": Entry("splitbrain.clusters.backends.ssh:SSHBackend",
                 "real hosts over SSH (root there, or --ssh-sudo)",
                 needs=("paramiko",), extra="ssh"),
    "local": Entry("splitbrain.clusters.backends.local:LocalBackend",
                   "processes on this host's loopback addresses (no root; no network faults)"),
}, base=Backend, plugins=False)
DEFAULT_BACKEND = "docker"


def backend_class(name: str) -> type[Backend]:
    """The Backend class registered under ``name``."""
    return BACKENDS.load(name)


def get_backend(name: str, **kw: Any) -> Backend:
    """An instance of the backend called ``name``; ``kw`` go to its constructor."""
    return backend_class(name)(**kw)


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "backend_class", "get_backend"]

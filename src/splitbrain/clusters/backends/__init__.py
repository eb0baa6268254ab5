"""Backends give nodes: docker (default), netns, ssh, local. ``get_backend`` picks one by name.

Each backend is imported only when asked for, so ``import splitbrain`` stays light
and a missing optional dependency only matters to the backend that needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

from splitbrain.clusters.node import Backend
from splitbrain.errors import HarnessError

BACKENDS: dict[str, str] = {
    "docker": "splitbrain.clusters.backends.docker:DockerBackend",
    "netns": "splitbrain.clusters.backends.netns:NetnsBackend",
    "ssh": "splitbrain.clusters.backends.ssh:SSHBackend",
    "local": "splitbrain.clusters.backends.local:LocalBackend",
}
DEFAULT_BACKEND = "docker"


def backend_class(name: str) -> type[Backend]:
    """The Backend class registered under ``name``."""
    target = BACKENDS.get(name)
    if target is None:
        raise HarnessError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise HarnessError(f"backend {name!r} is not available: {e}") from e


def get_backend(name: str, **kw: Any) -> Backend:
    """An instance of the backend called ``name``; ``kw`` go to its constructor."""
    return backend_class(name)(**kw)


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "backend_class", "get_backend"]

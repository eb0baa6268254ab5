"""Systems under test, by name, plus user plugins given as ``package.module:Class``."""

from __future__ import annotations

import importlib
import os
import sys

from splitbrain.clusters.system import System
from splitbrain.errors import HarnessError

BUILTIN = {
    "etcd": "splitbrain.clusters.systems.etcd:EtcdSystem",
    "zookeeper": "splitbrain.clusters.systems.zookeeper:ZooKeeperSystem",
    "raft": "splitbrain.clusters.systems.raft:RaftSystem",
    "consul": "splitbrain.clusters.systems.consul:ConsulSystem",
}


def load_class(ref: str, what: str) -> type:
    """Import ``package.module:Class`` with a one-line error on failure."""
    if ":" not in ref:
        raise HarnessError(f"{what} {ref!r}: expected package.module:Class")
    mod_name, cls_name = ref.split(":", 1)
    if os.getcwd() not in sys.path:  # plugins next to the user, as with `python -m`
        sys.path.append(os.getcwd())
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise HarnessError(f"{what} {ref!r}: cannot import {mod_name} ({e})") from None
    try:
        return getattr(mod, cls_name)
    except AttributeError:
        raise HarnessError(f"{what} {ref!r}: {mod_name} has no {cls_name}") from None


def get_system(name: str) -> type[System]:
    """The System class for a built-in name or a ``package.module:Class`` plugin."""
    ref = BUILTIN.get(name)
    if ref is None and ":" not in name:
        raise HarnessError(f"unknown system {name!r}: choose one of {', '.join(BUILTIN)} "
                           f"or give a plugin as package.module:Class")
    cls = load_class(ref or name, "system")
    if not (isinstance(cls, type) and issubclass(cls, System)):
        raise HarnessError(f"system {name!r} is not a splitbrain.clusters.system.System subclass")
    return cls

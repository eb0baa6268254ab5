"""Helpers shared by the integration tests of real clusters (not a test module)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from splitbrain.clusters.backends.local import LocalBackend
from splitbrain.clusters.node import Node
from splitbrain.clusters.system import System
from splitbrain.clusters.systems import get_system
from splitbrain.errors import ClientError


def eventually(fn: Callable[[], Any], timeout: float = 20.0, interval: float = 0.2) -> Any:
    """fn() until it returns without ClientError; its result."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


def wait_until(pred: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    """Poll pred() until true; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def follower(system: System) -> Node:
    """A node that is not the current leader (there must be a leader)."""
    ld = system.leader()
    assert ld is not None
    return next(n for n in system.nodes if n.name != ld.name)


@contextmanager
def local_cluster(system_name: str, options: dict[str, str], name: str,
                  expect: type[System]) -> Iterator[System]:
    """A healthy 3-node cluster of ``system_name`` on the local backend, torn down after."""
    backend = LocalBackend()
    nodes = backend.create(name, 3)
    cls = get_system(system_name)
    assert cls is expect
    system = cls(nodes, cls.parse_options(options), name)
    try:
        t0 = time.monotonic()
        system.setup()
        print(f"{system_name}: 3 local nodes healthy in {time.monotonic() - t0:.1f}s")
        yield system
    finally:
        system.teardown()
        backend.destroy(name)

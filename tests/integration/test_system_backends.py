"""etcd, ZooKeeper and Raft on the isolating backends: Docker containers and network
namespaces. The basic round trip per backend x system: up and healthy, a write through
one node read through another, SIGKILL + restart of a follower keeps the data, pause
and resume, and teardown leaves no daemon behind.

Needs Docker (docker backend) or root (netns backend): skipped without them, a
failure under ``SPLITBRAIN_REQUIRE_DOCKER=1``.
"""

from __future__ import annotations

import os
import shutil
import time

import cluster_checks as checks
import pytest
from backend_checks import require

from splitbrain.clusters.systems import get_system

pytestmark = [pytest.mark.slow]

SYSTEMS = ["etcd", "zookeeper", "raft"]


def _need_host_binaries(system: str) -> None:
    """netns runs the host's binaries: etcd / ZooKeeper must be installed here."""
    missing = {"etcd": shutil.which("etcd") is None,
               "zookeeper": not os.path.exists("/usr/share/java/zookeeper.jar")}.get(system)
    if missing:
        why = f"{system} is not installed on this host (Debian package)"
        if os.environ.get("SPLITBRAIN_REQUIRE_DOCKER") == "1":
            pytest.fail(f"SPLITBRAIN_REQUIRE_DOCKER=1 but {why}")
        pytest.skip(why)


def make_backend(kind: str):
    if kind == "docker":
        require("docker")
        from splitbrain.clusters.backends.docker import DockerBackend
        return DockerBackend(progress=lambda s: print(s, flush=True))
    require("root")
    from splitbrain.clusters.backends.netns import NetnsBackend
    return NetnsBackend()


def eventually(fn, timeout: float = 30.0):
    return checks.eventually(fn, timeout=timeout, interval=0.3)


def with_client(system, node, fn):
    c = system.client(node)
    try:
        return fn(c)
    finally:
        c.close()


@pytest.mark.parametrize("system_name", SYSTEMS)
@pytest.mark.parametrize("kind", [pytest.param("docker", marks=pytest.mark.docker),
                                  pytest.param("netns", marks=pytest.mark.root)])
def test_round_trip(kind: str, system_name: str) -> None:
    backend = make_backend(kind)
    if kind == "netns":
        _need_host_binaries(system_name)
    test = f"pytest-sys-{system_name}-{kind}"
    nodes = backend.create(test, 3)
    cls = get_system(system_name)
    system = cls(nodes, cls.parse_options({"timeout": "2"}), test)
    try:
        t0 = time.monotonic()
        system.setup()
        print(f"{system_name} on {kind}: 3 nodes healthy in {time.monotonic() - t0:.1f}s")
        assert system.healthy()
        leader = system.leader()
        assert leader is not None and leader in nodes

        with_client(system, nodes[0], lambda c: c.write("k", [1, 2, 3]))
        assert with_client(system, nodes[2], lambda c: c.read("k")) == [1, 2, 3]

        f = next(n for n in nodes if n.name != leader.name)
        system.kill(f)
        assert not system.is_running(f)
        with_client(system, leader, lambda c: c.write("k2", "while-down"))
        system.start(f)
        system.wait_healthy(60)
        assert eventually(lambda: with_client(system, f, lambda c: c.read("k"))) == [1, 2, 3]
        assert eventually(lambda: with_client(system, f, lambda c: c.read("k2"))) == "while-down"

        system.pause(f)
        try:
            assert system.is_running(f)                 # stopped, not dead
            assert not system.healthy()                 # the paused node doesn't answer
        finally:
            system.resume(f)
        system.wait_healthy(60)
        eventually(lambda: with_client(system, f, lambda c: c.write("k3", 3)))
        assert with_client(system, nodes[0], lambda c: c.read("k3")) == 3
    finally:
        system.teardown()
        try:
            assert not any(system.is_running(n) for n in nodes)
        finally:
            backend.destroy(test)

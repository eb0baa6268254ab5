"""Seconds from `cluster up` to ready nodes (and, given a system, to a healthy cluster).

    python benchmarks/cluster_up.py                      # docker + netns, 3 and 5 nodes
    python benchmarks/cluster_up.py --backends docker --sizes 5 --repeat 3
    python benchmarks/cluster_up.py --image-build        # also the one-time image build
    python benchmarks/cluster_up.py --image-build --from-scratch   # incl. debootstrap base
    python benchmarks/cluster_up.py --systems etcd,zookeeper,raft  # also seconds to healthy

Extend with a system: ``measure_cluster_up(make_backend, n, system_factory=f)``
where ``f(nodes) -> System``; the time then runs until ``System.setup()`` returns
(installed, started, healthy). Prints one line per measurement; not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from splitbrain.clusters.backends import get_backend
from splitbrain.clusters.node import Backend, Node
from splitbrain.errors import HarnessError

SystemFactory = Callable[[list[Node]], Any]


def measure_cluster_up(make_backend: Callable[[], Backend], count: int,
                       system_factory: SystemFactory | None = None, repeat: int = 1,
                       test_name: str = "bench-up") -> dict[str, Any]:
    """Create ``count`` nodes ``repeat`` times; return create/setup/destroy seconds (median)."""
    create_s, setup_s, destroy_s = [], [], []
    backend = make_backend()
    for _ in range(repeat):
        t0 = time.monotonic()
        nodes = backend.create(test_name, count)
        t1 = time.monotonic()
        create_s.append(t1 - t0)
        try:
            if system_factory is not None:
                system = system_factory(nodes)
                system.setup()
                setup_s.append(time.monotonic() - t0)
                system.teardown()
        finally:
            t2 = time.monotonic()
            backend.destroy(test_name)
            destroy_s.append(time.monotonic() - t2)
    out: dict[str, Any] = {"backend": backend.name, "nodes": count, "repeat": repeat,
                           "create_s": statistics.median(create_s),
                           "destroy_s": statistics.median(destroy_s)}
    if setup_s:
        out["healthy_s"] = statistics.median(setup_s)
    return out


def system_factory(name: str, **raw_opts: str) -> SystemFactory:
    """A factory making the named system (etcd, zookeeper, raft, plugin) on given nodes."""
    from splitbrain.clusters.systems import get_system
    cls = get_system(name)
    opts = cls.parse_options(raw_opts)
    return lambda nodes: cls(nodes, opts, test_name=f"bench-{name}")


def measure_image_build(from_scratch: bool) -> dict[str, Any]:
    """Seconds to build the node image (and, from scratch, the debootstrapped base too)."""
    from splitbrain.clusters import images
    client = images._client()
    if from_scratch:
        base = images.base_tag(images.host_codename())
        if images._image_exists(client, base):
            for img in client.images.list(name=images.IMAGE_REPO):
                for t in img.tags:
                    client.images.remove(t, force=True)
            client.images.remove(base, force=True)
    t0 = time.monotonic()
    tag = images.build_image(force=True, progress=lambda s: print("   ", s[:120], file=sys.stderr))
    total = time.monotonic() - t0
    size = client.images.get(tag).attrs["Size"]
    base_size = client.images.get(images._choose_base_name()).attrs["Size"]
    return {"image": tag, "from_scratch": from_scratch, "build_s": total,
            "size_mb": size / 1e6, "base_size_mb": base_size / 1e6}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="docker,netns")
    ap.add_argument("--sizes", default="3,5")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--systems", default="",
                    help="comma-separated systems: also time cluster up to healthy for each")
    ap.add_argument("--image-build", action="store_true", help="also time the image build")
    ap.add_argument("--from-scratch", action="store_true",
                    help="with --image-build: remove the base image first (debootstrap again)")
    args = ap.parse_args(argv)
    try:
        if args.image_build:
            r = measure_image_build(args.from_scratch)
            print(f"image build{' from scratch' if args.from_scratch else ' (base cached)'}: "
                  f"{r['build_s']:.1f} s  {r['image']}  {r['size_mb']:.0f} MB "
                  f"(base {r['base_size_mb']:.0f} MB)", flush=True)
        for name in args.backends.split(","):
            for n in (int(x) for x in args.sizes.split(",")):
                r = measure_cluster_up(lambda name=name: get_backend(name), n, repeat=args.repeat)
                print(f"{r['backend']:7s} {n} nodes: create {r['create_s']:.2f} s  "
                      f"destroy {r['destroy_s']:.2f} s  (median of {r['repeat']})", flush=True)
                for sysname in filter(None, args.systems.split(",")):
                    r = measure_cluster_up(lambda name=name: get_backend(name), n,
                                           system_factory=system_factory(sysname),
                                           repeat=args.repeat, test_name=f"bench-{sysname}")
                    print(f"{r['backend']:7s} {n} nodes: {sysname} healthy {r['healthy_s']:.2f} s "
                          f"after cluster up (nodes {r['create_s']:.2f} s; median of "
                          f"{r['repeat']})", flush=True)
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

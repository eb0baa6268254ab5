"""Seconds to apply and to heal nemesis faults on real nodes (netns backend, root).

    python benchmarks/nemesis_apply_heal.py                  # 3 and 5 nodes, 5 repeats
    python benchmarks/nemesis_apply_heal.py --sizes 5 --repeat 10

Per fault: the time from ``Nemesis.start`` (resolve + journal + apply on every node)
to its return, then the time of ``heal()``; also ``heal_nodes`` (``cluster heal``)
on clean nodes and ``recover_journals`` over a store. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from splitbrain.clusters.backends import get_backend
from splitbrain.clusters.node import Node
from splitbrain.clusters.system import Client, System
from splitbrain.harness.recovery import recover_journals
from splitbrain.nemesis import build_nemesis, heal_nodes
from splitbrain.nemesis.schedule import plan_step

SLEEPER = "import time\nwhile True: time.sleep(1)\n"


class Sleeper(System):
    """A real process per node to kill and pause."""

    name = "sleeper"
    daemon = "sleeper"

    def start(self, node: Node) -> None:
        node.start_daemon(self.daemon, [sys.executable, "-I", "-S", "-c", SLEEPER])

    def client(self, node: Node) -> Client:
        raise NotImplementedError


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3,5")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("nemesis_apply_heal: skipped, needs root (network namespaces, iptables)")
        return
    backend = get_backend("netns")
    for size in [int(s) for s in args.sizes.split(",")]:
        test = f"bench-nemesis-{size}"
        nodes = backend.create(test, size)
        system = Sleeper(nodes, {}, test)
        try:
            for n in nodes:
                system.start(n)
            with tempfile.TemporaryDirectory() as tmp:
                for fault, targets in (("partition-halves", "one"), ("partition-ring", "one"),
                                       ("packet-loss", "all"), ("pause", "majority"),
                                       ("kill", "one")):
                    nem = build_nemesis([fault], system=system, nodes=nodes, interval=1,
                                        targets=targets, seed=1, record=lambda op: op,
                                        journal_path=Path(tmp) / test / "faults.journal")
                    apply_s, heal_s = [], []
                    for i in range(args.repeat):
                        t0 = time.perf_counter()
                        nem.start(plan_step(nem.faults, nem.ctx.names, 1, i))
                        t1 = time.perf_counter()
                        nem.heal()
                        t2 = time.perf_counter()
                        apply_s.append(t1 - t0)
                        heal_s.append(t2 - t1)
                    print(f"{size} nodes  {fault:<17} apply median {statistics.median(apply_s):.3f}s"
                          f"  heal median {statistics.median(heal_s):.3f}s  (n={args.repeat})")
                t0 = time.perf_counter()
                heal_nodes(nodes)
                print(f"{size} nodes  heal_nodes (cluster heal, nothing to undo) "
                      f"{time.perf_counter() - t0:.3f}s")
                t0 = time.perf_counter()
                recover_journals(Path(tmp))
                print(f"{size} nodes  recover_journals over a store with {5 * args.repeat} "
                      f"closed faults {time.perf_counter() - t0:.4f}s")
        finally:
            for n in nodes:
                system.stop(n)
            backend.destroy(test)


if __name__ == "__main__":
    main()

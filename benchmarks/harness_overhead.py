"""Harness overhead: a no-op client, 50 workers, no rate limit, for N seconds.

Prints ops/s recorded (invocations completed per second) and the harness's
overhead per op in microseconds (wall time x workers / ops: the time one
worker spends per op when the client itself costs nothing).

    python benchmarks/harness_overhead.py [--seconds 10] [--workers 50]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from splitbrain.clusters.backends.local import LocalNode
from splitbrain.clusters.system import Client
from splitbrain.harness.progress import Progress
from splitbrain.harness.workers import PhaseRunner
from splitbrain.history.writer import HistoryWriter
from splitbrain.workloads.base import Workload, WorkloadConfig
from splitbrain.workloads.generator import Independent, Mix, OpSpec


class NoopClient(Client):
    capabilities = frozenset({"read", "write"})


class NoopWorkload(Workload):
    name = "noop"

    def generator(self) -> Any:
        def read(rng: random.Random) -> OpSpec:
            return OpSpec("read")

        def write(rng: random.Random) -> OpSpec:
            return OpSpec("write", rng.randrange(5))

        return Independent(lambda: Mix([(1, read), (1, write)]), group_size=5, ops_per_key=1000)

    def apply(self, client: Client, op: OpSpec) -> tuple[str, Any]:
        return "ok", op.value

    def checkers(self) -> list[Any]:
        return []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=50)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        writer = HistoryWriter(Path(d) / "history.jsonl")
        node = LocalNode("n1", "127.0.0.1", d)
        wl = NoopWorkload(WorkloadConfig(concurrency=a.workers))
        pr = PhaseRunner(writer=writer, workload=wl, clients=[NoopClient(node)] * a.workers,
                         nodes=[node], processes=list(range(a.workers)),
                         concurrency=a.workers, rate=0, seed=1, progress=Progress(a.seconds))
        t0 = time.perf_counter()
        pr.start(wl.generator(), a.seconds)
        while pr.alive():
            time.sleep(0.05)
        pr.halt()
        wall = time.perf_counter() - t0
        writer.close()
        n_ops = sum(1 for o in writer.ops if o.type != "invoke")
        size = (Path(d) / "history.jsonl").stat().st_size
    print(f"workers={a.workers} seconds={wall:.2f} ops={n_ops} events={2 * n_ops} "
          f"history_bytes={size}")
    print(f"ops/s recorded: {n_ops / wall:,.0f}")
    print(f"harness overhead per op: {wall * 1e6 / n_ops:.1f} us wall "
          f"({wall * a.workers * 1e6 / n_ops:.0f} us per op per worker)")


if __name__ == "__main__":
    main()

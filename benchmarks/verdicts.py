"""Run the real-cluster scenarios of the workloads issue and print their verdicts.

Each scenario is a real `splitbrain test` (real etcd / Raft nodes, real iptables
partitions) run through the runner in-process. For each run it prints the
verdict, ops/s reached, the share of ok / fail / info and the checker's time.

    python benchmarks/verdicts.py                     # every scenario, 60 s runs
    python benchmarks/verdicts.py --seconds 20 --only etcd-register,raft-stale-read
    python benchmarks/verdicts.py --backend netns --list
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from splitbrain.errors import HarnessError
from splitbrain.harness.runner import run_test
from splitbrain.harness.spec import TestSpec
from splitbrain.verdict import word as verdict_word

# name: (spec overrides, repetitions, what the issue expects)
SCENARIOS: dict[str, tuple[dict[str, Any], int, str]] = {
    "etcd-register": (dict(system="etcd", workload="register", nemesis=["partition-leader"]),
                      3, "valid in 3 of 3"),
    "etcd-serializable": (dict(system="etcd", workload="register", nemesis=["partition-leader"],
                               options={"serializable": "true"}),
                          3, "invalid (stale read) in at least 2 of 3"),
    "raft-stale-read": (dict(system="raft", workload="register", nemesis=["partition-leader"],
                             options={"bug": "stale-read"}), 1, "invalid"),
    "raft-register": (dict(system="raft", workload="register", nemesis=["partition-leader"]),
                      1, "valid"),
    "etcd-set": (dict(system="etcd", workload="set", nemesis=["kill", "partition"]), 1, "valid"),
    "etcd-counter": (dict(system="etcd", workload="counter", nemesis=["kill", "partition"]),
                     1, "valid"),
    "raft-set": (dict(system="raft", workload="set", nemesis=["kill", "partition"]), 1, "valid"),
    "raft-counter": (dict(system="raft", workload="counter", nemesis=["kill", "partition"]),
                     1, "valid"),
    "raft-no-fsync-set": (dict(system="raft", workload="set", nemesis=["kill"],
                               nemesis_targets="all", options={"bug": "no-fsync"}),
                          1, "invalid (lost elements)"),
}


def share(stats: dict[str, Any]) -> str:
    tot = {"ok": 0, "fail": 0, "info": 0}
    for d in stats.get("by_f", {}).values():
        for k in tot:
            tot[k] += d.get(k, 0)
    n = sum(tot.values()) or 1
    return " ".join(f"{k}={100 * v / n:.0f}%" for k, v in tot.items())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    ap.add_argument("--reps", type=int, default=0, help="override repetitions")
    ap.add_argument("--store", default="store-verdicts")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    names = [n for n in a.only.split(",") if n] or list(SCENARIOS)
    if a.list:
        for n in names:
            print(n, "-", SCENARIOS[n][2])
        return 0
    print(f"{'scenario':22} {'run':>3} {'verdict':8} {'ops/s':>7} {'ok/fail/info':28} "
          f"{'check s':>7}  expected")
    for n in names:
        over, reps, expect = SCENARIOS[n]
        for i in range(a.reps or reps):
            spec = TestSpec(**{"time_limit": a.seconds, "backend": a.backend, "rate": 200,
                               "concurrency": 10, "nemesis_interval": 8, "store": a.store,
                               "name": n, **over})
            t0 = time.monotonic()
            try:
                res = run_test(spec)
            except HarnessError as e:
                print(f"{n:22} {i + 1:>3} error    {e}")
                continue
            stats = res.results.get("stats", {})
            ops_s = stats.get("ops", 0) / a.seconds
            check_s = sum(c.get("elapsed_s", 0) for c in res.results.get("checkers", {}).values())
            word = "error" if res.error else verdict_word(res.valid)
            print(f"{n:22} {i + 1:>3} {word:8} {ops_s:7.0f} {share(stats):28} {check_s:7.2f}  "
                  f"{expect}  [{time.monotonic() - t0:.0f}s, {res.run_dir}]"
                  + (f" {res.error}" if res.error else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

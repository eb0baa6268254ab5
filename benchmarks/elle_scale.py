"""How fast is the Elle checker on a large list-append history? Prints time and peak memory.

Generates a strict-serializable history from a real serial execution: each of the
processes runs transactions back to back; every transaction takes effect at a random
instant between its invocation and its completion (so transactions of different
processes overlap), and the transactions are executed one at a time against an in-memory
store in the order of those instants. Then checks it with
``splitbrain.checker.elle.check`` (default strict-serializable, real-time edges included)
and with ``serializable``.

    python benchmarks/elle_scale.py [--txns 100000] [--keys 1000] [--processes 20]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time

from splitbrain.checker.elle import check
from splitbrain.history.ops import Op


def generate(n_txns: int, n_keys: int, n_procs: int, seed: int,
             stale: float = 0.0, kind: str = "list-append") -> list[Op]:
    """A list-append (or rw-register) history of ``n_txns`` transactions;
    strict-serializable unless ``stale`` > 0."""
    write = "append" if kind == "list-append" else "w"
    rng = random.Random(seed)
    clock = [0.0] * n_procs
    txns = []  # (t_invoke, t_effect, t_complete, process, micro-ops)
    for i in range(n_txns):
        p = i % n_procs
        t_inv = clock[p] + rng.random()
        dur = rng.expovariate(1.0) * 5
        t_eff = t_inv + rng.random() * dur
        t_cmp = t_inv + dur
        clock[p] = t_cmp
        mops = []
        for _ in range(rng.randint(1, 5)):
            k = rng.randrange(n_keys)
            mops.append([write, k, None] if rng.random() < 0.5 else ["r", k, None])
        txns.append((t_inv, t_eff, t_cmp, p, mops))
    # Execute serially in effect order; appended values are unique per key. With
    # ``stale`` a fraction of reads return the key as it was a few txns earlier
    # (a broken system), which makes the history non-serializable.
    state: dict[int, list[int]] = {}
    next_val: dict[int, int] = {}
    results = {}
    for j in sorted(range(n_txns), key=lambda j: txns[j][1]):
        done = []
        for f, k, _ in txns[j][4]:
            if f == write:
                v = next_val.get(k, 0) + 1
                next_val[k] = v
                state.setdefault(k, []).append(v)
                done.append([write, k, v])
            else:
                cur = state.get(k, [])
                if stale and cur and rng.random() < stale:
                    cur = cur[:max(0, len(cur) - rng.randint(1, 3))]
                if write == "append":
                    done.append(["r", k, list(cur)])
                else:
                    done.append(["r", k, cur[-1] if cur else None])
        results[j] = done
    events = []
    for j, (t_inv, _e, t_cmp, p, _m) in enumerate(txns):
        inv = [[f, k, v if f == write else None] for f, k, v in results[j]]
        events.append((t_inv, 0, Op("invoke", p, "txn", inv)))
        events.append((t_cmp, 1, Op("ok", p, "txn", results[j])))
    events.sort(key=lambda e: (e[0], e[1]))
    ops = [e[2] for e in events]
    for i, op in enumerate(ops):
        op.index = i
        op.time = int(events[i][0] * 1e6)
    return ops


def peak_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--txns", type=int, default=100_000)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--processes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--stale", type=float, default=0.0,
                    help="fraction of reads that return an older version (anomalous run)")
    ap.add_argument("--time-limit", type=float, default=None)
    ap.add_argument("--kind", choices=["list-append", "rw-register"], default="list-append")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ops = generate(args.txns, args.keys, args.processes, args.seed, args.stale, args.kind)
    gen_s = time.perf_counter() - t0
    mops = sum(len(op.value) for op in ops if op.type == "ok")
    print(f"generated {args.txns} {args.kind} txns ({mops} micro-ops, {len(ops)} ops, {args.keys} keys, "
          f"{args.processes} processes) in {gen_s:.1f} s; peak RSS so far {peak_mb():.0f} MB; "
          f"load average {os.getloadavg()[0]:.2f}")
    for model in ("strict-serializable", "serializable"):
        t1 = time.perf_counter()
        r = check(ops, kind=args.kind, consistency_model=model,
                  time_limit=args.time_limit)
        dt = time.perf_counter() - t1
        print(f"check {model:20s} valid={r['valid']!s:5s} anomalies={r['anomaly_types']} "
              f"time {dt:.1f} s ({args.txns / dt:,.0f} txn/s); "
              f"peak RSS {peak_mb():.0f} MB")
        if r["valid"] is not True and not args.stale:
            print("  UNEXPECTED: the generated history is strict-serializable", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()

"""Scale test: a generated history over many independent cas-register keys, with info ops.

Default: 100,000 operations (200,000 invoke/completion events) over 1,000 keys,
10% of them ending ``info``. Prints generation and check time and peak memory
(max RSS of this process and of pool workers). Target: check < 30 s, < 1 GiB.

    python benchmarks/checker_scale.py [--ops N] [--keys K] [--info P] [--serial | --force-parallel]
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from splitbrain.checker.linearizability import check
from splitbrain.history.ops import Op, validate


def generate(n_ops: int, n_keys: int, info: float, conc: int, seed: int) -> list[Op]:
    """Each key gets a sequential cas-register run (op i at time 10*i + 5) with random
    overlap; ``info`` of the ops crash, having taken effect or not. Keys interleave."""
    rng = random.Random(seed)
    per_key = n_ops // n_keys
    events: list[tuple[int, int, Op]] = []
    seq = 0
    for k in range(n_keys):
        key = f"k{k}"
        state = None
        spans = []
        for i in range(per_key):
            t = 10 * i + 5
            r = rng.random()
            if r < 0.4:
                f, vin, vout, ns, typ = "read", None, state, state, "ok"
            elif r < 0.7:
                v = rng.randrange(5)
                f, vin, vout, ns, typ = "write", v, v, v, "ok"
            else:
                a, b = rng.randrange(5), rng.randrange(5)
                ok = state == a
                f, vin, vout, ns, typ = "cas", [a, b], [a, b], (b if ok else state), ("ok" if ok else "fail")
            crashed = rng.random() < info
            if crashed:
                if f == "read" or rng.random() < 0.5:
                    ns = state
                typ = "info"
            state = ns
            spans.append((t - rng.randrange(1, 10 * conc), t + rng.randrange(1, 10 * conc),
                          f, vin, vout, typ))
        spans.sort()
        free_at: dict[int, int] = {}
        base = k * 10_000
        nxt = base
        for call, ret, f, vin, vout, typ in spans:
            proc = next((p for p, tt in free_at.items() if tt < call), None)
            if proc is None:
                proc, nxt = nxt, nxt + 1
            if typ == "info":
                free_at.pop(proc, None)
                vout = None
            else:
                free_at[proc] = ret
            events.append((call, seq, Op("invoke", proc, f, vin, key=key, time=call)))
            events.append((ret, seq + 1, Op(typ, proc, f, vout, key=key, time=ret)))
            seq += 2
    events.sort(key=lambda e: (e[0], e[1]))
    ops = [e[2] for e in events]
    for i, op in enumerate(ops):
        op.index = i
    return ops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=100_000, help="operations (each = 2 events)")
    ap.add_argument("--keys", type=int, default=1_000)
    ap.add_argument("--info", type=float, default=0.10)
    ap.add_argument("--concurrency", type=int, default=5, help="overlap per key")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--serial", action="store_true", help="no process pool")
    ap.add_argument("--force-parallel", action="store_true",
                    help="use the process pool even where the heuristic would not")
    args = ap.parse_args()
    if args.force_parallel:
        from splitbrain.checker import linearizability as lin

        lin.PARALLEL_MIN_OPS = lin.PARALLEL_MIN_PARTITIONS = lin.PARALLEL_MIN_MEAN_OPS = 0
    t = time.perf_counter()
    ops = generate(args.ops, args.keys, args.info, args.concurrency, args.seed)
    validate(ops)
    gen_s = time.perf_counter() - t
    n_info = sum(1 for o in ops if o.type == "info")
    print(f"generated {len(ops)} events ({len(ops) // 2} operations, {n_info} info) over "
          f"{args.keys} keys in {gen_s:.2f} s")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    res = check(ops, "cas-register", parallel=not args.serial)
    check_s = time.perf_counter() - t
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"check: {res.valid} in {check_s:.2f} s ({res.partitions_checked} partitions, "
          f"{'serial' if args.serial else 'forced parallel' if args.force_parallel else 'parallel where it pays'})")
    print(f"peak RSS: this process {me:.0f} MiB (before check {rss0 / 1024:.0f} MiB), "
          f"largest worker {kids:.0f} MiB; target < 30 s and < 1024 MiB")


if __name__ == "__main__":
    main()

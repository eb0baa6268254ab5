"""Scale test: a generated history over many independent cas-register keys, with info ops.

Default: 100,000 operations (200,000 invoke/completion events) over 1,000 keys, 10% of
them ending ``info``. The history is generated as JSONL (in a child process) and read
back, as ``splitbrain check`` would, then the in-process check call is timed (median of
``--rounds`` after a warm-up). Memory: this process's RSS holding the history, its peak
RSS while checking (Linux: the peak is reset just before the checks), and the largest
forked worker's peak RSS (which counts the pages it shares with this process too).

With ``--porcupine DRIVER`` (or ``$SPLITBRAIN_PORCUPINE_DRIVER``, see checker_corpus.py)
Porcupine checks the same file side by side, the two tools taking turns check by check;
printed as a table with the load average.

    python benchmarks/checker_scale.py [--ops N] [--keys K] [--info P] [--serial]
        [--history FILE | --write FILE] [--porcupine DRIVER] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checker_corpus import Driver, side_by_side, word

from splitbrain.checker.linearizability import _build
from splitbrain.checker.models import get_model
from splitbrain.history.formats import read_history
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
        spans.sort(key=lambda s: (s[0], s[1]))
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


def _vm(field: str) -> float:
    """A ``/proc/self/status`` figure in MiB (-1 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=100_000, help="operations (each = 2 events)")
    ap.add_argument("--keys", type=int, default=1_000)
    ap.add_argument("--info", type=float, default=0.10)
    ap.add_argument("--concurrency", type=int, default=5, help="overlap per key")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--history", help="check this JSONL file instead of generating one")
    ap.add_argument("--write", help="only generate the history into this JSONL file")
    ap.add_argument("--serial", action="store_true", help="no forked processes")
    ap.add_argument("--rounds", type=int, default=5, help="timed checks per tool (median kept)")
    ap.add_argument("--porcupine", default=os.environ.get("SPLITBRAIN_PORCUPINE_DRIVER"),
                    help="the Porcupine driver binary (see checker_corpus.py)")
    args = ap.parse_args()
    if args.write:
        t = time.perf_counter()
        ops = generate(args.ops, args.keys, args.info, args.concurrency, args.seed)
        validate(ops)
        with open(args.write, "w") as f:
            for op in ops:
                f.write(op.to_json() + "\n")
        n_info = sum(1 for o in ops if o.type == "info")
        print(f"generated {len(ops)} events ({len(ops) // 2} operations, {n_info} info) over "
              f"{args.keys} keys in {time.perf_counter() - t:.2f} s")
        return
    tmp = None
    if args.history:
        path = Path(args.history)
    else:  # generate in a child, so that this process holds only the history read back
        fd, name = tempfile.mkstemp(suffix=".jsonl")
        os.close(fd)
        tmp = path = Path(name)
        subprocess.run([sys.executable, __file__, "--write", name, "--ops", str(args.ops),
                        "--keys", str(args.keys), "--info", str(args.info), "--concurrency",
                        str(args.concurrency), "--seed", str(args.seed)], check=True)
    try:
        ops = read_history(path, "jsonl")
        gc.collect()
        rss_loaded = _vm("VmRSS")
        try:  # reset the peak: what follows is the checks only
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        driver = Driver(args.porcupine, "jsonl", [path]) if args.porcupine else None
        ours, ov, theirs, tv, loads = side_by_side([ops], "cas-register", False, args.rounds,
                                                   driver, parallel=not args.serial, pause=0.2)
        mem = driver.close() if driver is not None else {}
        peak = _vm("VmHWM")
        build = []  # the part that reads the history: one pass pairing, splitting, compiling
        for _ in range(args.rounds):
            t = time.perf_counter()
            _build(ops, get_model("cas-register"), False)
            build.append((time.perf_counter() - t) * 1000)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"splitbrain: {word(ov[0])} in {ours[0]:.1f} ms "
              f"({'serial' if args.serial else 'forks allowed'}); RSS holding the history "
              f"{rss_loaded:.0f} MiB, peak while checking {peak:.0f} MiB, largest forked "
              f"worker {kids:.0f} MiB (pages it shares with this process included); of the "
              f"time, {statistics.median(build):.1f} ms pair, split and compile the history's "
              f"events (Porcupine's driver gets them paired and filtered by its parser)")
        if driver is not None:
            t_ms, o_ms = theirs[0], ours[0]
            print(f"Porcupine: {word(tv[0])} in {t_ms:.1f} ms; RSS holding the history "
                  f"{mem.get('rss_loaded_mib', -1):.0f} MiB, peak while checking "
                  f"{mem.get('peak_rss_checking_mib', -1):.0f} MiB")
            print()
            print("| workload | Porcupine ms | splitbrain ms | ratio | same verdict | "
                  "peak RSS while checking, Porcupine / splitbrain | load avg |")
            print("| --- | --- | --- | --- | --- | --- | --- |")
            print(f"| {args.ops // 1000}k ops, {args.keys} keys, {args.info:.0%} info | {t_ms:.1f} | "
                  f"{o_ms:.1f} | {o_ms / t_ms:.2f} | {'yes' if tv[0] == ov[0] else 'NO'} | "
                  f"{mem.get('peak_rss_checking_mib', -1):.0f} / {peak:.0f} MiB | "
                  f"{statistics.median(loads):.2f} |")
    finally:
        if tmp is not None:
            os.unlink(tmp)


if __name__ == "__main__":
    main()

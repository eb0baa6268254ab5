"""Differential test of the linearizability checker: random histories, both verdicts.

Generates random histories (kv with crashed appends, cas registers with crashed
cas), half of them mutated so that most are not linearizable, checks each with a
time limit, and prints how many were decided, and by which tool. With
``--porcupine DRIVER`` (or ``$SPLITBRAIN_PORCUPINE_DRIVER``: a binary that times
Porcupine's check call on JSONL files, see checker_corpus.py) the same files are
checked by Porcupine with the same time limit and the verdicts compared: any
disagreement between two decided verdicts is printed and fails the run.

    python benchmarks/checker_differential.py [--n 200] [--time-limit 2] [--seed 1]
        [--kinds kv,cas] [--porcupine DRIVER] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from splitbrain.checker.linearizability import check
from splitbrain.history.ops import Op, validate


def generate(rng: random.Random, kind: str, n: int, conc: int, crash: float,
             keys: int) -> list[Op]:
    """A sequential run per key (op i takes effect at time 10*i) with random overlap;
    ``crash`` of the writes / appends / cas crash (``info``): they took effect or not.
    A crashed client retires (a new process id takes its place), as in Jepsen."""
    events: list[tuple[int, int, Op]] = []
    seq = 0
    for key_no in range(keys):
        key = f"k{key_no}"
        state: Any = "" if kind == "kv" else None
        spans = []
        for i in range(n):
            t = 10 * i + 5
            r = rng.random()
            crashed = False
            if kind == "kv":
                if r < 0.35:
                    f, vin, vout, ns = "get", None, state, state
                elif r < 0.40:
                    tok = f"p{key_no}.{i} "
                    f, vin, vout, ns = "put", tok, tok, tok
                else:
                    tok = f"a{key_no}.{i} "
                    f, vin, vout, ns = "append", tok, tok, state + tok
                typ = "ok"
            else:
                if r < 0.4:
                    f, vin, vout, ns, typ = "read", None, state, state, "ok"
                elif r < 0.6:
                    v = rng.randrange(5)
                    f, vin, vout, ns, typ = "write", v, v, v, "ok"
                else:
                    a, b = rng.randrange(5), rng.randrange(5)
                    hit = state == a
                    f, vin, vout, ns, typ = "cas", [a, b], [a, b], (b if hit else state), (
                        "ok" if hit else "fail")
            if f not in ("get", "read") and rng.random() < crash:
                crashed = True
                if rng.random() < 0.5:
                    ns = state  # it did not take effect
                typ = "info"
            state = ns
            spans.append((t - rng.randrange(1, 10 * conc), t + rng.randrange(1, 10 * conc),
                          f, vin, vout, typ, crashed))
        spans.sort()
        free_at: dict[int, int] = {}
        nxt = key_no * 100_000
        for call, ret, f, vin, vout, typ, crashed in spans:
            proc = next((p for p, tt in sorted(free_at.items()) if tt < call), None)
            if proc is None:
                proc, nxt = nxt, nxt + 1
            if crashed:
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
    validate(ops)
    return ops


def mutate(rng: random.Random, ops: list[Op], kind: str) -> bool:
    """Change one ok read so that the history is (most likely) not linearizable."""
    reads = [o for o in ops if o.type == "ok" and o.f in ("get", "read")]
    if not reads:
        return False
    o = rng.choice(reads)
    if kind == "kv":
        toks = o.value.split(" ")[:-1] if o.value else []
        if len(toks) >= 2 and rng.random() < 0.5:
            i = rng.randrange(len(toks) - 1)
            toks[i], toks[i + 1] = toks[i + 1], toks[i]
        elif toks:
            del toks[rng.randrange(len(toks))]
        else:
            toks = ["zz"]
        o.value = "".join(t + " " for t in toks)
    else:
        o.value = rng.choice([v for v in (None, 0, 1, 2, 3, 4) if v != o.value])
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="histories per kind")
    ap.add_argument("--time-limit", type=float, default=2.0, help="seconds per history, both tools")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kinds", default="kv,cas")
    ap.add_argument("--porcupine", default=os.environ.get("SPLITBRAIN_PORCUPINE_DRIVER"),
                    help="Porcupine driver binary (see checker_corpus.py)")
    ap.add_argument("--keep", help="write the histories here (else a temporary directory)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sb-diff-"))
    tmp.mkdir(parents=True, exist_ok=True)
    bad = 0
    for kind in args.kinds.split(","):
        model = "kv" if kind == "kv" else "cas-register"
        files = []
        ours: dict[str, Any] = {}
        t_ours = 0.0
        for k in range(args.n):
            ops = generate(rng, kind, n=rng.randrange(20, 120), conc=rng.randrange(2, 8),
                           crash=rng.choice([0.1, 0.3, 0.5]), keys=rng.randrange(1, 4))
            if rng.random() < 0.5:
                mutate(rng, ops, kind)
            path = tmp / f"{kind}-{k:04d}.jsonl"
            path.write_text("".join(o.to_json() + "\n" for o in ops))
            files.append(path)
            t = time.perf_counter()
            res = check(ops, model, time_limit=args.time_limit)
            t_ours += time.perf_counter() - t
            ours[str(path)] = res.valid
        theirs: dict[str, Any] = {}
        if args.porcupine:
            mode = "jsonl-kv" if kind == "kv" else "jsonl"
            out = subprocess.run([args.porcupine, "-repeat", "1", "-warmup=false", "-timeout",
                                  str(args.time_limit), mode, *map(str, files)],
                                 capture_output=True, text=True, check=True).stdout
            for line in out.splitlines():
                d = json.loads(line)
                if "file" in d:
                    theirs[d["file"]] = {"valid": True, "invalid": False}.get(d["verdict"], "unknown")
        dec = sum(1 for v in ours.values() if v != "unknown")
        line = f"{kind:4s} {len(files)} histories, limit {args.time_limit:g} s: splitbrain decided {dec}"
        line += f" ({t_ours:.1f} s in all)"
        if theirs:
            both = only_us = only_them = disagree = 0
            for f, v in ours.items():
                w = theirs.get(f, "unknown")
                if v != "unknown" and w != "unknown":
                    both += 1
                    if v != w:
                        disagree += 1
                        print(f"  DISAGREE {f}: splitbrain {v}, Porcupine {w}")
                elif v != "unknown":
                    only_us += 1
                elif w != "unknown":
                    only_them += 1
                    print(f"  only Porcupine decided {f} ({w})")
            line += (f"; Porcupine decided {sum(1 for v in theirs.values() if v != 'unknown')}; "
                     f"both {both} (disagree {disagree}), only splitbrain {only_us}, "
                     f"only Porcupine {only_them}")
            bad += disagree
        print(line)
    if not args.keep:
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

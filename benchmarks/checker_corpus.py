"""Time the linearizability checker over the reference corpus, in-process, after warm-up.

Prints per-file and total times, and the etcd total against Porcupine's figure
(about 0.6 s for its 103 etcd histories on these machines, scaled to our 51 files).

    python benchmarks/checker_corpus.py [--histories DIR] [--repeat N] [--quiet]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from splitbrain.checker.linearizability import check
from splitbrain.history.formats import read_history

PORCUPINE_ETCD_S = 0.6
PORCUPINE_ETCD_FILES = 103


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--histories", default=os.environ.get("SPLITBRAIN_HISTORIES",
                                                           "/work/shared/histories"))
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per file (median kept)")
    ap.add_argument("--quiet", action="store_true", help="only the totals")
    args = ap.parse_args()
    root = Path(args.histories)
    manifest = json.loads((root / "MANIFEST.json").read_text())
    loaded = []
    t0 = time.perf_counter()
    for e in manifest:
        loaded.append((e, read_history(root / e["file"], e["format"])))
    read_s = time.perf_counter() - t0
    for e, ops in loaded:  # warm-up
        check(ops, e["model"], failed_cas_observes=e.get("failed_cas_observes", False))
    totals: dict[str, float] = {}
    wrong = 0
    for e, ops in loaded:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            res = check(ops, e["model"], failed_cas_observes=e.get("failed_cas_observes", False))
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        group = e["file"].split("/")[0]
        totals[group] = totals.get(group, 0.0) + med
        want = e["expected"] == "valid"
        ok = res.valid is want
        wrong += not ok
        if not args.quiet:
            print(f"{e['file']:52s} {len(ops):6d} ops  {str(res.valid):7s} {med * 1000:9.2f} ms"
                  f"{'' if ok else '  WRONG VERDICT'}")
    n_etcd = sum(1 for e in manifest if e["file"].startswith("porcupine-etcd/"))
    budget = PORCUPINE_ETCD_S * n_etcd / PORCUPINE_ETCD_FILES
    print(f"reading all {len(manifest)} files: {read_s:.3f} s (not included below)")
    for g, s in sorted(totals.items()):
        print(f"total {g:16s} {s * 1000:9.1f} ms")
    etcd = totals.get("porcupine-etcd", 0.0)
    print(f"etcd: {etcd:.3f} s for {n_etcd} files; Porcupine ~{budget:.3f} s scaled "
          f"({PORCUPINE_ETCD_S} s / {PORCUPINE_ETCD_FILES} files); ratio {etcd / budget:.2f}x "
          f"(target <= 3x)")
    print(f"all {len(manifest)} files: {sum(totals.values()):.3f} s; wrong verdicts: {wrong}")


if __name__ == "__main__":
    main()

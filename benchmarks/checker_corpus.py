"""Time the linearizability checker over reference corpora, in-process, after warm-up.

Without arguments: the 109 shared reference histories (``MANIFEST.json``), per file and
per group, and any verdict that differs from the manifest's.

With ``--porcupine-data DIR`` (Porcupine's ``test_data``: ``jepsen/*.log``, ``kv/*.txt``):
the two Porcupine workloads, "etcd" (103 Jepsen logs, cas register, failed cas observed)
and "kv" (c01 / c10 / c50, ok and bad). With ``--porcupine DRIVER`` (or
``$SPLITBRAIN_PORCUPINE_DRIVER``) each workload is also checked by Porcupine, side by
side in the same run: after a warm-up, the two tools take turns, one in-process check
call of one file each (alternating who goes first), for ``--rounds`` rounds; a file's
time is the median of its rounds, a workload's the sum over its files (so a load that
comes and goes hits both tools alike). Prints a table with the load average.

The driver is not part of splitbrain (never commit Porcupine or its driver): a small Go
program built against a local copy of Porcupine, started as
``DRIVER -serve [-timeout S] MODE FILE...`` with MODE ``etcd`` | ``kv`` | ``jsonl`` |
``jsonl-kv``. It parses the files itself, runs one untimed check of each, prints
``{"ready": true}``, then for each file number read on stdin times one
``porcupine.CheckEventsTimeout`` call and prints ``{"file", "verdict", "ms"}`` (verdict
valid / invalid / unknown); at the end of stdin it prints its memory
(``peak_rss_mib``, ``rss_loaded_mib``, ``peak_rss_checking_mib``).

    python benchmarks/checker_corpus.py [--histories DIR] [--repeat N] [--quiet]
    python benchmarks/checker_corpus.py --porcupine-data DIR [--porcupine DRIVER] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from splitbrain.checker.linearizability import check
from splitbrain.history.formats import read_history

#: (workload, glob under Porcupine's test_data, our format, model, failed_cas_observes, driver mode)
PORCUPINE_WORKLOADS = [
    ("etcd", "jepsen/*.log", "jepsen-log", "cas-register", True, "etcd"),
    ("kv", "kv/*.txt", "edn", "kv", False, "kv"),
]


def time_ours(ops: list[Any], model: str, fco: bool, repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` check calls (after one warm-up) and the verdict."""
    res = check(ops, model, failed_cas_observes=fco)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        res = check(ops, model, failed_cas_observes=fco)
        times.append(time.perf_counter() - t)
    return statistics.median(times), res.valid


def side_by_side(hist: list[Any], model: str, fco: bool, rounds: int,
                 driver: Driver | None, parallel: bool = True, pause: float = 0.0
                 ) -> tuple[list[float], list[Any], list[float], list[Any], list[float]]:
    """Per file: our median ms and verdict, Porcupine's median ms and verdict; and the
    load averages seen. The tools take turns check by check (who goes first alternates)."""
    for ops in hist:  # warm-up
        check(ops, model, failed_cas_observes=fco, parallel=parallel)
    ours: list[list[float]] = [[] for _ in hist]
    theirs: list[list[float]] = [[] for _ in hist]
    ov: list[Any] = [None] * len(hist)
    tv: list[Any] = [None] * len(hist)
    loads = []
    for r in range(rounds):
        loads.append(os.getloadavg()[0])
        for n, ops in enumerate(hist):
            for who in ((0, 1) if r % 2 == 0 else (1, 0)):
                if pause:  # let the other tool's background work (Go's GC, a child) settle
                    time.sleep(pause)
                if who == 0:
                    t = time.perf_counter()
                    ov[n] = check(ops, model, failed_cas_observes=fco, parallel=parallel).valid
                    ours[n].append((time.perf_counter() - t) * 1000)
                elif driver is not None:
                    ms, tv[n] = driver.check(n)
                    theirs[n].append(ms)
    return ([statistics.median(x) for x in ours], ov,
            [statistics.median(x) if x else float("nan") for x in theirs], tv, loads)


class Driver:
    """A Porcupine driver in ``-serve`` mode: one timed in-process check per request."""

    def __init__(self, binary: str, mode: str, files: list[Path], timeout: float = 0) -> None:
        cmd = [binary, "-serve"] + (["-timeout", str(timeout)] if timeout else [])
        self.proc = subprocess.Popen([*cmd, mode, *map(str, files)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        ready = json.loads(self.proc.stdout.readline() or "{}")
        if not ready.get("ready"):
            raise SystemExit(f"{binary}: did not start")

    def check(self, n: int) -> tuple[float, Any]:
        """Milliseconds and verdict of one check of file ``n``."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        d = json.loads(self.proc.stdout.readline())
        return d["ms"], {"valid": True, "invalid": False}.get(d["verdict"], "unknown")

    def close(self) -> dict[str, Any]:
        """Stop it; its memory figures."""
        out, _ = self.proc.communicate()
        lines = [json.loads(x) for x in out.splitlines() if x.strip()]
        return lines[-1] if lines else {}


def word(v: Any) -> str:
    return {True: "valid", False: "invalid"}.get(v, "unknown") if isinstance(v, bool) else str(v)


def manifest_mode(args: argparse.Namespace) -> None:
    root = Path(args.histories)
    manifest = json.loads((root / "MANIFEST.json").read_text())
    t0 = time.perf_counter()
    loaded = [(e, read_history(root / e["file"], e["format"])) for e in manifest]
    read_s = time.perf_counter() - t0
    totals: dict[str, float] = {}
    wrong = 0
    for e, ops in loaded:
        med, valid = time_ours(ops, e["model"], e.get("failed_cas_observes", False), args.repeat)
        group = e["file"].split("/")[0]
        totals[group] = totals.get(group, 0.0) + med
        ok = valid is (e["expected"] == "valid")
        wrong += not ok
        if not args.quiet:
            print(f"{e['file']:52s} {len(ops):6d} ops  {word(valid):8s} {med * 1000:9.2f} ms"
                  f"{'' if ok else '  WRONG VERDICT'}")
    print(f"reading all {len(manifest)} files: {read_s:.3f} s (not included below)")
    for g, s in sorted(totals.items()):
        print(f"total {g:16s} {s * 1000:9.1f} ms")
    print(f"all {len(manifest)} files: {sum(totals.values()) * 1000:.1f} ms; wrong verdicts: {wrong}"
          f"; load average {os.getloadavg()[0]:.2f}")


def porcupine_mode(args: argparse.Namespace) -> None:
    data = Path(args.porcupine_data)
    rows = []
    for name, pattern, fmt, model, fco, mode in PORCUPINE_WORKLOADS:
        files = sorted(data.glob(pattern))
        if not files:
            print(f"{name}: no files {data / pattern}")
            continue
        hist = [read_history(f, fmt) for f in files]
        driver = Driver(args.porcupine, mode, files) if args.porcupine else None
        ours, ov, theirs, tv, loads = side_by_side(hist, model, fco, args.rounds, driver)
        if driver is not None:
            driver.close()
        if not args.quiet:
            for f, ops, o, v, t, w in zip(files, hist, ours, ov, theirs, tv, strict=True):
                print(f"  {name} {f.name:14s} {len(ops):6d} events  splitbrain {word(v):8s} "
                      f"{o:9.2f} ms" + (f"   Porcupine {word(w):8s} {t:9.2f} ms" if driver else ""))
        diff = [(f.name, word(v), word(w)) for f, v, w in zip(files, ov, tv, strict=True)
                if driver is not None and v != w]
        rows.append((name, len(files), sum(theirs) if driver else None, sum(ours),
                     len(files) - len(diff), diff, statistics.median(loads)))
    print()
    print("| workload | files | Porcupine ms | splitbrain ms | ratio | same verdicts | load avg |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, n, theirs_ms, ours_ms, agree, _diff, load in rows:
        t = f"{theirs_ms:.1f}" if theirs_ms is not None else "-"
        r = f"{ours_ms / theirs_ms:.2f}" if theirs_ms else "-"
        a = f"{agree} of {n}" if theirs_ms is not None else "-"
        print(f"| {name} | {n} | {t} | {ours_ms:.1f} | {r} | {a} | {load:.2f} |")
    for name, _, _, _, _, diff, _ in rows:
        for f, ours, theirs in diff:
            print(f"{name} {f}: splitbrain {ours}, Porcupine {theirs}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--histories", default=os.environ.get("SPLITBRAIN_HISTORIES",
                                                           "/work/shared/histories"))
    ap.add_argument("--porcupine-data", help="Porcupine's test_data directory")
    ap.add_argument("--porcupine", default=os.environ.get("SPLITBRAIN_PORCUPINE_DRIVER"),
                    help="the Porcupine driver binary (see above)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per file (median kept)")
    ap.add_argument("--rounds", type=int, default=5, help="turns per file and tool (median kept)")
    ap.add_argument("--quiet", action="store_true", help="only the totals")
    args = ap.parse_args()
    if args.porcupine_data:
        porcupine_mode(args)
    else:
        manifest_mode(args)


if __name__ == "__main__":
    main()

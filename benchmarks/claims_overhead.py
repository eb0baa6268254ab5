"""What the host registry costs every command that touches clusters: reading the
claims, and the start-of-command recovery pass when none is killed (the usual case).

Claims are kept (no owner) or live (this process), so nothing is re-attached;
the figure is the floor every `test`, `campaign` and `cluster` command pays.

    python benchmarks/claims_overhead.py [--claims 0,10,100,1000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", default="0,10,100,1000")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o700)
        os.environ["SPLITBRAIN_STATE_DIR"] = os.path.join(tmp, "state")
        from splitbrain.clusters.ownership import Claim, claims
        from splitbrain.harness.recovery import heal_killed_runs

        made = 0
        print(f"{'claims':>7}  {'claims() ms':>12}  {'recovery pass ms':>17}  {'save ms':>8}")
        for n in (int(x) for x in args.claims.split(",")):
            saves = []
            while made < n:
                c = Claim(backend="docker", name=f"bench-{made}", store="/s",
                          made=[["container", f"splitbrain-bench-{made}-n{i}"]
                                for i in range(1, 6)])
                if made % 2:
                    c.owner = {"pid": os.getpid(), "start": None}
                t0 = time.perf_counter()
                c.take() if made % 2 else c.save()
                saves.append(time.perf_counter() - t0)
                made += 1
            list_t, heal_t = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                assert len(claims()) == n
                list_t.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                assert heal_killed_runs() == []
                heal_t.append(time.perf_counter() - t0)
            save = f"{statistics.median(saves) * 1e3:8.2f}" if saves else f"{'-':>8}"
            print(f"{n:>7}  {statistics.median(list_t) * 1e3:12.2f}  "
                  f"{statistics.median(heal_t) * 1e3:17.2f}  {save}")


if __name__ == "__main__":
    main()

"""What a user sees while a test runs: a rich live view on a TTY (elapsed vs limit
as a bar, ops/s, ok/fail/info per f, the current fault), plain log lines with
``--quiet`` or without a TTY, and a closing verdict line."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from splitbrain.harness.runner import Progress, RunResult, run_test
from splitbrain.verdict import word as verdict_word


class _Rate:
    """ops/s over the last few seconds."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []

    def update(self, total: int) -> float:
        now = time.monotonic()
        self.samples.append((now, total))
        while len(self.samples) > 2 and now - self.samples[0][0] > 3:
            self.samples.pop(0)
        t0, n0 = self.samples[0]
        return (total - n0) / (now - t0) if now > t0 else 0.0


def _totals(p: Progress) -> tuple[int, dict[str, dict[str, int]]]:
    by_f: dict[str, dict[str, int]] = {}
    total = 0
    for (f, typ), n in list(p.counts.items()):
        by_f.setdefault(f, {"ok": 0, "fail": 0, "info": 0})[typ] = n
        total += n
    return total, by_f


def _render(spec: Any, p: Progress, rate: float, total_by_f: tuple[int, dict[str, dict[str, int]]]
            ) -> Group:
    el = p.elapsed()
    fault = p.current_fault()
    bar = ProgressBar(total=p.time_limit, completed=min(el, p.time_limit), width=40)
    head = Text.assemble((f"{spec.name}", "bold"), f"  {spec.system} on {spec.backend}, "
                         f"{spec.workload}, phase ", (p.phase, "cyan"),
                         f"  {el:5.1f}/{p.time_limit:.0f}s  {rate:7.0f} ops/s  fault: ",
                         (fault or "none", "red" if fault else "green"))
    _, by_f = total_by_f
    t = Table(box=None, pad_edge=False)
    for col, style in (("f", ""), ("ok", "green"), ("fail", "yellow"), ("info", "red")):
        t.add_column(col, style=style, justify="left" if col == "f" else "right")
    for f in sorted(by_f):
        d = by_f[f]
        t.add_row(f, str(d["ok"]), str(d["fail"]), str(d["info"]))
    line = Table.grid(padding=(0, 1))
    line.add_row(bar, Text(f"{100 * min(el, p.time_limit) / p.time_limit:3.0f}%"))
    return Group(head, line, t)


def run_with_display(spec: Any, *, quiet: bool = False) -> RunResult:
    """Run ``spec`` with a live view (TTY, not quiet) or log lines; print the verdict."""
    out = Console(stderr=True, highlight=False, soft_wrap=True)
    tty = sys.stderr.isatty() and not quiet
    rate = _Rate()
    if tty:
        live = Live(console=out, refresh_per_second=4, transient=False)
        last = [0.0]

        def display(p: Progress) -> None:
            now = time.monotonic()
            if now - last[0] < 0.25:
                return
            last[0] = now
            tb = _totals(p)
            live.update(_render(spec, p, rate.update(tb[0]), tb))

        with live:
            result = run_test(spec, display=display)
    else:
        last_line = [0.0, ""]

        def display(p: Progress) -> None:
            now = time.monotonic()
            total, by_f = _totals(p)
            r = rate.update(total)
            if now - last_line[0] < 5 and p.phase == last_line[1]:
                return
            last_line[0], last_line[1] = now, p.phase
            ok = sum(d["ok"] for d in by_f.values())
            fail = sum(d["fail"] for d in by_f.values())
            info = sum(d["info"] for d in by_f.values())
            print(f"[{p.elapsed():6.1f}s] phase={p.phase} ops={total} ({r:.0f}/s) "
                  f"ok={ok} fail={fail} info={info} fault={p.current_fault() or 'none'}",
                  file=sys.stderr, flush=True)

        result = run_test(spec, display=display)
    _print_verdict(out, result)
    return result


def _print_verdict(out: Console, result: RunResult) -> None:
    if result.error:
        print(f"splitbrain: error: {result.error}", file=sys.stderr)
        if result.run_dir is not None:
            print(f"history kept in {result.run_dir}/history.jsonl", file=sys.stderr)
        return
    word = verdict_word(result.valid)
    colour = {"valid": "green", "invalid": "red", "unknown": "yellow", "error": "magenta"}[word]
    stats = result.results.get("stats", {})
    reasons = []
    for name, r in result.results.get("checkers", {}).items():
        if r.get("valid") is not True:
            why = r.get("reason") or r.get("error") or ""
            reasons.append(f"{name}: {verdict_word(r.get('valid'))}" + (f" ({why})" if why else ""))
    out.print(Text.assemble((f"{word.upper()}", f"bold {colour}"),
                            f"  {stats.get('ops', 0)} ops  ",
                            "; ".join(reasons)))
    if result.run_dir is not None:
        report = result.run_dir / "report.html"
        out.print(f"stored in {result.run_dir}" + (f"  report: {report}" if report.exists() else ""))

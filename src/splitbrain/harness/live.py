"""What a user sees while a test runs.

On a terminal (stderr a TTY, no ``--quiet``) a live view redrawn four times a second
by its own thread, so it moves while the cluster starts too: the test, the phase
with a bar and an ETA over the client phases, a line per node while the cluster
comes up (created, installed, started, healthy), ok / fail / info per f while clients
run (colours as in the report: ok green, fail red, info amber), the active fault, and
each checker's progress. Otherwise plain log lines. Progress goes to stderr; the
verdict line and the paths go to stdout, so ``splitbrain test ... > out`` keeps them.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from splitbrain.harness.progress import NODE_STATES, Progress
from splitbrain.harness.runner import RunResult, run_test
from splitbrain.harness.spec import TestSpec
from splitbrain.history.store import REPORT
from splitbrain.verdict import word as verdict_word

#: the report's colours (reports/assets/report.css)
COLOURS = {"ok": "#16a34a", "fail": "#dc2626", "info": "#d97706", "valid": "#16a34a",
           "invalid": "#dc2626", "unknown": "#d97706", "error": "#7c3aed"}


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


def render(spec: TestSpec, p: Progress, rate: float) -> Group:
    """The live view of one moment."""
    fault = p.current_fault()
    eta = p.eta()
    head = Text.assemble((spec.name or "test", "bold"),
                         f"  {spec.system} on {spec.backend}, {spec.workload}, faults: "
                         f"{','.join(spec.nemesis) or 'none'}")
    phase = Text.assemble("phase ", (p.phase, "bold cyan"), f"  {p.in_phase():5.1f}s",
                          f" of {p.phase_limit:.0f}s" if p.phase_limit else "",
                          f"   ETA {eta:4.0f}s to the check" if eta is not None else "")
    parts: list[Any] = [head, phase]
    if p.phase in ("main", "heal", "recovery", "final"):
        total_s = p.time_limit + p.recovery_time + p.final_time_limit
        done = max(0.0, total_s - (eta or 0.0))
        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=total_s, completed=min(done, total_s), width=40,
                                complete_style="cyan", finished_style="cyan"),
                    Text(f"{100 * min(done, total_s) / total_s:3.0f}% of the clients' time  "
                         + (f"{rate:5.0f} ops/s  " if p.phase in ("main", "final") else "")
                         + "fault: "),
                    Text(fault or "none", style="bold red" if fault else "green"))
        parts.append(bar)
    if p.nodes and p.phase in ("setup", "cluster up"):
        t = Table(box=None, pad_edge=False, show_header=False)
        for name, state in sorted(p.nodes.items(), key=lambda kv: (len(kv[0]), kv[0])):
            step = NODE_STATES.index(state) + 1 if state in NODE_STATES else 0
            t.add_row(name, "●" * step + "○" * (len(NODE_STATES) - step),
                      Text(state, style="green" if state == "healthy" else "yellow"))
        parts.append(t)
    _, by_f = _totals(p)
    if by_f:
        t = Table(box=None, pad_edge=False)
        t.add_column("f")
        for col in ("ok", "fail", "info"):
            t.add_column(col, style=COLOURS[col], justify="right")
        for f in sorted(by_f):
            d = by_f[f]
            t.add_row(f, str(d["ok"]), str(d["fail"]), str(d["info"]))
        parts.append(t)
    if p.checks:
        t = Table(box=None, pad_edge=False, show_header=False)
        for name, state in p.checks.items():
            word = state.split(" ", 1)[0].split(":", 1)[0]
            running = p.checking_for(name)
            shown = f"running {running:.1f}s" if running is not None else state
            t.add_row(f"checker {name}", Text(shown, style=COLOURS.get(word, "cyan")))
        parts.append(t)
    return Group(*parts)


def run_with_display(spec: TestSpec, *, quiet: bool = False) -> RunResult:
    """Run ``spec`` with a live view (TTY, not quiet) or log lines; print the verdict."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    tty = sys.stderr.isatty() and not quiet
    rate = _Rate()
    if tty:
        box: dict[str, Progress | None] = {"p": None}

        def view() -> Any:
            p = box["p"]
            if p is None:
                return Text(f"{spec.name}: checking the test ...")
            return render(spec, p, rate.update(_totals(p)[0]))

        def display(p: Progress) -> None:
            box["p"] = p

        with Live(console=err, refresh_per_second=4, transient=False, get_renderable=view):
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
    print_verdict(result)
    return result


def print_verdict(result: RunResult) -> None:
    """The verdict line and where the run is stored, on stdout (errors on stderr)."""
    out = Console(highlight=False, soft_wrap=True)
    if result.error:
        print(f"splitbrain: error: {result.error}", file=sys.stderr)
        if result.run_dir is not None:
            print(f"history kept in {result.run_dir}/history.jsonl", file=sys.stderr)
        return
    word = verdict_word(result.valid)
    stats = result.results.get("stats", {})
    reasons = []
    for name, r in result.results.get("checkers", {}).items():
        if r.get("valid") is not True:
            why = r.get("reason") or r.get("error") or ""
            reasons.append(f"{name}: {verdict_word(r.get('valid'))}" + (f" ({why})" if why else ""))
    out.print(Text.assemble((f"{word.upper()}", f"bold {COLOURS[word]}"),
                            f"  {stats.get('ops', 0)} ops  ", "; ".join(reasons)))
    if result.run_dir is not None:
        report = result.run_dir / REPORT
        out.print(f"stored in {result.run_dir}" + (f"  report: {report}" if report.exists() else ""))

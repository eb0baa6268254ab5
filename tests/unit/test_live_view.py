"""The live view's frames: what each phase shows (rendered to text, no terminal needed)."""

from __future__ import annotations

from rich.console import Console

from splitbrain.harness.live import render
from splitbrain.harness.progress import Progress
from splitbrain.harness.runner import run_test
from splitbrain.harness.spec import TestSpec
from splitbrain.workloads.base import Workload
from splitbrain.workloads.register import RegisterWorkload


def _text(spec: TestSpec, p: Progress, rate: float = 42.0) -> str:
    c = Console(record=True, width=120, force_terminal=False)
    c.print(render(spec, p, rate))
    return c.export_text()


def test_each_phase_shows_what_it_is_doing() -> None:
    spec = TestSpec(name="t", time_limit=20)
    p = Progress(20, recovery_time=5, final_time_limit=0)
    p.enter("cluster up")
    for n, state in (("n1", "created"), ("n2", "installed"), ("n3", "started")):
        p.node(n, state)
    text = _text(spec, p)
    assert "phase cluster up" in text and "n2  ●●●○○  installed" in text
    p.enter("main", 20)
    p.counts[("read", "ok")] += 3
    text = _text(spec, p)
    assert "of 20s" in text and "ETA   25s to the check" in text and "42 ops/s" in text
    assert "n1" not in text and "read" in text
    p.enter("recovery", 5)
    text = _text(spec, p)
    assert "phase recovery" in text and "ops/s" not in text    # no clients run here
    p.enter("check", 60)
    p.check("linearizability", "running")
    p.check("stats", "waiting")
    text = _text(spec, p)
    assert "phase check" in text and "of 60s" in text
    assert "checker linearizability  running 0.0s" in text and "checker stats" in text


class NoFinalReads(RegisterWorkload):
    """Register without its final reads: a workload with no final phase."""

    final_generator = Workload.final_generator


def test_the_eta_counts_a_final_phase_only_for_workloads_that_have_one(tmp_path) -> None:
    from test_runner import FakeBackend

    def final_limit_in_main(workload: str) -> float:
        seen: list[float] = []

        def display(p: Progress) -> None:
            if p.phase == "main":
                seen.append(p.final_time_limit)
        spec = TestSpec(system="test_runner:FakeSystem", workload=workload, backend="local",
                        nodes=1, nemesis=[], time_limit=0.3, recovery_time=0, rate=0,
                        concurrency=1, final_time_limit=30, store=str(tmp_path))
        run_test(spec, display=display, report=False, backend=FakeBackend())
        return seen[0]
    assert final_limit_in_main("test_live_view:NoFinalReads") == 0      # no final phase
    assert final_limit_in_main("register") == 30     # reads back the keys it used
    assert final_limit_in_main("set") == 30

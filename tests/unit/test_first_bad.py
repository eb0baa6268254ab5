"""Time to the first bad op: the earliest op a checker names as wrong, read back from a
stored run (benchmarks/detection.py and campaign rows report it)."""

from __future__ import annotations

from pathlib import Path

from fakes import hist

from splitbrain.checker.base import run_checkers
from splitbrain.checker.linearizability import LinearizabilityChecker
from splitbrain.checker.set_checker import SetChecker
from splitbrain.reports.rundata import first_bad_seconds, make_run_dir

S = 1_000_000_000


def _store(tmp_path: Path, ops, checkers) -> Path:
    res = run_checkers(checkers, ops)
    results = {"valid": all(r.valid is True for r in res.values()),
               "checkers": {n: r.to_json() for n, r in res.items()}}
    return make_run_dir(tmp_path, "t", ops, results)


def test_stale_read_is_blamed_at_its_invocation(tmp_path: Path) -> None:
    ops = hist([(0, "invoke", "write", 1), (0, "ok", "write", 1),
                (1, "invoke", "read", None), (1, "ok", "read", 0)], step_ns=S)
    run = _store(tmp_path, ops, [LinearizabilityChecker("cas-register", ("read", "write"))])
    assert first_bad_seconds(run) == ops[2].time / S    # the stale read, from its invocation


def test_valid_runs_blame_nothing(tmp_path: Path) -> None:
    ops = hist([(0, "invoke", "add", 1), (0, "ok", "add", 1),
                (1, "invoke", "final-read", None), (1, "ok", "final-read", [1])], step_ns=S)
    assert first_bad_seconds(_store(tmp_path, ops, [SetChecker()])) is None

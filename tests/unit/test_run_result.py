"""What pytest shows for a run: the verdict, the checker's one-line reason, the report path."""

from __future__ import annotations

from pathlib import Path

import pytest

from splitbrain.checker.base import merged, run_checkers
from splitbrain.checker.linearizability import LinearizabilityChecker
from splitbrain.harness.runner import RunResult
from splitbrain.history.ops import Op
from splitbrain.verdict import ERROR


def _results(ops: list[Op]) -> dict:
    typed = run_checkers([LinearizabilityChecker("cas-register", ("read", "write", "cas"))], ops)
    return {"valid": merged(typed), "checkers": {n: r.to_json() for n, r in typed.items()}}


def _history(read_value: int) -> list[Op]:
    """write 1 completes, then a read returns ``read_value`` (stale unless 1)."""
    raw = [("invoke", 0, "write", 1), ("ok", 0, "write", 1),
           ("invoke", 1, "read", None), ("ok", 1, "read", read_value)]
    return [Op(type=t, process=p, f=f, value=v, key="k1", time=i * 10, index=i)
            for i, (t, p, f, v) in enumerate(raw)]


def test_an_invalid_run_says_why_and_where(tmp_path: Path) -> None:
    res = RunResult(False, tmp_path / "run", _results(_history(0)), 1)
    text = repr(res)
    assert text.startswith("RunResult(INVALID; linearizability")
    assert 'key "k1"' in text and "not linearizable" in text
    assert f"report: {tmp_path / 'run' / 'report.html'}" in text
    with pytest.raises(AssertionError) as e:
        res.assert_valid()
    assert "splitbrain run is invalid: linearizability" in str(e.value)
    assert str(tmp_path / "run" / "report.html") in str(e.value)


def test_a_valid_run_is_short_and_passes(tmp_path: Path) -> None:
    res = RunResult(True, tmp_path / "run", _results(_history(1)), 0)
    assert repr(res) == f"RunResult(VALID; report: {tmp_path / 'run' / 'report.html'})"
    res.assert_valid()


def test_a_harness_failure_is_an_error_with_its_reason() -> None:
    res = RunResult(ERROR, None, {}, 3, "etcd cluster not healthy after 60s")
    assert repr(res) == "RunResult(ERROR; the harness failed: etcd cluster not healthy after 60s)"
    with pytest.raises(AssertionError, match="is error: the harness failed"):
        res.assert_valid()

"""``splitbrain analyze RUN_DIR``: a stored run checked again, results and report rewritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from splitbrain.errors import HarnessError
from splitbrain.harness.analyze import PREVIOUS, analyze
from splitbrain.history.ops import Op
from splitbrain.reports.rundata import make_run_dir


def _stale_run(tmp_path: Path) -> Path:
    ops = [Op("invoke", 0, "write", 1, key="k", index=0, time=1000, node="n1"),
           Op("ok", 0, "write", 1, key="k", index=1, time=2000, node="n1"),
           Op("invoke", 1, "write", 2, key="k", index=2, time=3000, node="n2"),
           Op("ok", 1, "write", 2, key="k", index=3, time=4000, node="n2"),
           Op("invoke", 2, "read", None, key="k", index=4, time=5000, node="n3"),
           Op("ok", 2, "read", 1, key="k", index=5, time=6000, node="n3")]
    # stored as if an older version had judged it valid, with a stat of its own
    return make_run_dir(tmp_path / "store", "old-run", ops,
                        {"valid": True, "checkers": {}, "stats": {"ops": 3}},
                        {"system": "raft", "workload": "register", "name": "old-run"})


def test_analyze_rewrites_results_and_report(tmp_path: Path) -> None:
    run = _stale_run(tmp_path)
    a = analyze(run)
    assert a.valid is False and a.exit_code == 1
    assert a.checkers == ["linearizability", "stats"]     # the register workload's checkers
    results = json.loads((run / "results.json").read_text())
    lin = results["checkers"]["linearizability"]
    assert lin["failures"][0]["minimal"]["indices"] == [2, 4]
    assert lin["reason"].startswith('1 of 1 key not linearizable; key "k": these 2 ops')
    assert results["stats"] == {"ops": 3} and results["model"] == "cas-register"
    assert json.loads((run / PREVIOUS).read_text())["valid"] is True
    text = (run / "report.html").read_text()
    assert 'data-verdict="invalid"' in text and "cannot be ordered" in text


def test_analyze_with_another_model_and_bad_input(tmp_path: Path) -> None:
    run = _stale_run(tmp_path)
    a = analyze(run, models=["register"], report=False)
    assert set(a.results["checkers"]) == {"linearizability", "stats", "linearizability-register"}
    assert a.results["checkers"]["linearizability-register"]["valid"] is False
    with pytest.raises(HarnessError, match="--model nope: unknown model"):
        analyze(run, models=["nope"])
    with pytest.raises(HarnessError, match="not a run directory"):
        analyze(tmp_path)
    with pytest.raises(HarnessError, match="no such run directory"):
        analyze(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()

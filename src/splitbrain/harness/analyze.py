"""``splitbrain analyze RUN_DIR``: check a stored run again (Jepsen's ``analyze``).

The run's ``test.json`` names its workload, and the workload its checkers and models,
so a stored run is re-checked exactly as it was checked when it ran (with this
version's checkers), optionally with more: another linearizability model, or an Elle
checker. The results and the report of the run are rewritten; the previous results
are kept beside them as ``results.previous.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbrain.checker.base import Checker, merged, run_checkers
from splitbrain.checker.counterexample import explain
from splitbrain.errors import HarnessError, HistoryError, ModelError
from splitbrain.history import store
from splitbrain.verdict import exit_code

ELLE_CHECKERS = ("elle-list-append", "elle-rw-register")
PREVIOUS = "results.previous.json"


@dataclass
class Analysis:
    """What ``analyze`` concluded about a run."""

    run_dir: Path
    valid: Any
    results: dict[str, Any]
    exit_code: int
    report: Path | None = None
    checkers: list[str] = field(default_factory=list)


def extra_checkers(models: list[str], checkers: list[str], consistency_model: str | None,
                   time_limit: float | None) -> list[Checker]:
    """The checkers asked for on the command line (``--model``, ``--checker``); bad
    names are one line naming the option."""
    from splitbrain.checker.elle.checker import ElleChecker
    from splitbrain.checker.linearizability import LinearizabilityChecker
    from splitbrain.checker.models import MODELS, get_model

    out: list[Checker] = []
    for m in models:
        if m not in MODELS:
            raise HarnessError(f"--model {m}: unknown model; models: {', '.join(sorted(MODELS))}")
        out.append(LinearizabilityChecker(m, get_model(m).fs, time_limit=time_limit,
                                          name=f"linearizability-{m}"))
    for c in checkers:
        if c not in ELLE_CHECKERS:
            raise HarnessError(f"--checker {c}: unknown checker; use one of "
                               f"{', '.join(ELLE_CHECKERS)}")
        ch = ElleChecker(consistency_model or "strict-serializable", time_limit,
                         kind=c.removeprefix("elle-"))
        ch.name = c
        out.append(ch)
    return out


def _read_json(p: Path) -> dict[str, Any]:
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return d if isinstance(d, dict) else {}


def analyze(run_dir: Path, *, models: list[str] | None = None,
            checkers: list[str] | None = None, consistency_model: str | None = None,
            time_limit: float | None = None, report: bool = True) -> Analysis:
    """Re-check ``run_dir`` with the checkers its test.json implies (plus ``models`` /
    ``checkers``), rewrite its results.json and report.html, and return the verdict."""
    from splitbrain.harness.runner import make_workload
    from splitbrain.harness.spec import TestSpec
    from splitbrain.history.formats import read_history

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: no such run directory (expected store/<test>/<time>/)")
    for name in (store.TEST, store.HISTORY):
        if not (run_dir / name).is_file():
            raise HarnessError(f"{run_dir}: not a run directory (no {name}); point at "
                               "store/<test>/<time>/")
    spec = TestSpec.load(run_dir)
    limit = time_limit if time_limit is not None else spec.checker_time_limit
    more = extra_checkers(list(models or []), list(checkers or []), consistency_model, limit)
    workload = make_workload(spec)
    try:
        ops = read_history(run_dir / store.HISTORY, "jsonl")
    except HistoryError as e:
        raise HarnessError(str(e)) from None
    todo = workload.checkers() + more
    try:
        typed = run_checkers(todo, ops, time_limit=limit)
    except ModelError as e:
        raise HarnessError(str(e)) from None
    explain(typed, ops)
    previous = _read_json(run_dir / store.RESULTS)
    if previous:
        store.write_json(run_dir / PREVIOUS, previous)
    results = dict(previous)
    results.update({
        "valid": merged(typed), "test": spec.name, "run_dir": str(run_dir),
        "checkers": {name: r.to_json() for name, r in typed.items()},
        "model": workload.model(),
        "analyzed": {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "checkers": list(typed)}})
    store.write_json(run_dir / store.RESULTS, results)
    out = None
    if report:
        from splitbrain.reports.html import write_report

        out = write_report(run_dir)
    return Analysis(run_dir, results["valid"], results, exit_code(results["valid"]), out,
                    list(typed))

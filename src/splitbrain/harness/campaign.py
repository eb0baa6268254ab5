"""``splitbrain campaign FILE.toml``: a matrix of tests run one after another.

The TOML file::

    [campaign]                 # optional
    name = "nightly"           # default: the file's stem
    [defaults]                 # any `splitbrain test` option (TestSpec field names)
    time_limit = 30
    concurrency = 5
    [matrix]                   # each key a list of values; the runs are their product
    system = ["etcd", "raft"]
    workload = ["register"]
    nemesis = ["partition", "kill", "partition,kill", "none"]   # one fault list per entry
    repetitions = 2

Any TestSpec field may be a matrix axis. With a ``seed`` in the defaults,
repetition ``r`` uses ``seed + r`` so repetitions differ but stay reproducible.
Outputs go to ``<store>/_campaigns/<name>-<time>/``: ``campaign.html`` (a grid of
verdicts linking the reports) and ``campaign.json``; ``--junit`` writes JUnit XML
(see :mod:`splitbrain.reports.junit` for the mapping); ``--json`` prints the
summary on stdout. Exit code: 1 if any run is invalid, else 2 if any is
unknown or failed to run, else 0.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from splitbrain.errors import HarnessError
from splitbrain.harness.spec import TestSpec, parse_list
from splitbrain.reports.campaign_page import campaign_exit_code, write_campaign_html
from splitbrain.reports.html import anomaly_summary
from splitbrain.reports.junit import write_junit
from splitbrain.verdict import word as verdict_word

FIELDS = {f.name for f in fields(TestSpec)}
AXIS_ORDER = ("system", "workload", "nemesis")


def load_toml(path: Path) -> dict[str, Any]:
    """Parse the campaign file; any problem is a one-line :class:`HarnessError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such campaign file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"{path}: cannot read: {e}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise HarnessError(f"{path}: not valid TOML: {e}") from None


def _nemesis_values(v: Any, source: str) -> list[list[str]]:
    items = v if isinstance(v, list) else [v]
    out = []
    for it in items:
        if isinstance(it, list):
            out.append([str(x) for x in it])
        elif isinstance(it, str):
            out.append(parse_list(it))
        else:
            raise HarnessError(f"{source}: [matrix] nemesis entries must be strings like "
                               f"\"partition,kill\", got {it!r}")
    return out


def expand(doc: dict[str, Any], source: str = "campaign") -> list[tuple[TestSpec, int]]:
    """The campaign's runs as (spec, repetition) in order, each spec validated."""
    unknown = sorted(set(doc) - {"campaign", "defaults", "matrix"})
    if unknown:
        raise HarnessError(f"{source}: unknown table(s) {', '.join(unknown)}; use [campaign], "
                           "[defaults] and [matrix]")
    defaults = dict(doc.get("defaults") or {})
    matrix = dict(doc.get("matrix") or {})
    for name, table in (("defaults", defaults), ("matrix", matrix)):
        if not isinstance(table, dict):
            raise HarnessError(f"{source}: [{name}] must be a table")
    reps = matrix.pop("repetitions", defaults.pop("repetitions", 1))
    if not isinstance(reps, int) or isinstance(reps, bool) or reps < 1:
        raise HarnessError(f"{source}: repetitions must be a positive integer, got {reps!r}")
    norm = {k.replace("-", "_"): v for k, v in matrix.items()}
    bad = sorted(set(norm) - FIELDS) + sorted(
        k for k in (x.replace("-", "_") for x in defaults) if k not in FIELDS)
    if bad:
        raise HarnessError(f"{source}: unknown setting(s) {', '.join(bad)} "
                           f"(known: {', '.join(sorted(FIELDS))}, repetitions)")
    axes: list[tuple[str, list[Any]]] = []
    for k in sorted(norm, key=lambda k: (AXIS_ORDER.index(k) if k in AXIS_ORDER else 9, k)):
        v = norm[k]
        vals = _nemesis_values(v, source) if k == "nemesis" else (v if isinstance(v, list) else [v])
        if not vals:
            raise HarnessError(f"{source}: [matrix] {k} is an empty list")
        axes.append((k, vals))
    runs: list[tuple[TestSpec, int]] = []
    for combo in itertools.product(*(vals for _, vals in axes)):
        for rep in range(reps):
            d = dict(defaults)
            d.update({k: v for (k, _), v in zip(axes, combo, strict=True)})
            spec = TestSpec.from_dict(d, source)
            if spec.seed is not None:
                spec.seed = int(spec.seed) + rep
            spec.validate()
            runs.append((spec, rep))
    if not runs:
        raise HarnessError(f"{source}: the matrix is empty")
    return runs


@dataclass
class _Failed:
    """Stands for a RunResult when ``run_test`` raised before creating a run."""

    error: str
    valid: str = "unknown"
    run_dir: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 3


def _say(console: Any, msg: str) -> None:
    if console is not None:
        console.print(msg, highlight=False)
    else:
        print(msg, file=sys.stderr, flush=True)


def _row(spec: TestSpec, rep: int, res: Any, elapsed: float) -> dict[str, Any]:
    """One run's summary (campaign.json, the grid and the JUnit testcase)."""
    results = dict(getattr(res, "results", None) or {})
    run_dir = getattr(res, "run_dir", None)
    error = getattr(res, "error", None) or results.get("error")
    exit_code = getattr(res, "exit_code", None)
    if error is None and exit_code == 3:
        error = "the harness failed (exit code 3)"
    valid = getattr(res, "valid", results.get("valid", "unknown"))
    report = Path(run_dir) / "report.html" if run_dir else None
    name = spec.name or f"{spec.system}-{spec.workload}-{'+'.join(spec.nemesis) or 'none'}"
    opts = " ".join(f"{k}={v}" for d in (spec.options, spec.workload_options)
                    for k, v in sorted(d.items()))
    return {
        "name": f"{name}{f' [{opts}]' if opts else ''} #{rep + 1}", "test": name,
        "repetition": rep + 1,
        "classname": f"splitbrain.{spec.system}.{spec.workload}",
        "system": spec.system, "workload": spec.workload,
        "faults": "+".join(spec.nemesis) or "none",
        "verdict": verdict_word(valid), "status": "error" if error else "done",
        "summary": anomaly_summary(results) if results else (error or ""),
        "error": error, "elapsed_s": round(elapsed, 3), "exit_code": exit_code,
        "run_dir": str(run_dir) if run_dir else None,
        "report": str(report) if report and report.exists() else None,
        "spec": spec.to_dict(),
    }


def _not_run(spec: TestSpec, rep: int) -> dict[str, Any]:
    d = _row(spec, rep, None, 0.0)
    d.update(status="not-run", verdict="unknown", summary="not run", error=None)
    return d


def _fresh_dir(parent: Path, name: str) -> Path:
    """A new directory ``parent/name`` (``name-2``, ``-3`` ... if taken)."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HarnessError(f"cannot create {parent}: {e.strerror}") from None
    n, d = 1, parent / name
    while True:
        try:
            d.mkdir()
            return d
        except FileExistsError:
            n += 1
            d = parent / f"{name}-{n}"


def run_campaign(path: Path, *, junit: Path | None = None, json_out: bool = False,
                 console: Any = None,
                 run_test: Callable[[TestSpec], Any] | None = None) -> int:
    """Run every test of the campaign file in turn; write campaign.html (+ JUnit, JSON).

    ``run_test`` defaults to :func:`splitbrain.harness.runner.run_test`; tests
    inject a fake. Returns the exit code (0 / 1 / 2, see the module doc).
    """
    path = Path(path)
    doc = load_toml(path)
    runs = expand(doc, str(path))
    meta = doc.get("campaign") or {}
    title = str(meta.get("name") or path.stem)
    store = Path(meta.get("store") or runs[0][0].store)
    if run_test is None:
        from splitbrain.harness.runner import run_test as real_run_test

        run_test = real_run_test
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out_dir = _fresh_dir(store / "_campaigns", f"{title}-{stamp}")
    t0 = time.monotonic()
    rows: list[dict[str, Any]] = []
    stopped = False
    _say(console, f"campaign {title}: {len(runs)} run(s) -> {out_dir}")
    for i, (spec, rep) in enumerate(runs):
        if stopped:
            rows.append(_not_run(spec, rep))
            continue
        t = time.monotonic()
        try:
            res = run_test(spec)
        except KeyboardInterrupt:
            stopped = True
            rows.append(_not_run(spec, rep))
            continue
        except HarnessError as e:
            res = _Failed(str(e))
        row = _row(spec, rep, res, time.monotonic() - t)
        rows.append(row)
        if str(row.get("error") or "").startswith("interrupted"):
            stopped = True
        _say(console, f"[{i + 1}/{len(runs)}] {row['name']}: {row['verdict']}"
                      f"{' (' + row['error'] + ')' if row['error'] else ''}"
                      f" in {row['elapsed_s']:.1f}s  {row['report'] or row['run_dir'] or ''}")
        write_campaign_html(out_dir, title, rows + [_not_run(s, r) for s, r in runs[i + 1:]],
                            time.monotonic() - t0)
    elapsed = time.monotonic() - t0
    code = campaign_exit_code(rows)
    html = write_campaign_html(out_dir, title, rows, elapsed)
    summary = {"campaign": title, "file": str(path), "exit_code": code,
               "elapsed_s": round(elapsed, 3), "html": str(html),
               "counts": {w: sum(1 for r in rows if r["verdict"] == w)
                          for w in ("valid", "invalid", "unknown")},
               "runs": rows}
    (out_dir / "campaign.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if junit is not None:
        write_junit(junit, title, rows, elapsed)
    if json_out:
        print(json.dumps(summary, indent=2, default=str))
    _say(console, f"campaign {title}: {summary['counts']['valid']} valid, "
                  f"{summary['counts']['invalid']} invalid, {summary['counts']['unknown']} unknown"
                  f" -> {html}" + (f", {junit}" if junit else ""))
    if stopped:
        _say(console, "campaign interrupted: the remaining runs were not started")
    return code

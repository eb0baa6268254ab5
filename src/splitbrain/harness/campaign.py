"""``splitbrain campaign FILE.toml``: a matrix of tests, each with an expected verdict.

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
    expect = "valid"           # optional: the verdict every matrix run must give
    repetitions = 2
    [[run]]                    # single configurations, as many as you like
    system = "raft"
    options = { bug = "stale-read" }
    nemesis = "partition-leader"
    expect = "invalid"         # a known-bad configuration must stay caught

Any TestSpec field may be a matrix axis or a ``[[run]]`` key. ``expect`` is
``valid`` (the default) or ``invalid``: a run passes when its verdict is the
expected one, so a nightly CI can keep known bugs red-on-green. With a ``seed``,
repetition ``r`` uses ``seed + r`` so repetitions differ but stay reproducible.

Outputs go to ``<store>/_campaigns/<name>-<time>/``: ``campaign.html`` (a grid of
verdicts linking the reports) and ``campaign.json``; ``--junit`` writes JUnit XML
(:mod:`splitbrain.reports.junit`); ``--json`` prints the summary on stdout.
``--jobs N`` runs N tests at once on this host (each its own cluster);
``--shard i/n`` runs only the i-th of n shares of the runs, so a CI matrix spreads
one campaign over many runners; ``splitbrain campaign merge`` (:func:`merge_campaigns`)
joins the shares' campaign.json files into one page, JSON and JUnit. Exit code: 0 when every run gave its expected
verdict; 1 when a run gave the opposite verdict (a bug found where none was
expected, or a known bug not caught); else 2 (unknown, harness errors, not run).
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from splitbrain.errors import HarnessError
from splitbrain.harness.spec import TestSpec, parse_list
from splitbrain.history.store import REPORT
from splitbrain.reports.campaign_page import campaign_exit_code, write_campaign_html
from splitbrain.reports.html import anomaly_summary
from splitbrain.reports.junit import write_junit
from splitbrain.reports.rundata import first_bad_seconds
from splitbrain.verdict import ERROR, UNKNOWN, WORDS
from splitbrain.verdict import word as verdict_word

FIELDS = {f.name for f in fields(TestSpec)}
AXIS_ORDER = ("system", "workload", "nemesis")
EXPECTABLE = ("valid", "invalid")


@dataclass
class CampaignRun:
    """One run of the campaign: its spec, repetition and expected verdict."""

    spec: TestSpec
    repetition: int = 0
    expect: str = "valid"


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
            raise HarnessError(f"{source}: nemesis entries must be strings like "
                               f"\"partition,kill\", got {it!r}")
    return out


def _expect(v: Any, source: str) -> str:
    if not isinstance(v, str) or v.strip().lower() not in EXPECTABLE:
        raise HarnessError(f"{source}: expect = {v!r}: use \"valid\" or \"invalid\"")
    return v.strip().lower()


def _reps(v: Any, source: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise HarnessError(f"{source}: repetitions must be a positive integer, got {v!r}")
    return v


def _check_keys(keys: Any, source: str, where: str) -> None:
    bad = sorted(k for k in (str(x).replace("-", "_") for x in keys)
                 if k not in FIELDS and k not in ("expect", "repetitions"))
    if bad:
        raise HarnessError(f"{source}: {where}: unknown setting(s) {', '.join(bad)} "
                           f"(known: {', '.join(sorted(FIELDS))}, expect, repetitions)")


def expand(doc: dict[str, Any], source: str = "campaign",
           repetitions: int | None = None) -> list[CampaignRun]:
    """The campaign's runs in order, each spec validated. ``repetitions`` overrides the
    file's (``--repetitions``)."""
    unknown = sorted(set(doc) - {"campaign", "defaults", "matrix", "run"})
    if unknown:
        raise HarnessError(f"{source}: unknown table(s) {', '.join(unknown)}; use [campaign], "
                           "[defaults], [matrix] and [[run]]")
    defaults = dict(doc.get("defaults") or {})
    matrix = dict(doc.get("matrix") or {})
    singles = doc.get("run") or []
    for name, table in (("defaults", defaults), ("matrix", matrix)):
        if not isinstance(table, dict):
            raise HarnessError(f"{source}: [{name}] must be a table")
    if not isinstance(singles, list) or not all(isinstance(r, dict) for r in singles):
        raise HarnessError(f"{source}: [[run]] entries must be tables")
    _check_keys(defaults, source, "[defaults]")
    _check_keys(matrix, source, "[matrix]")
    default_reps = _reps(defaults.pop("repetitions", 1), source)
    default_expect = _expect(defaults.pop("expect", "valid"), source)

    def build(d: dict[str, Any], reps: int, expect: str, where: str) -> list[CampaignRun]:
        out = []
        for rep in range(repetitions or reps):
            spec = TestSpec.from_dict(dict(defaults) | d, f"{source}: {where}")
            if spec.seed is not None:
                spec.seed = int(spec.seed) + rep
            spec.validate()
            out.append(CampaignRun(spec, rep, expect))
        return out

    runs: list[CampaignRun] = []
    if matrix or not singles:   # no matrix and no [[run]]: the defaults are the one test
        reps = _reps(matrix.pop("repetitions", default_reps), source)
        expect = _expect(matrix.pop("expect", default_expect), source)
        norm = {k.replace("-", "_"): v for k, v in matrix.items()}
        axes: list[tuple[str, list[Any]]] = []
        for k in sorted(norm, key=lambda k: (AXIS_ORDER.index(k) if k in AXIS_ORDER else 9, k)):
            v = norm[k]
            vals = _nemesis_values(v, source) if k == "nemesis" else (
                v if isinstance(v, list) else [v])
            if not vals:
                raise HarnessError(f"{source}: [matrix] {k} is an empty list")
            axes.append((k, vals))
        for combo in itertools.product(*(vals for _, vals in axes)):
            d = {k: v for (k, _), v in zip(axes, combo, strict=True)}
            runs += build(d, reps, expect, "[matrix]")
    for i, single in enumerate(singles, 1):
        where = f"[[run]] #{i}"
        _check_keys(single, source, where)
        d = dict(single)
        reps = _reps(d.pop("repetitions", default_reps), source)
        expect = _expect(d.pop("expect", default_expect), f"{source}: {where}")
        runs += build(d, reps, expect, where)
    return runs


def parse_shard(s: str | None) -> tuple[int, int] | None:
    """``"2/5"`` -> (2, 5): the second of five shares (1-based)."""
    if s is None:
        return None
    m = re.fullmatch(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*", s)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise HarnessError(f"--shard {s}: expected i/n with 1 <= i <= n, e.g. 2/4")
    return int(m.group(1)), int(m.group(2))


def shard_of(runs: list[CampaignRun], shard: tuple[int, int] | None) -> list[CampaignRun]:
    """Every n-th run starting at the i-th: shares of similar length and mix."""
    if shard is None:
        return runs
    i, n = shard
    return runs[i - 1::n]


@dataclass
class _Failed:
    """Stands for a RunResult when ``run_test`` raised before creating a run."""

    error: str
    valid: str = ERROR
    run_dir: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 3


def _say(console: Any, msg: str) -> None:
    if console is not None:
        console.print(msg, highlight=False)
    else:
        print(msg, file=sys.stderr, flush=True)


def _row(run: CampaignRun, res: Any, elapsed: float) -> dict[str, Any]:
    """One run's summary (campaign.json, the grid and the JUnit testcase)."""
    spec = run.spec
    results = dict(getattr(res, "results", None) or {})
    run_dir = getattr(res, "run_dir", None)
    error = getattr(res, "error", None) or results.get("error")
    exit_code = getattr(res, "exit_code", None)
    if error is None and exit_code == 3:
        error = "the harness failed (exit code 3)"
    valid = getattr(res, "valid", results.get("valid", UNKNOWN))
    verdict = "error" if error else verdict_word(valid)
    report = Path(run_dir) / REPORT if run_dir else None
    name = spec.name or f"{spec.system}-{spec.workload}-{'+'.join(spec.nemesis) or 'none'}"
    opts = " ".join(f"{k}={v}" for d in (spec.options, spec.workload_options,
                                         spec.nemesis_options)
                    for k, v in sorted(d.items()))
    return {
        "name": f"{name}{f' [{opts}]' if opts else ''} #{run.repetition + 1}", "test": name,
        "repetition": run.repetition + 1,
        "classname": f"splitbrain.{spec.system}.{spec.workload}",
        "system": spec.system, "workload": spec.workload,
        "faults": "+".join(spec.nemesis) or "none",
        "verdict": verdict, "expect": run.expect, "passed": verdict == run.expect,
        "status": "error" if error else "done",
        "summary": anomaly_summary(results) if results else (error or ""),
        "error": error, "elapsed_s": round(elapsed, 3), "exit_code": exit_code,
        "run_dir": str(run_dir) if run_dir else None,
        "report": str(report) if report and report.exists() else None,
        "spec": spec.to_dict(),
        "first_bad_s": first_bad_seconds(Path(run_dir)) if run_dir else None,
    }


def _not_run(run: CampaignRun) -> dict[str, Any]:
    d = _row(run, None, 0.0)
    d.update(status="not-run", verdict=UNKNOWN, passed=False, summary="not run", error=None)
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


def summarize(title: str, rows: list[dict[str, Any]], elapsed: float, **extra: Any
              ) -> dict[str, Any]:
    """The campaign.json document (also what ``--json`` prints)."""
    return {"campaign": title, "exit_code": campaign_exit_code(rows),
            "elapsed_s": round(elapsed, 3),
            "counts": {w: sum(1 for r in rows if r["verdict"] == w) for w in WORDS},
            "passed": sum(1 for r in rows if r.get("passed")),
            "runs": rows} | extra


def run_campaign(path: Path, *, junit: Path | None = None, json_out: bool = False,
                 console: Any = None, repetitions: int | None = None, jobs: int = 1,
                 shard: str | None = None,
                 run_test: Callable[[TestSpec], Any] | None = None) -> int:
    """Run the campaign file's tests (``jobs`` at a time); write campaign.html (+ JUnit, JSON).

    ``run_test`` defaults to :func:`splitbrain.harness.runner.run_test`; tests
    inject a fake. Returns the exit code (see the module doc).
    """
    path = Path(path)
    doc = load_toml(path)
    runs = shard_of(expand(doc, str(path), repetitions), parse_shard(shard))
    if jobs < 1:
        raise HarnessError(f"--jobs {jobs}: expected at least 1")
    meta = doc.get("campaign") or {}
    title = str(meta.get("name") or path.stem)
    if shard:
        title += f"-shard-{shard.replace('/', '-of-')}"
    if not runs:
        raise HarnessError(f"{path}: shard {shard} holds no runs")
    store = Path(meta.get("store") or runs[0].spec.store)
    if run_test is None:
        from splitbrain.harness.runner import run_test as real_run_test

        run_test = real_run_test
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out_dir = _fresh_dir(store / "_campaigns", f"{title}-{stamp}")
    t0 = time.monotonic()
    rows: list[dict[str, Any] | None] = [None] * len(runs)
    lock = threading.Lock()
    stopped = threading.Event()
    _say(console, f"campaign {title}: {len(runs)} run(s){f', {jobs} at a time' if jobs > 1 else ''}"
                  f" -> {out_dir}")

    def one(i: int) -> None:
        run = runs[i]
        if stopped.is_set():
            return
        t = time.monotonic()
        try:
            res = run_test(run.spec)
        except HarnessError as e:
            res = _Failed(str(e))
        row = _row(run, res, time.monotonic() - t)
        with lock:
            rows[i] = row
            if str(row.get("error") or "").startswith("interrupted"):
                stopped.set()
            done = sum(1 for r in rows if r is not None)
            mark = "ok" if row["passed"] else f"expected {row['expect']}"
            _say(console, f"[{done}/{len(runs)}] {row['name']}: {row['verdict']} ({mark})"
                          f"{' (' + row['error'] + ')' if row['error'] else ''}"
                          f" in {row['elapsed_s']:.1f}s  {row['report'] or row['run_dir'] or ''}")
            write_campaign_html(out_dir, title, _rows(rows, runs), time.monotonic() - t0)

    if jobs == 1:
        try:
            for i in range(len(runs)):
                if stopped.is_set():
                    break
                one(i)
        except KeyboardInterrupt:
            stopped.set()
    else:
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="campaign")
        futures: set[Future[None]] = {pool.submit(one, i) for i in range(len(runs))}
        try:
            while futures:
                _, futures = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
        except KeyboardInterrupt:  # runs in progress finish (and heal); the rest never start
            stopped.set()
            for f in futures:
                f.cancel()
            _say(console, "campaign interrupted: waiting for the runs in progress to finish")
        pool.shutdown(wait=True)
    final = _rows(rows, runs)
    code = _write_outputs(out_dir, title, final, time.monotonic() - t0, junit=junit,
                          json_out=json_out, console=console, extra={"file": str(path),
                                                                     "shard": shard})
    if stopped.is_set():
        _say(console, "campaign interrupted: the remaining runs were not started")
    return code


def _write_outputs(out_dir: Path, title: str, rows: list[dict[str, Any]], elapsed: float, *,
                   junit: Path | None, json_out: bool, console: Any, extra: dict[str, Any],
                   worse: int = 0, said: str = "") -> int:
    """campaign.html, campaign.json, JUnit and the summary line of a campaign run or a
    merge of shards; returns the exit code (at least ``worse`` when it is not 0)."""
    html = write_campaign_html(out_dir, title, rows, elapsed)
    code = campaign_exit_code(rows)
    if worse and code == 0:
        code = worse
    summary = summarize(title, rows, elapsed, html=str(html), **extra)
    summary["exit_code"] = code
    (out_dir / "campaign.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if junit is not None:
        write_junit(junit, title, rows, elapsed)
    if json_out:
        print(json.dumps(summary, indent=2, default=str))
    c = summary["counts"]
    _say(console, f"campaign {title}: {said}{summary['passed']} of {len(rows)} as expected "
                  f"({c['valid']} valid, {c['invalid']} invalid, {c['unknown']} unknown, "
                  f"{c['error']} error) -> {html}" + (f", {junit}" if junit else ""))
    return code


def _rows(rows: list[dict[str, Any] | None], runs: list[CampaignRun]) -> list[dict[str, Any]]:
    return [r if r is not None else _not_run(run) for r, run in zip(rows, runs, strict=True)]


# -- merging shards --------------------------------------------------------------------

_SHARD_SUFFIX = re.compile(r"-shard-[0-9]+-of-[0-9]+$")


def _find_summaries(path: Path) -> list[Path]:
    """The campaign.json files a merge input names: the file, a campaign directory, or
    any directory holding them (a downloaded CI artifact, a whole store)."""
    if path.is_file():
        return [path]
    if (path / "campaign.json").is_file():
        return [path / "campaign.json"]
    if path.is_dir():
        found = sorted(path.rglob("campaign.json"))
        if found:
            return found
        raise HarnessError(f"{path}: no campaign.json in it (give a shard's campaign "
                           f"directory or its campaign.json)")
    raise HarnessError(f"{path}: no such file or directory")


def _rebased(row: dict[str, Any], summary: Path) -> dict[str, Any]:
    """The row with its run directory found again where the shard's store now lies
    (a CI artifact unpacked elsewhere): ``<store>/_campaigns/<name>/campaign.json``."""
    run_dir = row.get("run_dir")
    if not run_dir or Path(run_dir).is_dir():
        return row
    store = (row.get("spec") or {}).get("store")
    shard_store = summary.parent.parent.parent
    try:
        rel = Path(run_dir).relative_to(Path(store)) if store else None
    except ValueError:
        rel = None
    if rel is None:   # a store given as another path: the last two parts are test/stamp
        rel = Path(*Path(run_dir).parts[-2:])
    moved = shard_store / rel
    if not moved.is_dir():
        return row
    report = moved / "report.html"
    return dict(row, run_dir=str(moved), report=str(report) if report.exists() else None)


def merge_campaigns(out_dir: Path, inputs: list[Path], *, junit: Path | None = None,
                    json_out: bool = False, console: Any = None) -> int:
    """Join shards' campaign.json files into one campaign.html + campaign.json (+ JUnit)
    in ``out_dir``, runs in the campaign's own order. Returns the campaign exit code (2
    at least when a shard of the set is missing)."""
    summaries = [s for p in inputs for s in _find_summaries(Path(p))]
    if not summaries:
        raise HarnessError("campaign merge: give at least one shard")
    docs: list[tuple[Path, dict[str, Any]]] = []
    for s in summaries:
        try:
            doc = json.loads(s.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise HarnessError(f"{s}: not a campaign summary ({e})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
            raise HarnessError(f"{s}: not a campaign summary (no \"runs\" list)")
        docs.append((s, doc))
    titles = sorted({_SHARD_SUFFIX.sub("", str(d.get("campaign") or "campaign"))
                     for _, d in docs})
    title = "+".join(titles)
    seen: dict[tuple[str, str], Path] = {}
    ordered: list[tuple[tuple[int, int], dict[str, Any]]] = []
    n_of: set[int] = set()
    for order, (s, d) in enumerate(docs):
        shard = parse_shard(d.get("shard")) if d.get("shard") else None
        key = (_SHARD_SUFFIX.sub("", str(d.get("campaign"))), str(d.get("shard")))
        if shard is not None:
            if key in seen:
                raise HarnessError(f"{s}: shard {d['shard']} of {key[0]} is given twice "
                                   f"(also {seen[key]})")
            seen[key] = s
            n_of.add(shard[1])
        for k, row in enumerate(d["runs"]):
            # shard i of n holds runs i-1, i-1+n, ...: put them back in the campaign's order
            pos = (shard[0] - 1 + k * shard[1], 0) if shard else (10**9 + order, k)
            ordered.append((pos, _rebased(row, s)))
    rows = [r for _, r in sorted(ordered, key=lambda x: x[0])]
    missing = []
    for name in titles:
        got = {int(sh.split("/")[0]) for (c, sh) in seen if c == name}
        for n in n_of:
            missing += [f"{name} {i}/{n}" for i in range(1, n + 1) if i not in got and got]
    elapsed = max((float(d.get("elapsed_s") or 0) for _, d in docs), default=0.0)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HarnessError(f"cannot create {out}: {e.strerror}") from None
    code = _write_outputs(out, title, rows, elapsed, junit=junit, json_out=json_out,
                          console=console, worse=2 if missing else 0,
                          extra={"merged_from": [str(s) for s, _ in docs],
                                 "missing_shards": missing},
                          said=f"merged {len(docs)} shard(s), ")
    if missing:
        _say(console, f"campaign merge: shard(s) missing: {', '.join(missing)}")
    return code

"""``report.html`` for one run: verdict, spec, counts, charts, linearizability and Elle views.

Assets: the page inlines its own CSS and JS; only ``plotly.min.js`` (4.8 MB) is
a separate file, at ``<run>/assets/plotly.min.js``. It is hard-linked from one
copy per store (``store/_assets/``), so a store of a thousand runs holds one
physical copy, while every run directory still opens by itself (zip it, copy
it, open report.html from disk: no CDN, no network, no store needed). Where a
hard link is impossible (another filesystem) the file is copied.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from splitbrain.checker.base import result_from_json
from splitbrain.checker.result import LinResult
from splitbrain.history.store import HISTORY, LOG, REPORT, RESULTS, TEST
from splitbrain.reports.faults import fault_periods
from splitbrain.reports.linview import elle_view, lin_failure_view
from splitbrain.reports.rundata import RunData, counts_by_f, load_run, run_started
from splitbrain.verdict import ERROR, UNKNOWN, normalize
from splitbrain.verdict import word as verdict_word

TIMELINE_CAP = 1500       # client op pairs drawn in the op timeline
LIN_OP_CAP = 2000         # ops drawn per failing key in the linearizability view
ASSETS = Path(__file__).parent / "assets"

_env: Environment | None = None


def env() -> Environment:
    """The shared jinja2 environment for all report templates."""
    global _env
    if _env is None:
        _env = Environment(loader=PackageLoader("splitbrain.reports", "templates"),
                           autoescape=select_autoescape(["html", "j2"]),
                           trim_blocks=True, lstrip_blocks=True)
        _env.filters["tojson_compact"] = lambda v: Markup(_script_json(v))
        _env.filters["verdict_word"] = verdict_word
    return _env


def _script_json(v: Any) -> str:
    """JSON safe to put inside a <script> element."""
    s = json.dumps(v, separators=(",", ":"), default=str)
    return s.replace("</", "<\\/").replace("<!--", "<\\!--")


def asset_text(name: str) -> str:
    """The text of one of our own small assets (inlined into pages)."""
    return (ASSETS / name).read_text(encoding="utf-8")


def plotly_source() -> Path:
    """Where the installed plotly package keeps plotly.min.js.

    Found without importing plotly (its import costs ~0.3 s and pulls narwhals):
    the one file of it the reports use is this asset.
    """
    import importlib.util

    from splitbrain.errors import HarnessError

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError("the Python package plotly is not installed; the reports' charts "
                           "need its plotly.min.js (pip install plotly)")
    p = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not p.exists():
        raise HarnessError(f"{p} is missing: reinstall plotly (pip install --force-reinstall plotly)")
    return p


def _store_of(run_dir: Path) -> Path | None:
    """The store holding a run dir laid out as store/<test>/<time>/, if it looks like one."""
    if run_started(run_dir) is None:  # not named <YYYYmmddTHHMMSS>: don't guess a store
        return None
    store = run_dir.parent.parent
    return store if store.is_dir() and store != Path(store.anchor) else None


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        if dst.stat().st_size == src.stat().st_size:
            return
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def install_plotly(run_dir: Path) -> str:
    """Put plotly.min.js at ``<run>/assets/`` (hard link to the store's copy); return the href."""
    src = plotly_source()
    store = _store_of(run_dir)
    shared = None
    if store is not None:
        shared = store / "_assets" / "plotly.min.js"
        try:
            _link_or_copy(src, shared)
        except OSError:
            shared = None
    _link_or_copy(shared or src, run_dir / "assets" / "plotly.min.js")
    return "assets/plotly.min.js"


# --- what the verdict banner says -------------------------------------------------------

def _op_phrase(failure: dict[str, Any]) -> str:
    fid = failure.get("failing_op")
    for o in failure.get("ops") or []:
        if isinstance(o, dict) and str(o.get("id")) == str(fid):
            desc = o.get("desc") or f"{o.get('f')} {o.get('input')}"
            idx = f" (history index {o['index']})" if o.get("index") is not None else ""
            return f"op {fid} by process {o.get('process')}: {desc}{idx}"
    return f"op {fid}" if fid is not None else "an op"


def verdict_reasons(results: dict[str, Any]) -> list[str]:
    """One line per checker that made the run invalid (or unknown): which checker, key, op."""
    out: list[str] = []
    if results.get("error"):
        out.append(f"The harness failed: {results['error']}")
    overall = normalize(results.get("valid"))
    checkers = {name: result_from_json(r, name) for name, r in
                (results.get("checkers") or {}).items() if isinstance(r, dict)}
    for name, r in checkers.items():
        v = r.valid
        if v is True or (overall is False and v is not False):
            continue
        word = "found the history invalid" if v is False else "could not decide"
        if isinstance(r, LinResult) and r.failures and v is False:
            f0 = r.failures[0]
            more = f" (and {len(r.failures) - 1} more key(s))" if len(r.failures) > 1 else ""
            what = ("the history" if f0.get("key") is None
                    else f"key {json.dumps(f0.get('key'))}")
            longest = max((len(x.get("ops") or []) for x in f0.get("longest") or [{}]),
                          default=0)
            out.append(f"{name} ({r.model or 'model'}): {what} is not linearizable: "
                       f"{_op_phrase(f0)} cannot be linearized after a prefix of {longest} "
                       f"ops{more}.")
            continue
        why = r.reason or r.error or r.note or ""
        out.append(f"{name} {word}" + (f": {why}" if why else "."))
    # what a checker reports without making the run invalid (e.g. a lock re-granted
    # after a lease ran out: legal for a lease, unsafe for a client that ignores it)
    warnings = [f"{name}: {r.warning}" for name, r in checkers.items() if r.warning]
    if not out:
        if overall is True:
            out.append(f"All {len(checkers)} checker(s) found the history valid.")
        elif overall is False:
            out.append("The run is invalid (no checker detail recorded).")
        else:
            out.append("No checker reached a verdict" + ("." if checkers else " (no results.json)."))
    out.extend(warnings)
    return out


def anomaly_summary(results: dict[str, Any]) -> str:
    """The verdict reasons as one paragraph (used by JUnit and the campaign grid)."""
    return " ".join(verdict_reasons(results))


# --- chart data --------------------------------------------------------------------------

def chart_data(run: RunData) -> dict[str, Any]:
    """Columnar arrays for plotly: latency points per (f, type), throughput, fault periods."""
    fs = sorted({p.f for p in run.pairs})
    lat: dict[str, dict[str, list[Any]]] = {}
    no_completion = 0
    for p in run.pairs:
        if p.t_complete is None:
            no_completion += 1
            continue
        tr = lat.setdefault(f"{p.f}\x00{p.type}", {"x": [], "y": [], "p": [], "i": []})
        tr["x"].append(round(p.t_invoke / 1e9, 4))
        tr["y"].append(round(max(p.t_complete - p.t_invoke, 1000) / 1e6, 3))
        tr["p"].append(p.process if isinstance(p.process, int) else -1)
        tr["i"].append(p.i_invoke)
    traces = [{"f": k.split("\x00")[0], "type": k.split("\x00")[1], **v}
              for k, v in sorted(lat.items())]
    end_ns = max(run.end_time, 1)
    bin_s = _nice_bin(end_ns / 1e9 / 120)
    nb = int(end_ns / 1e9 / bin_s) + 1
    thr: dict[str, list[float]] = {}
    for p in run.pairs:
        if p.t_complete is None:
            continue
        arr = thr.setdefault(p.type, [0.0] * nb)
        b = min(int(p.t_complete / 1e9 / bin_s), nb - 1)
        arr[b] += 1
    throughput = {"x": [round((i + 0.5) * bin_s, 3) for i in range(nb)], "bin_s": bin_s,
                  "series": {k: [round(c / bin_s, 2) for c in v] for k, v in sorted(thr.items())}}
    faults = [fp.to_dict() for fp in fault_periods(run.ops, run.end_time)]
    return {"fs": fs, "latency": traces, "throughput": throughput, "faults": faults,
            "no_completion": no_completion, "end_s": round(end_ns / 1e9 * 1.01 + 0.001, 3)}


def _nice_bin(raw: float) -> float:
    """A 1-2-5 step at least ``raw`` seconds (and at least 1 ms) for throughput bins."""
    step = 0.001
    while True:
        for m in (1, 2, 5):
            if step * m >= raw:
                return round(step * m, 3)
        step *= 10


def _short(v: Any, limit: int = 48) -> str:
    s = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def timeline_data(run: RunData, cap: int | None = None) -> dict[str, Any]:
    """The first ``cap`` (default TIMELINE_CAP) client op pairs plus the nemesis ops among
    them, for the op timeline."""
    pairs = run.pairs[: TIMELINE_CAP if cap is None else cap]
    last_index = max((p.i_complete or p.i_invoke for p in pairs), default=0)
    rows = []
    for p in pairs:
        val = p.value_out if p.type == "ok" and p.value_out is not None else p.value_in
        txt = f"{p.f} {'' if p.key is None else _short(p.key, 16) + ' '}{_short(val)}"
        if p.error is not None:
            txt += f" ({_short(p.error, 40)})"
        rows.append([p.process, p.type, p.i_invoke, p.i_complete, txt,
                     p.t_invoke, p.t_complete, p.node])
    nem = []
    for pos, o in enumerate(run.ops):
        if o.get("process") == "nemesis" and o.get("type") != "invoke":
            i = int(o.get("index", pos))
            if i <= last_index or not pairs:
                nem.append([i, f"{o.get('f')} {_short(o.get('value'), 60)}"])
    return {"pairs": rows, "nemesis": nem, "total": len(run.pairs), "shown": len(pairs)}


# --- the page ----------------------------------------------------------------------------

def _links(run_dir: Path) -> list[dict[str, str]]:
    links = []
    for n in (HISTORY, RESULTS, TEST, LOG):
        if (run_dir / n).exists():
            links.append({"href": n, "label": n, "size": _size((run_dir / n).stat().st_size)})
    nodes = run_dir / "nodes"
    if nodes.is_dir():
        for f in sorted(nodes.rglob("*")):
            if f.is_file():
                rel = f.relative_to(run_dir).as_posix()
                links.append({"href": rel, "label": rel, "size": _size(f.stat().st_size)})
    return links


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _checker_views(results: dict[str, Any]) -> list[dict[str, Any]]:
    views = []
    init = None
    for name, r in (results.get("checkers") or {}).items():
        if not isinstance(r, dict):
            r = {"valid": UNKNOWN, "value": r}
        kind = "generic"
        view: dict[str, Any] = {"name": name, "valid": normalize(r.get("valid")), "raw": r}
        if r.get("checker") == "linearizability" or "failures" in r and name.startswith("lin"):
            kind = "linearizability"
            init = r.get("init")
            fails = []
            for f in r.get("failures") or []:
                if isinstance(f, dict):
                    f = dict(f)
                    if len(f.get("ops") or []) > LIN_OP_CAP:
                        f["ops"] = _window(f["ops"], f.get("failing_op"), LIN_OP_CAP)
                        f["truncated"] = True
                    fv = lin_failure_view(f, f.get("init", init))
                    fv["truncated"] = f.get("truncated", False)
                    fails.append(fv)
            view["failures"] = fails
            view["model"] = r.get("model")
            view["reason"] = r.get("reason")
        elif str(r.get("checker", "")).startswith("elle") or name == "elle":
            kind = "elle"
            view["anomalies"] = elle_view(r)
            view["anomaly_types"] = r.get("anomaly_types") or []
            view["not"] = r.get("not") or []
        compact = {k: v for k, v in r.items()
                   if k not in ("failures", "anomalies") or kind == "generic"}
        s = json.dumps(compact, indent=1, default=str, sort_keys=True)
        view["json"] = s if len(s) < 20000 else s[:20000] + "\n… (truncated; see results.json)"
        view["kind"] = kind
        views.append(view)
    order = {False: 0, UNKNOWN: 1, ERROR: 1, True: 2}
    views.sort(key=lambda v: order.get(v["valid"], 1))
    return views


def _window(ops: list[Any], failing: Any, cap: int) -> list[Any]:
    """At most ``cap`` ops around the failing one (mostly before it: the prefix matters)."""
    ops = sorted((o for o in ops if isinstance(o, dict)), key=lambda o: o.get("call") or 0)
    pos = next((i for i, o in enumerate(ops) if str(o.get("id")) == str(failing)), len(ops) - 1)
    start = max(0, min(pos - cap * 3 // 4, len(ops) - cap))
    return ops[start:start + cap]


def render_report(run: RunData, plotly_href: str = "assets/plotly.min.js") -> str:
    """The report page for an already-loaded run, as HTML text."""
    started = run_started(run.run_dir)
    by_type = Counter(str(o.get("type")) for o in run.ops if o.get("process") != "nemesis")
    spec_rows = [(k, v if isinstance(v, str) else json.dumps(v, default=str))
                 for k, v in run.spec.items()]
    ctx = {
        "run": run, "name": run.name, "valid": run.valid, "word": verdict_word(run.valid),
        "reasons": verdict_reasons(run.results), "spec_rows": spec_rows,
        "started": started.strftime("%Y-%m-%d %H:%M:%S") if started else "",
        "elapsed": run.results.get("elapsed_s"),
        "counts": counts_by_f(run.ops), "by_type": by_type, "n_ops": len(run.ops),
        "n_nemesis": sum(1 for o in run.ops if o.get("process") == "nemesis"),
        "checkers": _checker_views(run.results), "links": _links(run.run_dir),
        "chart": chart_data(run), "timeline": timeline_data(run), "timeline_cap": TIMELINE_CAP,
        "plotly_href": plotly_href, "css": Markup(asset_text("report.css")),
        "js": Markup(asset_text("report.js")), "history_error": run.history_error,
        "version": run.spec.get("splitbrain_version", ""), "escape": html.escape,
    }
    return env().get_template("report.html.j2").render(**ctx)


def write_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` (and its plotly asset) and return its path."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    href = install_plotly(run_dir)
    out = run_dir / REPORT
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(render_report(run, href), encoding="utf-8")
    tmp.replace(out)
    return out

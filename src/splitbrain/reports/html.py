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
from splitbrain.checker.counterexample import lin_reason
from splitbrain.checker.result import LinResult
from splitbrain.history.store import HISTORY, LOG, REPORT, RESULTS, TEST
from splitbrain.reports.keyview import counterexample_cards, lin_views
from splitbrain.reports.linview import elle_view
from splitbrain.reports.pagedata import OpTable, op_table, ops_json
from splitbrain.reports.rundata import RunData, counts_by_f, load_run, run_started
from splitbrain.verdict import ERROR, UNKNOWN, normalize
from splitbrain.verdict import word as verdict_word

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

def verdict_reasons(results: dict[str, Any]) -> list[str]:
    """One line per checker that made the run invalid (or unknown): which checker and why.

    A linearizability result is said in the words of its own one-line reason
    (:func:`splitbrain.checker.counterexample.lin_reason`: keys, counts, the minimal
    counterexample), so banner, console and results.json agree.
    """
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
            out.append(f"{name} ({r.model or 'model'}): {lin_reason(r)}.")
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

def chart_data(run: RunData, table: OpTable | None = None) -> dict[str, Any]:
    """Columnar arrays for plotly: latency points per (f, type) (``r``: the op's row in the
    page's op table), throughput, fault periods (ns)."""
    table = table or op_table(run)
    fs = sorted({p.f for p in run.pairs})
    lat: dict[str, dict[str, list[Any]]] = {}
    no_completion = 0
    for r, p in enumerate(run.pairs):
        if p.t_complete is None:
            no_completion += 1
            continue
        tr = lat.setdefault(f"{p.f}\x00{p.type}", {"x": [], "y": [], "p": [], "r": []})
        tr["x"].append(round(p.t_invoke / 1e9, 4))
        tr["y"].append(round(max(p.t_complete - p.t_invoke, 1000) / 1e6, 3))
        tr["p"].append(p.process if isinstance(p.process, int) else -1)
        tr["r"].append(r)
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
    faults = [fp.to_dict() for fp in table.periods] if table.timed else []
    return {"fs": fs, "latency": traces, "throughput": throughput, "faults": faults,
            "no_completion": no_completion, "timed": table.timed,
            "end_s": round(end_ns / 1e9 * 1.01 + 0.001, 3)}


def _nice_bin(raw: float) -> float:
    """A 1-2-5 step at least ``raw`` seconds (and at least 1 ms) for throughput bins."""
    step = 0.001
    while True:
        for m in (1, 2, 5):
            if step * m >= raw:
                return round(step * m, 3)
        step *= 10


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


def _checker_views(results: dict[str, Any], lin: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lin_by_name = {v["name"]: i for i, v in enumerate(lin)}
    views = []
    for name, r in (results.get("checkers") or {}).items():
        if not isinstance(r, dict):
            r = {"valid": UNKNOWN, "value": r}
        typed = result_from_json(r, name)
        kind = "generic"
        view: dict[str, Any] = {"name": name, "valid": normalize(typed.valid), "raw": r,
                                "reason": typed.reason or typed.error or typed.note or ""}
        if isinstance(typed, LinResult) and name in lin_by_name:
            kind = "linearizability"
            lv = lin[lin_by_name[name]]
            view["lin"] = lin_by_name[name]
            view["model"] = typed.model or lv["model"]
            view["n_keys"] = len(lv["keys"])
            view["n_invalid"] = max(typed.keys_invalid, len(typed.failures))
            view["n_kept"] = len(typed.failures)
            view["note"] = lv["note"]
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


def page_data(run: RunData, table: OpTable, lin: list[dict[str, Any]],
              cards: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the page's script draws: the op table, the faults, the nemesis ops, the
    linearizability views and where the counterexamples are."""
    descs: dict[int, str] = {}
    for v in lin:
        for k in v["keys"]:
            for p, r in enumerate(k["rows"]):
                if r >= 0:
                    descs.setdefault(r, k["desc"][p])
            # an op found in the history is described once, in the op table
            k["desc"] = {p: d for p, (d, r) in enumerate(zip(k["desc"], k["rows"], strict=True))
                         if r < 0}
    cx = [{"view": next((i for i, v in enumerate(lin) if v["name"] == c["checker"]), -1),
           "key": c["failure"], "rows": [o["row"] for o in c["ops"]]} for c in cards]
    return {"ops": ops_json(table, descs), "lin": lin, "cx": cx}


def _shown(key: str, spec: dict) -> bool:
    """The ssh login fields matter only for ssh runs: elsewhere they push the plots down."""
    return not key.startswith("ssh_") or spec.get("backend") == "ssh"


def render_report(run: RunData, plotly_href: str = "assets/plotly.min.js",
                  links: list[dict[str, str]] | None = None) -> str:
    """The report page for an already-loaded run, as HTML text."""
    started = run_started(run.run_dir)
    by_type = Counter(str(o.get("type")) for o in run.ops if o.get("process") != "nemesis")
    spec_rows = [(k, v if isinstance(v, str) else json.dumps(v, default=str))
                 for k, v in run.spec.items() if _shown(k, run.spec)]
    table = op_table(run)
    lin = lin_views(run, table, run.results)
    cards = counterexample_cards(run, table, run.results)
    checkers = _checker_views(run.results, lin)
    first_invalid_lin = next((c for c in checkers if c["kind"] == "linearizability"
                              and c["valid"] is False), None)
    ctx = {
        "run": run, "name": run.name, "valid": run.valid, "word": verdict_word(run.valid),
        "reasons": verdict_reasons(run.results), "spec_rows": spec_rows,
        "started": started.strftime("%Y-%m-%d %H:%M:%S") if started else "",
        "elapsed": run.results.get("elapsed_s"),
        "counts": counts_by_f(run.history), "by_type": by_type, "n_ops": len(run.ops),
        "n_nemesis": sum(1 for o in run.ops if o.get("process") == "nemesis"),
        "n_client": len(run.pairs), "timed": table.timed, "periods": table.periods,
        "checkers": checkers, "first_invalid_lin": first_invalid_lin,
        "links": _links(run.run_dir) if links is None else links,
        "cards": cards, "chart": chart_data(run, table),
        "data": page_data(run, table, lin, cards),
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

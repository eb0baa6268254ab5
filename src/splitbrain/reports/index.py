"""``index.html`` for a store: every run, newest first, filterable, linking its report."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from splitbrain.errors import HarnessError
from splitbrain.history.store import HISTORY, RESULTS, TEST
from splitbrain.reports.html import asset_text, env
from splitbrain.reports.rundata import run_started
from splitbrain.verdict import WORDS
from splitbrain.verdict import word as verdict_word

INDEX = "index.html"


def _read(p: Path) -> dict[str, Any]:
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def _count_lines(p: Path) -> int:
    try:
        with open(p, "rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except OSError:
        return 0


def run_dirs(store: Path) -> list[Path]:
    """Run directories of a store (``<test>/<time>/`` holding test.json or results.json)."""
    out = []
    for test in sorted(Path(store).iterdir()) if Path(store).is_dir() else []:
        if not test.is_dir() or test.is_symlink() or test.name[:1] in "._":
            continue
        for run in test.iterdir():
            if run.is_dir() and ((run / TEST).exists() or (run / RESULTS).exists()):
                out.append(run)
    return out


def run_summary(store: Path, run: Path) -> dict[str, Any]:
    """One index row: name, time, system, workload, faults, verdict, op count, link."""
    spec, results = _read(run / TEST), _read(run / RESULTS)
    started = run_started(run)
    if started is None:
        started = datetime.fromtimestamp(run.stat().st_mtime)
    nem = spec.get("nemesis")
    faults = ", ".join(map(str, nem)) if isinstance(nem, list) else str(nem or "")
    stats = results.get("stats") or {}
    ops = stats.get("ops") if isinstance(stats.get("ops"), int) else _count_lines(run / HISTORY)
    rel = run.relative_to(store).as_posix()
    has_results = bool(results)
    return {
        "name": spec.get("name") or results.get("test") or run.parent.name,
        "time": started.strftime("%Y-%m-%d %H:%M:%S"), "sort": started.timestamp(),
        "system": spec.get("system", ""), "workload": spec.get("workload", ""),
        "faults": faults or "none",
        "verdict": verdict_word(results.get("valid")) if has_results else "running",
        "ops": ops, "elapsed": results.get("elapsed_s"),
        "error": results.get("error") or "",
        "href": f"{rel}/report.html", "dir": rel,
    }


def collect_runs(store: Path) -> list[dict[str, Any]]:
    """Summaries of every run in the store, newest first."""
    rows = [run_summary(store, r) for r in run_dirs(store)]
    rows.sort(key=lambda r: (r["sort"], r["dir"]), reverse=True)
    return rows


def write_index(store: Path) -> Path:
    """Write ``store/index.html`` listing every run, newest first; return its path."""
    store = Path(store)
    if not store.is_dir():
        raise HarnessError(f"{store}: no such store directory (run a test first, or pass the "
                           "store's path)")
    rows = collect_runs(store)
    counts = {w: sum(1 for r in rows if r["verdict"] == w)
              for w in (*WORDS, "running")}
    campaigns = sorted((p.relative_to(store).as_posix() for p in
                        (store / "_campaigns").glob("*/campaign.html")), reverse=True) \
        if (store / "_campaigns").is_dir() else []
    html = env().get_template("index.html.j2").render(
        rows=rows, counts=counts, store=str(store.resolve()), campaigns=campaigns,
        css=Markup(asset_text("index.css")), js=Markup(asset_text("index.js")))
    out = store / INDEX
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out

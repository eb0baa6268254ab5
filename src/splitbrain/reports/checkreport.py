"""Report pages for histories checked with ``splitbrain check`` (offline histories:
Jepsen EDN, Jepsen log lines, our JSONL): the same page as a run's report.

One file checked with ``--report out.html`` gives that page. Several files give
``out.html`` as a list of their verdicts, each linking its own page in
``out_files/``. A run directory checked without ``--report`` gets its page beside its
history, as ``check-report.html`` (its own ``report.html`` is left alone).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from splitbrain.history import store
from splitbrain.history.ops import Op
from splitbrain.reports.html import asset_text, env, install_plotly, render_report
from splitbrain.reports.rundata import run_data
from splitbrain.verdict import merge, normalize
from splitbrain.verdict import word as verdict_word

CHECK_REPORT = "check-report.html"


@dataclass
class Checked:
    """One history file and what the checker said about it."""

    path: Path
    ops: list[Op]
    checker: str
    result: dict[str, Any]
    options: dict[str, Any]


def is_run_history(path: Path) -> bool:
    """True for the history.jsonl of a run directory (it has a test.json beside it)."""
    return path.name == store.HISTORY and (path.parent / store.TEST).is_file()


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MB"


def write_page(out: Path, c: Checked) -> Path:
    """The report page of one checked file at ``out`` (plotly beside it when drawn)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    spec: dict[str, Any] = {"name": c.path.name, "file": str(c.path), "checker": c.checker}
    if is_run_history(c.path):  # the run's own settings too
        try:
            recorded = json.loads((c.path.parent / store.TEST).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            recorded = {}
        if isinstance(recorded, dict):
            spec = {**recorded, **spec, "name": recorded.get("name") or c.path.parent.name}
    spec.update({k: v for k, v in c.options.items() if v not in (None, False, "")})
    model = c.result.get("model") or c.options.get("model")
    results = {"valid": c.result.get("valid"), "test": c.path.name,
               "checkers": {c.checker: c.result}, "model": model}
    rd = run_data(out.parent, spec, results, [o.to_dict() for o in c.ops])
    href = install_plotly(out.parent) if any(o.time for o in c.ops) else "assets/plotly.min.js"
    rel = Path(os.path.relpath(c.path.resolve(), out.parent.resolve())).as_posix()
    links = [{"href": rel, "label": str(c.path), "size": _size(c.path.stat().st_size)}]
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render_report(rd, href, links=links), encoding="utf-8")
    tmp.replace(out)
    return out


def write_check_reports(out: Path | None, checked: list[Checked]) -> list[Path]:
    """Write the pages for ``checked``; returns the paths a person should open."""
    written: list[Path] = []
    if out is None:
        for c in checked:
            if is_run_history(c.path):
                written.append(write_page(c.path.parent / CHECK_REPORT, c))
        return written
    out = Path(out)
    if len(checked) == 1:
        return [write_page(out, checked[0])]
    pages = out.with_name(out.stem + "_files")
    rows = []
    for n, c in enumerate(checked, 1):
        page = write_page(pages / f"{n:03d}-{c.path.stem}.html", c)
        v = normalize(c.result.get("valid"))
        rows.append({"file": str(c.path), "href": Path(os.path.relpath(page, out.parent)).as_posix(),
                     "verdict": verdict_word(v), "ops": len(c.ops),
                     "reason": str(c.result.get("reason") or "")})
    overall = verdict_word(merge(normalize(c.result.get("valid")) for c in checked))
    html = env().get_template("check_index.html.j2").render(
        rows=rows, overall=overall, css=Markup(asset_text("index.css")))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return [out]

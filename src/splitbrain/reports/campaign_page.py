"""``campaign.html``: the grid of a campaign's verdicts, each linking its run's report."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from markupsafe import Markup

from splitbrain.history.store import REPORT
from splitbrain.reports.html import asset_text, env
from splitbrain.verdict import WORDS


def passed(r: dict[str, Any]) -> bool:
    """Whether a run gave its expected verdict (``valid`` unless the campaign says)."""
    return r["verdict"] == r.get("expect", "valid") and r.get("status") != "not-run"


def campaign_exit_code(rows: list[dict[str, Any]]) -> int:
    """0 if every run gave its expected verdict; 1 if one gave the opposite verdict
    (valid vs invalid); else 2 (unknown, harness errors, runs not started)."""
    if all(passed(r) for r in rows):
        return 0
    if any(r["verdict"] in ("valid", "invalid") and not passed(r) for r in rows):
        return 1
    return 2


def write_campaign_html(out_dir: Path, title: str, rows: list[dict[str, Any]],
                        elapsed_s: float) -> Path:
    """``campaign.html``: rows system × workload, columns faults, one badge per repetition."""
    def href(r: dict[str, Any]) -> str | None:
        if not r.get("run_dir"):
            return None
        target = Path(r["run_dir"]) / REPORT
        return Path(os.path.relpath(target, out_dir)).as_posix()

    # columns: the fault list, plus any other setting that varies across the matrix
    skip = {"system", "workload", "nemesis", "seed", "name", "store"}
    keys = sorted({k for r in rows for k in (r.get("spec") or {})} - skip)
    varying = [k for k in keys
               if len({json.dumps((r.get("spec") or {}).get(k), sort_keys=True, default=str)
                       for r in rows}) > 1]

    def col(r: dict[str, Any]) -> str:
        spec = r.get("spec") or {}
        extra = []
        for k in varying:
            v = spec.get(k)
            if isinstance(v, dict):
                extra.append(",".join(f"{a}={b}" for a, b in v.items()) or f"{k}: none")
            else:
                extra.append(f"{k}={v}")
        return " · ".join([r["faults"], *extra])

    cols = list(dict.fromkeys(col(r) for r in rows))
    grid: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for r in rows:
        r = dict(r, href=href(r))
        grid.setdefault((r["system"], r["workload"]), {}).setdefault(col(r), []).append(r)
    counts = {w: sum(1 for r in rows if r["verdict"] == w)
              for w in WORDS}
    counts["expected"] = sum(1 for r in rows if passed(r))
    html = env().get_template("campaign.html.j2").render(
        title=title, cols=cols, grid=grid, rows=[dict(r, href=href(r)) for r in rows],
        counts=counts, elapsed_s=elapsed_s, code=campaign_exit_code(rows),
        css=Markup(asset_text("index.css")))
    path = out_dir / "campaign.html"
    path.write_text(html, encoding="utf-8")
    return path

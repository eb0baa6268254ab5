"""Elle cycle drawings (plain SVG, computed here, shown without JavaScript).

The linearizability view's data is built by :mod:`splitbrain.reports.keyview`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from markupsafe import Markup, escape


def _show(v: Any, limit: int = 200) -> str:
    if isinstance(v, str):
        s = v
    else:
        s = json.dumps(v, separators=(",", ":"), default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


_EDGE_COLOURS = {"ww": "#b45309", "wr": "#2563eb", "rw": "#dc2626", "process": "#6b7280",
                 "realtime": "#059669"}


def cycle_svg(anomaly: dict[str, Any], size: int = 260) -> Markup:
    """A small SVG of one Elle cycle: transactions on a circle, typed edges between them."""
    cycle = [c for c in anomaly.get("cycle") or [] if isinstance(c, dict)]
    steps = [s for s in anomaly.get("steps") or [] if isinstance(s, dict)]
    ids: list[Any] = [c.get("txn") for c in cycle]
    for s in steps:
        for end in (s.get("from"), s.get("to")):
            if end not in ids:
                ids.append(end)
    if not ids:
        return Markup("")
    cx = cy = size / 2
    r = size / 2 - 38 if len(ids) > 1 else 0
    pos: dict[str, tuple[float, float]] = {}
    for i, t in enumerate(ids):
        a = -math.pi / 2 + 2 * math.pi * i / len(ids)
        pos[str(t)] = (cx + r * math.cos(a), cy + r * math.sin(a))
    info = {str(c.get("txn")): c for c in cycle}
    parts = [f'<svg class="cycle" viewBox="0 0 {size} {size}" width="{size}" height="{size}" '
             'xmlns="http://www.w3.org/2000/svg" role="img">',
             '<defs>' + "".join(
                 f'<marker id="arr-{k}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
                 f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" '
                 f'fill="{c}"/></marker>' for k, c in _EDGE_COLOURS.items()) + '</defs>']
    node_r = 20
    for s in steps:
        a, b = pos.get(str(s.get("from"))), pos.get(str(s.get("to")))
        if not a or not b:
            continue
        typ = str(s.get("type", ""))
        col = _EDGE_COLOURS.get(typ, "#374151")
        mk = typ if typ in _EDGE_COLOURS else "process"
        dx, dy = b[0] - a[0], b[1] - a[1]
        d = math.hypot(dx, dy) or 1.0
        ux, uy = dx / d, dy / d
        # bow the edge so a->b and b->a don't overlap
        mx, my = (a[0] + b[0]) / 2 - uy * 18, (a[1] + b[1]) / 2 + ux * 18
        x1, y1 = a[0] + ux * node_r, a[1] + uy * node_r
        x2, y2 = b[0] - ux * (node_r + 2), b[1] - uy * (node_r + 2)
        title = escape(s.get("explanation") or f"{typ} on {s.get('key')}")
        parts.append(f'<path d="M{x1:.1f},{y1:.1f} Q{mx:.1f},{my:.1f} {x2:.1f},{y2:.1f}" '
                     f'fill="none" stroke="{col}" stroke-width="2" marker-end="url(#arr-{mk})">'
                     f'<title>{title}</title></path>')
        parts.append(f'<text x="{mx:.1f}" y="{my:.1f}" class="edge-label" fill="{col}" '
                     f'text-anchor="middle">{escape(typ)}</text>')
    for t in ids:
        x, y = pos[str(t)]
        c = info.get(str(t), {})
        title = escape(f"T{t} process {c.get('process')}: {_show(c.get('value'), 300)}")
        parts.append(f'<g class="txn"><circle cx="{x:.1f}" cy="{y:.1f}" r="{node_r}" '
                     f'fill="#f3f4f6" stroke="#111827"/><text x="{x:.1f}" y="{y + 4:.1f}" '
                     f'text-anchor="middle">T{escape(t)}</text><title>{title}</title></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def elle_view(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Anomalies of an Elle result, each with its SVG drawing (if it is a cycle)."""
    out: list[dict[str, Any]] = []
    for typ, items in (result.get("anomalies") or {}).items():
        for a in items if isinstance(items, list) else [items]:
            if not isinstance(a, dict):
                a = {"explanation": _show(a)}
            steps = [s for s in a.get("steps") or [] if isinstance(s, dict)]
            out.append({
                "type": typ,
                "svg": cycle_svg(a) if a.get("cycle") or steps else Markup(""),
                "explanation": a.get("explanation") or "",
                "steps": steps,
                "cycle": [c for c in a.get("cycle") or [] if isinstance(c, dict)],
                "op": _show(a["op"], 400) if "op" in a else None,
            })
    return out

"""Reading a run directory (test.json, history.jsonl, results.json) for the reports."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from splitbrain.errors import HarnessError
from splitbrain.history.ops import Op, Pair, op_counts, pair
from splitbrain.history.store import HISTORY, RESULTS, TEST
from splitbrain.verdict import normalize

RUN_TIME_FORMAT = "%Y%m%dT%H%M%S"


@dataclass
class ClientPair:
    """A client invocation and its completion, as plain values for rendering."""

    process: Any
    f: str
    type: str              # ok / fail / info
    t_invoke: int          # ns
    t_complete: int | None  # ns, None when never completed
    i_invoke: int
    i_complete: int | None
    key: Any
    value_in: Any
    value_out: Any
    node: str | None
    error: Any


@dataclass
class RunData:
    """Everything the report needs from one run directory."""

    run_dir: Path
    spec: dict[str, Any]
    results: dict[str, Any]
    ops: list[dict[str, Any]]
    pairs: list[ClientPair] = field(default_factory=list)
    history_error: str | None = None
    history: list[Op] = field(default_factory=list)       # the ops as Op objects
    op_pairs: list[Pair] = field(default_factory=list)    # client pairs (same order as pairs)

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or self.results.get("test") or self.run_dir.parent.name)

    @property
    def valid(self) -> Any:
        return normalize(self.results.get("valid"))

    @functools.cached_property
    def end_time(self) -> int:
        return max((int(o.get("time") or 0) for o in self.ops), default=0)


def _read_json(p: Path) -> dict[str, Any]:
    if not p.exists():
        return {}
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return {}
    return d if isinstance(d, dict) else {}


def read_ops(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The ops of ``history.jsonl`` as dicts; a bad line is skipped and reported once."""
    if not path.exists():
        return [], "no history.jsonl in this run"
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    try:  # one parse of the whole file is several times faster than one per line
        parsed = json.loads("[" + ",".join(lines) + "]")
        problem = None
    except json.JSONDecodeError:
        parsed, problem = [], None
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                problem = problem or f"history.jsonl:{n}: not JSON (skipped)"
    ops = [d for d in parsed if isinstance(d, dict) and "type" in d and "process" in d]
    return ops, problem


def as_ops(ops: list[dict[str, Any]]) -> list[Op]:
    """History dicts as Op objects (a malformed one is left out: the report still draws)."""
    out = []
    for pos, d in enumerate(ops):
        try:
            op = Op.from_dict(d)
        except (KeyError, TypeError, ValueError):
            continue
        if op.index < 0:
            op.index = pos
        out.append(op)
    return out


def pair_client_ops(ops: list[dict[str, Any]]) -> list[ClientPair]:
    """Client invocations with their completions, in invocation order (nemesis excluded)."""
    return client_pairs(pair(as_ops(ops)))


def client_pairs(op_pairs: list[Pair]) -> list[ClientPair]:
    """:class:`ClientPair` rows for pairs made by :func:`splitbrain.history.ops.pair`."""
    pairs = []
    for p in op_pairs:
        inv, comp = p.invoke, p.complete
        lone = comp is inv
        pairs.append(ClientPair(
            inv.process, str(inv.f), p.outcome, inv.time,
            comp.time if comp is not None else None, inv.index,
            comp.index if comp is not None else None, inv.key,
            None if lone else inv.value, comp.value if comp is not None else None,
            inv.node or (comp.node if comp is not None else None),
            comp.error if comp is not None else None))
    return pairs


def load_run(run_dir: Path) -> RunData:
    """Read a run directory; a missing directory is a one-line :class:`HarnessError`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: not a run directory (expected store/<test>/<time>/)")
    if not any((run_dir / n).exists() for n in (TEST, RESULTS, HISTORY)):
        raise HarnessError(f"{run_dir}: no test.json, results.json or history.jsonl here; "
                           "point at a run directory such as store/<test>/<time>/")
    spec = _read_json(run_dir / TEST)
    results = _read_json(run_dir / RESULTS)
    ops, problem = read_ops(run_dir / HISTORY)
    return run_data(run_dir, spec, results, ops, problem)


def run_data(run_dir: Path, spec: dict[str, Any], results: dict[str, Any],
             ops: list[dict[str, Any]], problem: str | None = None) -> RunData:
    """A :class:`RunData` for history dicts already in memory (a run, or a checked file)."""
    rd = RunData(Path(run_dir), spec, results, ops, history_error=problem)
    rd.history = as_ops(ops)
    rd.op_pairs = pair(rd.history)
    rd.pairs = client_pairs(rd.op_pairs)
    return rd


def run_started(run_dir: Path) -> datetime | None:
    """The start time encoded in a run directory's name (``YYYYmmddTHHMMSS``): the
    runner's local time (``time.strftime``), so a naive datetime."""
    try:
        return datetime.strptime(run_dir.name[:15], RUN_TIME_FORMAT)
    except ValueError:
        return None


def counts_by_f(ops: list[dict[str, Any]] | list[Op]) -> dict[str, dict[str, int]]:
    """``{f: {"invoke": n, "ok": n, "fail": n, "info": n}}`` over client ops (history
    dicts, or Op objects already made).

    An invocation that never completed counts as ``info`` (Jepsen's reading).
    """
    typed = ops if ops and isinstance(ops[0], Op) else as_ops(ops)  # type: ignore[arg-type]
    return {f: {"invoke": c["count"], "ok": c["ok"], "fail": c["fail"], "info": c["info"]}
            for f, c in op_counts(typed).items()}  # type: ignore[arg-type]


def make_run_dir(store: Path, name: str, ops: list[Any], results: dict[str, Any],
                 spec: dict[str, Any] | None = None, started: datetime | None = None) -> Path:
    """Lay out a run directory for a history checked outside the runner (e.g. an imported
    Jepsen history), so it can be reported and served like any run.

    ``ops`` are :class:`~splitbrain.history.ops.Op` objects or dicts.
    """
    stamp = (started or datetime.now()).strftime(RUN_TIME_FORMAT)
    run_dir = Path(store) / name / stamp
    run_dir.mkdir(parents=True, exist_ok=False)
    spec = dict(spec or {})
    spec.setdefault("name", name)
    (run_dir / TEST).write_text(json.dumps(spec, indent=2, default=str) + "\n")
    with open(run_dir / HISTORY, "w", encoding="utf-8") as fh:
        for o in ops:
            d = o if isinstance(o, dict) else o.to_dict()
            fh.write(json.dumps(d, separators=(",", ":"), default=str) + "\n")
    res = dict(results)
    res.setdefault("test", name)
    (run_dir / RESULTS).write_text(json.dumps(res, indent=2, default=str) + "\n")
    return run_dir


def first_bad_seconds(run_dir: Path) -> float | None:
    """Seconds from the test start to the earliest op a checker names as wrong (its
    invocation), or None when no checker names one."""
    from splitbrain.checker.base import result_from_json

    results = _read_json(Path(run_dir) / RESULTS)
    blamed: set[int] = set()
    for name, r in (results.get("checkers") or {}).items():
        if isinstance(r, dict) and r.get("valid") is False:
            blamed.update(result_from_json(r, name).blamed())
    if not blamed:
        return None
    ops, _ = read_ops(Path(run_dir) / HISTORY)
    by_index = {o.get("index", i): o for i, o in enumerate(ops)}
    pairs = {p.i_complete: p for p in pair_client_ops(ops) if p.i_complete is not None}
    times = []
    for i in blamed:
        o = by_index.get(i)
        if o is None:
            continue
        p = pairs.get(i)   # a completion: count from its invocation
        times.append(p.t_invoke if p is not None else int(o.get("time") or 0))
    return round(min(times) / 1e9, 3) if times else None

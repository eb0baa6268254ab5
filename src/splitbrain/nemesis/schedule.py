"""The nemesis schedule: fault, wait, heal, wait ... reproducible from the seed.

Step ``i`` is planned from ``random.Random(f"splitbrain-nemesis:{seed}:{i}")`` and
the node names alone, so the same seed gives the same faults, targets and order
whatever the timing; only leader-based targets depend on the live cluster.
Every fault and heal becomes an ``invoke`` + ``info`` op pair of process
``nemesis``, and is journaled before it is applied so a killed run can be healed.
The ``--nemesis`` names of :mod:`splitbrain.nemesis.programs` (``mixed`` and the
Raft-hazard scenarios) replace this schedule with their own and keep several
faults active at once through :meth:`Nemesis.apply` / :meth:`Nemesis.heal_fault`.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import System
from splitbrain.errors import HarnessError
from splitbrain.history.ops import INFO, INVOKE, NEMESIS, Op
from splitbrain.nemesis.fault import TARGETS, Context, Fault
from splitbrain.nemesis.faults import FAULT_REGISTRY, make_fault
from splitbrain.nemesis.journal import Journal
from splitbrain.nemesis.programs import PROGRAMS, make_program

log = logging.getLogger("splitbrain.nemesis")

#: every ``--nemesis`` value (faults and programs), with a line of help
FAULTS: dict[str, str] = {**{name: e.help for name, e in FAULT_REGISTRY.entries.items()},
                          **PROGRAMS}

#: nemesis options (``options=`` of :func:`build_nemesis`), with a line of help
NEMESIS_OPTIONS: dict[str, str] = {
    "grudge_file": "TOML file with [grudge] n1 = [\"n2\"] for partition-grudge",
    "symmetric": "true (default): both sides drop; false: only the isolated/minority side",
    "loss": "packet-loss: probability of dropping a packet (default 0.2)",
    "netem_delay_ms": "netem: delay in ms (default 50)",
    "netem_jitter_ms": "netem: jitter in ms (default 10)",
    "netem_duplicate": "netem: percent of packets duplicated (default 1)",
    "netem_reorder": "netem: percent of packets reordered (default 10)",
    "clock_max_skew_s": "clock: largest offset in seconds (default 60)",
    "mix": "mixed: the fault kinds to overlap, e.g. partition,kill,pause (the default), "
           "also packet-loss, clock",
}


def check_options(options: dict[str, str]) -> None:
    """Refuse unknown nemesis option keys (for a dedicated ``--nemesis-option`` flag)."""
    for k in options:
        if k not in NEMESIS_OPTIONS:
            raise HarnessError(f"-O {k}: unknown nemesis option {k!r} (known: "
                               f"{', '.join(sorted(NEMESIS_OPTIONS))})")


def check_names(faults: list[str], targets: str) -> list[str]:
    """Validate fault names and targets; returns the faults without duplicates, in order."""
    out: list[str] = []
    for f in faults:
        f = f.strip()
        if f not in FAULTS:
            raise HarnessError(f"--nemesis {f}: unknown fault; choose one of "
                               f"{', '.join(FAULTS)}")
        if f not in out:
            out.append(f)
    if targets not in TARGETS:
        raise HarnessError(f"--nemesis-targets {targets!r}: expected one of {', '.join(TARGETS)}")
    programs = [f for f in out if f in PROGRAMS]
    if programs and len(out) > 1:
        raise HarnessError(f"--nemesis {programs[0]} runs a schedule of its own and cannot be "
                           f"combined with {', '.join(f for f in out if f != programs[0])}"
                           + (" (choose its fault kinds with -O mix=...)"
                              if programs[0] == "mixed" else ""))
    return out


def step_rng(seed: int, i: int) -> random.Random:
    """The random stream of step ``i``: independent of every other step."""
    return random.Random(f"splitbrain-nemesis:{seed}:{i}")


def plan_step(faults: dict[str, Fault], names: list[str], seed: int, i: int) -> dict[str, Any]:
    """Plan step ``i``: which fault, and its choice (targets, grudge ...)."""
    rng = step_rng(seed, i)
    name = rng.choice(list(faults))
    return {"step": i, "fault": name, "choice": faults[name].choose(rng, list(names))}


def plan(faults: list[str], nodes: list[str] | list[Node], seed: int, n: int, *,
         targets: str = "one", options: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The first ``n`` steps of the schedule for ``seed`` (a pure function; for tests/display)."""
    names = [x if isinstance(x, str) else x.name for x in nodes]
    ctx = Context(system=None, nodes=[], targets=targets, options=dict(options or {}))
    checked = check_names(faults, targets)
    if checked and checked[0] in PROGRAMS:
        return make_program(checked[0], ctx, interval=1.0, seed=seed).plan(names, n)
    objs = {f: make_fault(f, ctx) for f in checked}
    return [plan_step(objs, names, seed, i) for i in range(n)]


class Nemesis:
    """Runs the schedule and heals whatever it broke. Thread-safe ``heal``/``current``.

    Several faults may be active at once (the ``mixed`` nemesis and the scenarios of
    :mod:`splitbrain.nemesis.programs` overlap them); the classic schedule keeps one.
    Every active fault is journaled on its own, so each is healed exactly once.
    """

    def __init__(self, faults: dict[str, Fault], ctx: Context, *, interval: float, seed: int,
                 record: Callable[[Op], Op], journal: Journal | None,
                 program: Any = None) -> None:
        self.faults = faults
        self.ctx = ctx
        self.interval = interval
        self.seed = seed
        self.record = record
        self.journal = journal
        self.program = program
        self._lock = threading.RLock()
        self._active: dict[int, tuple[Fault, dict[str, Any], str | None]] = {}
        self._next_key = 0
        self._step = 0

    # -- the schedule -----------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Fault, wait ``interval``, heal, wait ``interval`` ... until ``stop`` is set
        (or the program's own schedule, for ``mixed`` and the scenarios)."""
        if self.program is not None:
            try:
                self.program.run(self, stop)
            finally:
                self.heal()
            return
        if not self.faults:
            stop.wait()
            return
        try:
            while not stop.is_set():
                self.start(plan_step(self.faults, self.ctx.names, self.seed, self._step))
                self._step += 1
                if stop.wait(self.interval):
                    break
                self.heal()
                if stop.wait(self.interval):
                    break
        finally:
            self.heal()

    def start(self, step: dict[str, Any]) -> None:
        """Apply one planned step of the classic schedule (healing every active fault first)."""
        with self._lock:
            self.heal()
            self.apply(self.faults[step["fault"]], step["choice"])

    def resolve(self, fault: Fault, choice: dict[str, Any]) -> dict[str, Any] | None:
        """The fault's exact detail, or None (recorded as a step not applied) if it can't."""
        try:
            return fault.resolve(choice)
        except Exception as e:  # noqa: BLE001 - a step that can't be planned is skipped
            log.warning("nemesis: could not resolve %s: %s", fault.name, e)
            self._op(INVOKE, fault.start_f, choice)
            self._op(INFO, fault.start_f, choice, error=f"not applied: {e}")
            return None

    def apply(self, fault: Fault, choice: dict[str, Any] | None = None, *,
              detail: dict[str, Any] | None = None) -> int | None:
        """Resolve (unless ``detail`` is given), journal, apply and record one fault.

        Returns the key :meth:`heal_fault` takes, or None if nothing was applied.
        A fault whose apply failed part-way stays active so that it is healed.
        """
        with self._lock:
            if detail is None:
                detail = self.resolve(fault, choice or {})
                if detail is None:
                    return None
            f = fault.start_name(detail)
            self._op(INVOKE, f, _public(detail), fault=fault.name)
            fid = self.journal.applying(fault.name, detail) if self.journal else None
            key = self._next_key
            self._next_key += 1
            self._active[key] = (fault, detail, fid)
            try:
                value = fault.apply(detail)
            except Exception as e:  # noqa: BLE001 - recorded; the partial fault is healed later
                log.warning("nemesis: applying %s failed: %s", fault.name, e)
                self._op(INFO, f, _public(detail), fault=fault.name, error=str(e))
                return key
            log.info("nemesis: %s", fault.describe(detail))
            self._op(INFO, f, value, fault=fault.name)
            return key

    def heal(self) -> None:
        """Heal every active fault, newest first (idempotent; safe from any thread).

        Every fault is attempted; the first failure is raised after all were tried.
        """
        with self._lock:
            first: HarnessError | None = None
            for key in sorted(self._active, reverse=True):
                try:
                    self.heal_fault(key)
                except HarnessError as e:
                    first = first or e
            if first is not None:
                raise first

    def heal_fault(self, key: int) -> None:
        """Heal one active fault (no-op if it is not active); retried once, then raised."""
        with self._lock:
            active = self._active.get(key)
            if active is None:
                return
            fault, detail, fid = active
            f = fault.stop_name(detail)
            self._op(INVOKE, f, {"nodes": detail.get("nodes") or sorted(detail.get("grudge", {}))},
                     fault=fault.name)
            err: Exception | None = None
            for _attempt in range(2):
                try:
                    value = fault.heal(detail)
                    break
                except Exception as e:  # noqa: BLE001 - retried once, then reported
                    err = e
            else:
                del self._active[key]
                self._op(INFO, f, None, fault=fault.name, error=f"heal failed: {err}")
                raise HarnessError(f"could not heal {fault.name}: {err}; run `splitbrain "
                                   f"cluster heal` to retry") from err
            del self._active[key]
            if self.journal is not None and fid is not None:
                self.journal.healed(fid)
            log.info("nemesis: healed %s", fault.name)
            self._op(INFO, f, value, fault=fault.name)

    def active(self) -> list[tuple[int, str, dict[str, Any]]]:
        """The active faults as (key, fault name, detail), oldest first."""
        with self._lock:
            return [(k, fault.name, detail) for k, (fault, detail, _fid)
                    in sorted(self._active.items())]

    def current(self) -> str | None:
        """A short description of the active faults, for the live display."""
        active = list(self._active.values())
        if not active:
            return None
        out = []
        for fault, detail, _ in active:
            try:
                out.append(fault.describe(detail))
            except Exception:  # noqa: BLE001 - display only
                out.append(fault.name)
        return "; ".join(out)

    def _op(self, type_: str, f: str, value: Any, *, fault: str | None = None,
            error: str | None = None) -> None:
        op = Op(type=type_, process=NEMESIS, f=f, value=value, error=error,
                extra={"fault": fault} if fault else {})
        try:
            self.record(op)
        except Exception:  # noqa: BLE001 - a closed history must not stop a heal
            log.exception("nemesis: could not record %s", f)


def _public(detail: dict[str, Any]) -> Any:
    """The part of a detail worth recording in the history (addresses are noise)."""
    return {k: v for k, v in detail.items() if k not in ("addresses", "interfaces", "daemon")}


def preflight_faults(faults: list[str], *, system: type[System], n_nodes: int, targets: str,
                     options: dict[str, str], isolated: bool) -> list[str]:
    """Check a test's faults before any node exists: names, targets, options and whether
    the system, node count and backend can take them. Returns the fault names."""
    check_options(options)
    names = check_names([f for f in faults if f.strip() and f.strip() != "none"], targets)
    if "grudge_file" in options and "partition-grudge" not in names:
        raise HarnessError("-O grudge_file is used by --nemesis partition-grudge; add it or "
                           "drop the option")
    ctx = Context(system=None, nodes=[], targets=targets, options=dict(options))
    kinds = list(names)
    if names and names[0] in PROGRAMS:   # a program checks the faults it will use
        kinds = make_program(names[0], ctx, interval=1.0, seed=0).fault_names()
    for n in kinds:
        make_fault(n, ctx).check_plan(system, n_nodes, isolated)   # also parses its options
    return names


def build_nemesis(faults: list[str], *, system: System, nodes: list[Node], interval: float,
                  targets: str, seed: int, record: Callable[[Op], Op], journal_path: Path,
                  options: dict[str, str] | None = None) -> Nemesis:
    """A nemesis for ``faults`` on ``nodes``; refuses impossible combinations with one line."""
    opts = dict(options or {})
    names = check_names([f for f in faults if f.strip() and f.strip() != "none"], targets)
    if interval <= 0:
        raise HarnessError(f"--nemesis-interval must be positive, got {interval}")
    if "grudge_file" in opts and "partition-grudge" not in names:
        raise HarnessError("grudge_file is used by --nemesis partition-grudge; add it or drop "
                           "the option")
    if "mix" in opts and "mixed" not in names:
        raise HarnessError("mix is used by --nemesis mixed; add it or drop the option")
    ctx = Context(system=system, nodes=list(nodes), targets=targets, options=opts)
    program = None
    if names and names[0] in PROGRAMS:
        program = make_program(names[0], ctx, interval=interval, seed=int(seed or 0))
        program.check()
        names = program.fault_names()
    objs = {n: make_fault(n, ctx) for n in names}
    for obj in objs.values():
        obj.check()
    for obj in objs.values():
        obj.prepare()
    header = {"backend": opts.get("backend") or backend_of(nodes),
              "test": opts.get("test") or getattr(system, "test_name", "test"),
              "system": getattr(system, "name", None),
              "daemon": getattr(system, "daemon", None),
              "nodes": {n.name: n.address for n in nodes}}
    journal = Journal(Path(journal_path), header) if objs else None
    return Nemesis(objs, ctx, interval=interval, seed=int(seed or 0), record=record,
                   journal=journal, program=program)


def backend_of(nodes: list[Node]) -> str:
    """The backend a node came from (docker, netns, ssh, local), as the node class says."""
    if not nodes:
        return "none"
    return getattr(nodes[0], "backend", None) or type(nodes[0]).__module__.rsplit(".", 1)[-1]

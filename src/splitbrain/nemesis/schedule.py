"""The nemesis schedule: fault, wait, heal, wait ... reproducible from the seed.

Step ``i`` is planned from ``random.Random(f"splitbrain-nemesis:{seed}:{i}")`` and
the node names alone, so the same seed gives the same faults, targets and order
whatever the timing; only leader-based targets depend on the live cluster.
Every fault and heal becomes an ``invoke`` + ``info`` op pair of process
``nemesis``, and is journaled before it is applied so a killed run can be healed.
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
from splitbrain.nemesis.journal import Journal
from splitbrain.registry import Entry, Registry

log = logging.getLogger("splitbrain.nemesis")

_PARTITION = "splitbrain.nemesis.partition:Partition"

#: every ``--nemesis`` value: its Fault class and a line of help
FAULT_REGISTRY: Registry[Fault] = Registry("fault", {
    "partition": Entry(_PARTITION, "a random partition kind each time (one, halves, leader, "
                                   "ring, bridge)"),
    "partition-one": Entry(_PARTITION, "isolate one random node from the rest"),
    "partition-halves": Entry(_PARTITION, "split the nodes into a random minority and majority"),
    "partition-leader": Entry(_PARTITION, "isolate the current leader"),
    "partition-ring": Entry(_PARTITION, "majorities ring: every node sees a majority, no two "
                                        "the same"),
    "partition-bridge": Entry(_PARTITION, "two halves joined only through one bridge node"),
    "partition-grudge": Entry(_PARTITION, "an explicit grudge from the TOML file given as "
                                          "grudge_file=PATH"),
    "kill": Entry("splitbrain.nemesis.process:Kill",
                  "SIGKILL the daemon on the targets, restart it at heal"),
    "pause": Entry("splitbrain.nemesis.process:Pause",
                   "SIGSTOP the daemon on the targets, SIGCONT at heal"),
    "packet-loss": Entry("splitbrain.nemesis.packet:PacketLoss",
                         "the targets drop a share (loss=0.2) of the packets from other nodes"),
    "netem": Entry("splitbrain.nemesis.packet:Netem",
                   "delay, duplicate and reorder the targets' packets (kernels with sch_netem)"),
    "clock": Entry("splitbrain.nemesis.clock:Clock",
                   "bump or strobe the targets' wall clock with libfaketime"),
    "member": Entry("splitbrain.nemesis.membership:Member",
                    "remove a node from the cluster, wipe it, add it back at heal"),
}, base=Fault, plugins=False, flag="--nemesis")

#: every ``--nemesis`` value, with a line of help
FAULTS: dict[str, str] = {name: e.help for name, e in FAULT_REGISTRY.entries.items()}

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
}


def check_options(options: dict[str, str]) -> None:
    """Refuse unknown nemesis option keys (for a dedicated ``--nemesis-option`` flag)."""
    for k in options:
        if k not in NEMESIS_OPTIONS:
            raise HarnessError(f"-O {k}: unknown nemesis option {k!r} (known: "
                               f"{', '.join(sorted(NEMESIS_OPTIONS))})")


def make_fault(name: str, ctx: Context) -> Fault:
    """The Fault object for a ``--nemesis`` value."""
    return FAULT_REGISTRY.load(name)(ctx, name)


def check_names(faults: list[str], targets: str) -> list[str]:
    """Validate fault names and targets; returns the faults without duplicates, in order."""
    out: list[str] = []
    for f in faults:
        f = f.strip()
        FAULT_REGISTRY.check(f)
        if f not in out:
            out.append(f)
    if targets not in TARGETS:
        raise HarnessError(f"--nemesis-targets {targets!r}: expected one of {', '.join(TARGETS)}")
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
    objs = {f: make_fault(f, ctx) for f in check_names(faults, targets)}
    return [plan_step(objs, names, seed, i) for i in range(n)]


class Nemesis:
    """Runs the schedule and heals whatever it broke. Thread-safe ``heal``/``current``."""

    def __init__(self, faults: dict[str, Fault], ctx: Context, *, interval: float, seed: int,
                 record: Callable[[Op], Op], journal: Journal | None) -> None:
        self.faults = faults
        self.ctx = ctx
        self.interval = interval
        self.seed = seed
        self.record = record
        self.journal = journal
        self._lock = threading.RLock()
        self._active: tuple[Fault, dict[str, Any], str | None] | None = None
        self._step = 0

    # -- the schedule -----------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Fault, wait ``interval``, heal, wait ``interval`` ... until ``stop`` is set."""
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
        """Apply one planned step (healing any active fault first)."""
        with self._lock:
            self.heal()
            fault = self.faults[step["fault"]]
            try:
                detail = fault.resolve(step["choice"])
            except Exception as e:  # noqa: BLE001 - a step that can't be planned is skipped
                log.warning("nemesis: could not resolve %s: %s", fault.name, e)
                f = fault.start_f
                self._op(INVOKE, f, step["choice"])
                self._op(INFO, f, step["choice"], error=f"not applied: {e}")
                return
            f = fault.start_name(detail)
            self._op(INVOKE, f, _public(detail), fault=fault.name)
            fid = self.journal.applying(fault.name, detail) if self.journal else None
            self._active = (fault, detail, fid)
            try:
                value = fault.apply(detail)
            except Exception as e:  # noqa: BLE001 - recorded; the partial fault is healed later
                log.warning("nemesis: applying %s failed: %s", fault.name, e)
                self._op(INFO, f, _public(detail), fault=fault.name, error=str(e))
                return
            log.info("nemesis: %s", fault.describe(detail))
            self._op(INFO, f, value, fault=fault.name)

    def heal(self) -> None:
        """Heal the active fault, if any (idempotent; safe from any thread)."""
        with self._lock:
            if self._active is None:
                return
            fault, detail, fid = self._active
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
                self._active = None
                self._op(INFO, f, None, fault=fault.name, error=f"heal failed: {err}")
                raise HarnessError(f"could not heal {fault.name}: {err}; run `splitbrain "
                                   f"cluster heal` to retry") from err
            self._active = None
            if self.journal is not None and fid is not None:
                self.journal.healed(fid)
            log.info("nemesis: healed %s", fault.name)
            self._op(INFO, f, value, fault=fault.name)

    def current(self) -> str | None:
        """A short description of the active fault, for the live display."""
        active = self._active
        if active is None:
            return None
        fault, detail, _ = active
        try:
            return fault.describe(detail)
        except Exception:  # noqa: BLE001 - display only
            return fault.name

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
    for n in names:
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
    ctx = Context(system=system, nodes=list(nodes), targets=targets, options=opts)
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
                   journal=journal)


def backend_of(nodes: list[Node]) -> str:
    """The backend a node came from (docker, netns, ssh, local), as the node class says."""
    if not nodes:
        return "none"
    return getattr(nodes[0], "backend", None) or type(nodes[0]).__module__.rsplit(".", 1)[-1]

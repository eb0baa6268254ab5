"""The runner: one test end to end, as nested resource scopes.

Preflight (every input check, before anything exists) -> run directory -> nodes ->
system -> clients -> workers + nemesis through the phases: main (clients and
nemesis until the time limit) -> heal -> recovery wait -> final (e.g. final reads).
The scopes sit in one ``contextlib.ExitStack``, so whatever happens — a phase that
raises, Ctrl-C, SIGTERM — they are undone in reverse order: stop issuing ops, stop
the nemesis, heal, wait for in-flight ops, close the clients, collect logs, stop the
daemons, destroy the nodes. Then the checkers judge the recorded history, and the
report is written. Harness failures give exit code 3 with the history kept.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbrain import __version__
from splitbrain.checker.base import merged, run_checkers
from splitbrain.checker.counterexample import explain
from splitbrain.clusters.backends import backend_class
from splitbrain.clusters.node import Backend, Node
from splitbrain.clusters.ownership import Claim
from splitbrain.clusters.system import Client, System
from splitbrain.clusters.systems import SYSTEMS
from splitbrain.errors import HarnessError
from splitbrain.harness.claims import new_claim
from splitbrain.harness.cluster import make_backend, node_scope, resolve_backend, system_scope
from splitbrain.harness.locks import lock_test_name
from splitbrain.harness.progress import Progress
from splitbrain.harness.spec import TestSpec
from splitbrain.harness.workers import PhaseRunner
from splitbrain.history import store
from splitbrain.history.ops import NEMESIS, op_counts
from splitbrain.history.writer import HistoryWriter
from splitbrain.nemesis.schedule import Nemesis, build_nemesis, preflight_faults
from splitbrain.verdict import ERROR, Verdict, exit_code, word
from splitbrain.workloads import get_workload
from splitbrain.workloads.base import Workload, WorkloadConfig
from splitbrain.workloads.generator import Limit

log = logging.getLogger("splitbrain.runner")

Display = Callable[[Progress], Any]


@dataclass(repr=False)
class RunResult:
    """What a run produced: the verdict, where it is stored, and the results.

    Its repr is the verdict, the checkers' one-line reason and the report's path, so
    ``assert result.valid`` in pytest says why a run failed and where to look;
    :meth:`assert_valid` raises with the same text.
    """

    valid: Verdict
    run_dir: Path | None
    results: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 3
    error: str | None = None

    @property
    def report(self) -> Path | None:
        """The run's report.html (None if the run never got a directory)."""
        return None if self.run_dir is None else Path(self.run_dir) / store.REPORT

    def reason(self) -> str:
        """Why the run is not valid, in one line (the harness error or the checkers')."""
        if self.error:
            return f"the harness failed: {self.error}"
        from splitbrain.reports.html import anomaly_summary

        try:
            return anomaly_summary(self.results) if self.results else ""
        except Exception:  # noqa: BLE001 - a summary must never hide the verdict
            return ""

    def __repr__(self) -> str:
        parts = [word(self.valid).upper()]
        if self.valid is not True:
            why = self.reason()
            if why:
                parts.append(why if len(why) <= 400 else why[:400] + "...")
        if self.report is not None:
            parts.append(f"report: {self.report}")
        return f"RunResult({'; '.join(parts)})"

    def assert_valid(self) -> None:
        """Raise AssertionError naming the verdict, the reason and the report unless valid."""
        if self.valid is not True:
            raise AssertionError(f"splitbrain run is {word(self.valid)}: {self.reason()}\n"
                                 f"report: {self.report}")


@dataclass
class Plan:
    """A test checked and resolved before anything is created."""

    spec: TestSpec
    system: type[System]
    system_options: dict[str, Any]
    workload: Workload
    backend: str
    faults: list[str]


def make_workload(spec: TestSpec) -> Workload:
    """The spec's workload, configured (unknown names and bad options: one line)."""
    cls = get_workload(spec.workload)
    cfg = WorkloadConfig(concurrency=spec.concurrency, seed=spec.seed or 0,
                         ops_per_key=spec.ops_per_key, options=dict(spec.workload_options),
                         checker_time_limit=spec.checker_time_limit)
    return cls(cfg)


def preflight(spec: TestSpec) -> Plan:
    """Check everything that can be checked before a node exists, with one line each:
    the system and its options, the workload and its options, that the system's client
    offers what the workload needs, the backend, and the faults (names, options, and
    whether this system, node count and backend can take them)."""
    sys_cls = SYSTEMS.load(spec.system)
    opts = sys_cls.parse_options(spec.options)
    workload = make_workload(spec)
    caps = sys_cls.capabilities
    if caps is not None and not workload.requires <= caps:
        missing = ", ".join(sorted(workload.requires - caps))
        raise HarnessError(f"--workload {spec.workload}: needs {missing}, which system "
                           f"{sys_cls.name!r} does not offer (it offers: "
                           f"{', '.join(sorted(caps)) or 'nothing'})")
    backend = resolve_backend(spec.backend)
    isolated = backend_class(backend).isolated_network
    faults = preflight_faults(list(spec.nemesis), system=sys_cls, n_nodes=spec.nodes,
                              targets=spec.nemesis_targets,
                              options=dict(spec.nemesis_options), isolated=isolated)
    return Plan(spec, sys_cls, opts, workload, backend, faults)


def run_test(spec: TestSpec, *, display: Display | None = None, report: bool = True,
             backend: Backend | None = None) -> RunResult:
    """Run one test end to end and store it; never raises for the test's own failures.

    Bad input raises :class:`HarnessError` before anything is created or recorded.
    ``display`` (optional) is called with the :class:`Progress` several times a second
    from the main thread while clients run. ``backend`` replaces the spec's backend
    (tests use a fake one). Harness failures after the run began come back as a
    RunResult with exit code 3 and ``error`` set, after cleanup.
    """
    spec = spec.resolved()
    plan = preflight(spec)
    requested = spec.backend
    spec = dataclasses.replace(spec, backend=backend.name if backend else plan.backend)
    plan.spec = spec
    # made before the run directory: its own checks (an ssh key that is missing, ...)
    # are input errors too
    be = backend or make_backend(spec)
    with lock_test_name(spec.name or "test"):
        claim = new_claim(be, store.safe_name(spec.name or "test"), spec.store,
                          system=spec.system, options=spec.options)
        return _Run(plan, display, report, be, requested, claim).execute()


class _Run:
    """One run's state; :meth:`execute` is the whole life of the run."""

    def __init__(self, plan: Plan, display: Display | None, report: bool,
                 backend: Backend, requested_backend: str, claim: Claim) -> None:
        self.plan, self.spec = plan, plan.spec
        self.display, self.report = display, report
        self.backend = backend
        self.requested_backend = requested_backend
        self.claim = claim
        self.progress = Progress(self.spec.time_limit, recovery_time=self.spec.recovery_time,
                                 final_time_limit=self.spec.final_time_limit)
        self.failed = False
        self.cluster = store.safe_name(self.spec.name or "test")

    # -- the whole run ----------------------------------------------------------------
    def execute(self) -> RunResult:
        spec = self.spec
        run_dir = store.new_run_dir(spec.store, spec.name or "test")
        self.claim.run_dir = str(run_dir.resolve())
        self.claim.journal = str((run_dir / store.JOURNAL).resolve())
        test_json = spec.to_dict() | {"splitbrain_version": __version__}
        if self.requested_backend != spec.backend:
            test_json["backend_requested"] = self.requested_backend
        store.write_json(run_dir / store.TEST, test_json)
        handler = store.attach_log(run_dir)
        log.info("run %s: %s", run_dir, spec.to_json().replace("\n", " "))
        writer = HistoryWriter(run_dir / store.HISTORY)
        error: str | None = None
        restore_signals = _install_interrupts()
        restore_shield: Callable[[], None] | None = None
        try:
            try:
                with ExitStack() as stack:
                    try:
                        self._phases(stack, writer, run_dir)
                    except BaseException:
                        self.failed = True
                        raise
                    finally:  # the scopes unwind next, and nothing may interrupt that
                        self.progress.enter("teardown")
                        restore_shield = _shielded()
            finally:
                if restore_shield is not None:
                    restore_shield()
                writer.close()
        except KeyboardInterrupt:
            error = "interrupted: stopped the workers, healed the cluster and kept the history"
        except HarnessError as e:
            error = str(e)
        except Exception as e:  # noqa: BLE001 - any bug must still heal and tear down
            log.exception("harness failure")
            error = f"harness failure: {type(e).__name__}: {e}"
        finally:
            restore_signals()
        ops = list(writer.ops)
        if error is not None:
            log.error("%s", error)
            results = {"valid": ERROR, "test": spec.name, "error": error, "stats": stats(ops),
                       "checkers": {}}
        else:
            results = self._check(ops, run_dir)
        store.write_json(run_dir / store.RESULTS, results)
        self.progress.enter("report")
        _write_report(run_dir, self.report)
        self.progress.enter("done")
        store.detach_log(handler)
        if error is not None:
            return RunResult(ERROR, run_dir, results, 3, error)
        return RunResult(results["valid"], run_dir, results, exit_code(results["valid"]))

    # -- the scopes and phases ------------------------------------------------------------
    def _phases(self, stack: ExitStack, writer: HistoryWriter, run_dir: Path) -> None:
        spec, plan, progress = self.spec, self.plan, self.progress
        backend = self.backend
        progress.enter("cluster up")
        for i in range(spec.nodes):
            progress.node(f"n{i + 1}", "creating")
        if self.display:
            self.display(progress)
        log.info("creating %d nodes on %s", spec.nodes, backend.name)
        keep = spec.leave_db_running
        nodes = stack.enter_context(node_scope(backend, self.cluster, spec.nodes, keep=keep,
                                               progress=progress.node, claim=self.claim))
        system = plan.system(nodes, plan.system_options, self.cluster)
        stack.enter_context(system_scope(system, keep=keep, logs_to=run_dir,
                                         progress=progress.node))
        log.info("cluster healthy: %s", ", ".join(f"{n.name}={n.address}" for n in nodes))

        clients = stack.enter_context(_client_scope(system))
        pool = [clients(nodes[w % len(nodes)]) for w in range(spec.concurrency)]
        missing = plan.workload.requires - pool[0].capabilities
        if missing:  # systems that do not declare their capabilities are checked here
            raise HarnessError(f"--workload {spec.workload}: needs "
                               f"{', '.join(sorted(missing))}, which system "
                               f"{plan.system.name!r} does not offer")

        phase = PhaseRunner(writer=writer, workload=plan.workload, clients=pool, nodes=nodes,
                            processes=list(range(spec.concurrency)),
                            concurrency=spec.concurrency, rate=spec.rate, seed=spec.seed or 0,
                            progress=progress, client_factory=clients)
        stack.callback(lambda: phase.halt(grace=5.0 if self.failed else 15.0))
        nemesis = self._nemesis(system, nodes, writer, run_dir)
        if nemesis is not None:
            stack.callback(self._heal, nemesis)
            progress.nemesis = nemesis
        stop_nemesis = stack.enter_context(_nemesis_thread(nemesis))
        stack.callback(phase.stop.set)   # runs first: no new ops while cleaning up

        # the final phase is built after the main one, from the keys it used (register's
        # final reads read back every key it touched: asked now, it has none)
        if type(plan.workload).final_generator is Workload.final_generator:
            progress.final_time_limit = 0.0   # the ETA counts only phases that will run

        # main phase: clients and nemesis until the time limit
        progress.enter("main", spec.time_limit)
        gen = plan.workload.generator()
        if spec.op_limit:
            gen = Limit(spec.op_limit, gen)
        phase.start(gen, spec.time_limit)
        stop_nemesis.start()
        self._wait(phase, spec.time_limit)
        phase.halt()
        stop_nemesis.stop()
        writer.flush()

        # heal, then let the cluster recover
        progress.enter("heal")
        if nemesis is not None:
            self._heal(nemesis)
        writer.flush()
        progress.enter("recovery", spec.recovery_time)
        self._sleep(spec.recovery_time)

        # final phase (e.g. final reads)
        final = plan.workload.final_generator()
        if final is not None:
            progress.enter("final", spec.final_time_limit)
            phase.start(final, spec.final_time_limit, rate=0)
            self._wait(phase, spec.final_time_limit)
            phase.halt()
        writer.flush()

    def _nemesis(self, system: System, nodes: list[Node], writer: HistoryWriter,
                 run_dir: Path) -> Nemesis | None:
        spec = self.spec
        if not self.plan.faults:
            return None
        nemesis = build_nemesis(list(self.plan.faults), system=system, nodes=nodes,
                                interval=spec.nemesis_interval, targets=spec.nemesis_targets,
                                seed=spec.seed or 0, record=writer.record,
                                journal_path=run_dir / store.JOURNAL,
                                options=dict(spec.nemesis_options)
                                | {"backend": self.backend.name, "test": self.cluster})
        args = self.backend.backend_args()
        if args and nemesis.journal is not None:
            # ssh: the hosts and credentials reference (paths, never secrets) go in every
            # entry too; recovery itself takes them from the run's claim, never a store
            nemesis.journal.header["backend_args"] = args
        return nemesis

    @staticmethod
    def _heal(nemesis: Nemesis) -> None:
        try:
            nemesis.heal()
        except Exception:  # noqa: BLE001 - logged; the journal keeps what stays broken
            log.exception("heal failed")

    def _check(self, ops: list[Any], run_dir: Path) -> dict[str, Any]:
        spec, progress = self.spec, self.progress
        progress.enter("check", spec.checker_time_limit)
        checkers = self.plan.workload.checkers()
        for ch in checkers:
            progress.check(ch.name, "waiting")
        typed = run_checkers(checkers, ops, time_limit=spec.checker_time_limit,
                             on_result=lambda name, r: progress.check(name, r.summary()),
                             on_start=lambda name: progress.check(name, "running"))
        explain(typed, ops)  # a minimal counterexample for each invalid key
        for name, r in typed.items():
            progress.check(name, r.summary())
        return {"valid": merged(typed), "test": spec.name, "run_dir": str(run_dir),
                "elapsed_s": round(progress.elapsed(), 3),
                "checkers": {name: r.to_json() for name, r in typed.items()},
                "stats": stats(ops), "model": self.plan.workload.model()}

    def _wait(self, phase: PhaseRunner, limit: float) -> None:
        end = time.monotonic() + limit
        while True:
            if self.display:
                self.display(self.progress)
            if not phase.alive() or time.monotonic() >= end + 1:
                return
            time.sleep(0.1)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))
            if self.display:
                self.display(self.progress)


@contextmanager
def _client_scope(system: System) -> Iterator[Callable[[Node], Client]]:
    """Open clients on demand; close every one of them on exit."""
    opened: list[Client] = []

    def open_client(node: Node) -> Client:
        c = system.client(node)
        opened.append(c)
        return c

    try:
        yield open_client
    finally:
        for c in opened:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass


class _NemesisThread:
    """Runs the nemesis schedule in a thread; ``stop`` ends it (idempotent)."""

    def __init__(self, nemesis: Nemesis | None) -> None:
        self.nemesis = nemesis
        self.event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.nemesis is None:
            return
        self.thread = threading.Thread(target=self._loop, name="nemesis", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        try:
            assert self.nemesis is not None
            self.nemesis.run(self.event)
        except Exception:  # noqa: BLE001 - logged; the faults are healed at the end anyway
            log.exception("nemesis failed; faults will be healed at the end of the phase")

    def stop(self) -> None:
        self.event.set()
        if self.thread is not None:
            self.thread.join(timeout=30)


@contextmanager
def _nemesis_thread(nemesis: Nemesis | None) -> Iterator[_NemesisThread]:
    t = _NemesisThread(nemesis)
    try:
        yield t
    finally:
        t.stop()


def stats(ops: list[Any]) -> dict[str, Any]:
    """Op counts for results.json: client ops, events, per-f outcomes, nemesis ops."""
    client = [op for op in ops if op.process != NEMESIS]
    by_f = {f: {k: c[k] for k in ("ok", "fail", "info")}
            for f, c in op_counts(client).items()}
    return {"ops": sum(1 for o in client if o.type == "invoke"), "events": len(ops),
            "by_f": by_f,
            "nemesis_ops": sum(1 for o in ops if o.process == NEMESIS and o.type == "invoke")}


def _install_interrupts() -> Callable[[], None]:
    """Turn SIGTERM into KeyboardInterrupt while the run is going; return a restorer."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    return lambda: signal.signal(signal.SIGTERM, old)


def _shielded() -> Callable[[], None]:
    """Ignore further Ctrl-C / SIGTERM while cleaning up, so cleanup always completes;
    returns the restorer (the last thing the cleanup runs)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def restore() -> None:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    return restore


def _write_report(run_dir: Path, enabled: bool) -> None:
    if not enabled:
        return
    from splitbrain.reports.html import write_report

    try:
        write_report(run_dir)
    except Exception:  # noqa: BLE001 - a report bug must not lose the verdict
        log.exception("could not write the HTML report")

"""The runner: cluster up, workers + nemesis through the phases, heal, check, report.

Phases: main (clients + nemesis, until the time limit) -> heal -> recovery wait
-> final (e.g. final reads) -> checks -> report -> teardown. On Ctrl-C or an
exception anywhere: stop the workers, heal, keep everything recorded, tear
down (unless ``leave_db_running``), and report exit code 3.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbrain import __version__
from splitbrain.checker.compose import exit_code, merge_valid
from splitbrain.clusters.node import Backend, HarnessError, Node
from splitbrain.clusters.system import Client, ClientError, System
from splitbrain.harness import store
from splitbrain.harness.generator import Context, Generator
from splitbrain.harness.history import FAIL, INFO, INVOKE, NEMESIS, OK, HistoryWriter, Op
from splitbrain.workloads.base import Workload, WorkloadConfig

log = logging.getLogger("splitbrain.runner")


class Interrupted(HarnessError):
    """The run was interrupted (Ctrl-C / SIGTERM)."""


@dataclass
class RunResult:
    """What a run produced: the verdict, where it is stored, and the results."""

    valid: Any
    run_dir: Path | None
    results: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 3
    error: str | None = None


class Progress:
    """Counters the live display reads: ops per (f, type), the phase, the current fault."""

    def __init__(self, time_limit: float) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.phase = "setup"
        self.time_limit = time_limit
        self.started: float | None = None
        self.nemesis: Any = None

    def current_fault(self) -> str | None:
        """The nemesis's description of the active fault, if any."""
        if self.nemesis is None:
            return None
        try:
            return self.nemesis.current()
        except Exception:  # noqa: BLE001 - display only
            return None

    def elapsed(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started


def resolve_backend(name: str) -> str:
    """``auto``: docker where reachable, netns as root, else local."""
    if name != "auto":
        return name
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return "docker"
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        pass
    import os

    return "netns" if os.geteuid() == 0 else "local"


def make_backend(spec: Any) -> Backend:
    """Instantiate the spec's backend through the backend registry."""
    name = resolve_backend(spec.backend)
    if name == "local":
        from splitbrain.clusters.backends.local import LocalBackend

        return LocalBackend()
    try:
        from splitbrain.clusters.backends import get_backend
    except ImportError as e:
        raise HarnessError(f"backend {name!r} is not available in this build ({e})") from None
    kwargs: dict[str, Any] = {}
    if name == "ssh":
        kwargs = {"hosts": spec.hosts, **spec.ssh}
    return get_backend(name, **kwargs)


def make_workload(spec: Any) -> Workload:
    if ":" in spec.workload:
        from splitbrain.clusters.systems import load_class

        cls = load_class(spec.workload, "workload")
    else:
        from splitbrain.workloads import get_workload

        cls = get_workload(spec.workload)
    cfg = WorkloadConfig(concurrency=spec.concurrency, seed=spec.seed,
                         ops_per_key=spec.ops_per_key, options=dict(spec.workload_options),
                         checker_time_limit=spec.checker_time_limit)
    return cls(cfg)


class Worker(threading.Thread):
    """One logical client thread: asks the generator, invokes, records the completion."""

    def __init__(self, runner: PhaseRunner, worker: int, client: Client, node: Node) -> None:
        super().__init__(name=f"worker-{worker}", daemon=True)
        self.r, self.worker, self.client, self.node = runner, worker, client, node
        self.process = runner.processes[worker]
        self.rng = random.Random(runner.seed * 1000003 + worker)

    def run(self) -> None:  # noqa: C901 - the hot loop is kept in one place on purpose
        r = self.r
        ctx = Context(worker=self.worker, process=self.process, concurrency=r.concurrency,
                      rng=self.rng)
        record, now = r.writer.record, r.writer.now
        stagger = 2.0 * r.concurrency / r.rate if r.rate > 0 else 0.0
        stop, deadline = r.stop, r.deadline
        node_name = self.node.name
        apply = r.workload.apply
        counts = r.progress.counts
        closing = False
        while True:
            if not closing:
                if stop.is_set():
                    closing = True
                elif stagger and stop.wait(self.rng.uniform(0, stagger)):
                    closing = True
                elif deadline is not None and time.monotonic() >= deadline:
                    closing = True
            ctx.process = self.process
            with r.gen_lock:
                # once the phase is over, a worker still does its closing op (e.g. a
                # release of a lock it holds), so nothing it started outlives the phase
                spec = r.gen.closing(ctx) if closing else r.gen.next(ctx)
            if spec is None:
                if closing:
                    break
                closing = True
                continue
            record(Op(INVOKE, self.process, spec.f, spec.value, spec.key, node=node_name))
            err = None
            try:
                typ, value = apply(self.client, spec)
            except ClientError as e:
                typ, value, err = (FAIL if e.definite else INFO), spec.value, str(e)
            except Exception as e:  # noqa: BLE001 - unknown outcome: recorded as info
                typ, value, err = INFO, spec.value, f"{type(e).__name__}: {e}"
            done = Op(typ, self.process, spec.f, value, spec.key, time=now(), node=node_name,
                      error=err)
            record(done)
            counts[(spec.f, typ)] += 1
            if typ == INFO:
                self.process += r.concurrency  # a crashed process never invokes again
            if closing:
                break
        r.processes[self.worker] = self.process


class PhaseRunner:
    """Runs one generator with ``concurrency`` workers until it is exhausted,
    the deadline passes or ``stop`` is set."""

    def __init__(self, *, writer: HistoryWriter, workload: Workload, clients: list[Client],
                 nodes: list[Node], processes: list[int], concurrency: int, rate: float,
                 seed: int, progress: Progress,
                 client_factory: Callable[[Node], Client] | None = None) -> None:
        self.writer, self.workload, self.clients = writer, workload, clients
        self.client_factory = client_factory
        self.nodes, self.processes = nodes, processes
        self.concurrency, self.rate, self.seed = concurrency, rate, seed
        self.progress = progress
        self.gen_lock = threading.Lock()
        self.stop = threading.Event()
        self.gen: Generator | None = None
        self.deadline: float | None = None
        self.threads: list[Worker] = []

    def start(self, gen: Generator, duration: float | None, rate: float | None = None) -> None:
        self.gen, self.stop = gen, threading.Event()
        self.deadline = time.monotonic() + duration if duration else None
        if rate is not None:
            self.rate = rate
        old = {t.worker: t for t in self.threads}
        self.threads = []
        for w in range(self.concurrency):
            prev = old.get(w)
            if prev is not None and prev.is_alive():
                # Still blocked in an op of the last phase: that op stays open (an
                # unknown outcome), so this worker continues as a new process on a
                # new client rather than sharing the blocked one.
                self.processes[w] = prev.process + self.concurrency
                if self.client_factory is not None:
                    self.clients[w] = self.client_factory(self.nodes[w % len(self.nodes)])
            self.threads.append(Worker(self, w, self.clients[w], self.nodes[w % len(self.nodes)]))
        for t in self.threads:
            t.start()

    def alive(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def halt(self, grace: float = 15.0) -> None:
        """Stop the workers; wait up to ``grace`` s for in-flight ops to complete.

        Ops still in flight after that stay open in the history: the checkers
        treat an invocation never completed as ``info``.
        """
        self.stop.set()
        end = time.monotonic() + grace
        for t in self.threads:
            t.join(timeout=max(0.0, end - time.monotonic()))
        stuck = [t.name for t in self.threads if t.is_alive()]
        if stuck:
            log.warning("workers still blocked after %.0fs: %s", grace, ", ".join(stuck))


def _stats(ops: list[Op]) -> dict[str, Any]:
    by_f: dict[str, dict[str, int]] = {}
    for op in ops:
        if op.process == NEMESIS or op.type == INVOKE:
            continue
        d = by_f.setdefault(op.f, {OK: 0, FAIL: 0, INFO: 0})
        d[op.type] = d.get(op.type, 0) + 1
    n_client = sum(1 for o in ops if o.process != NEMESIS and o.type == INVOKE)
    return {"ops": n_client, "events": len(ops), "by_f": by_f,
            "nemesis_ops": sum(1 for o in ops if o.process == NEMESIS and o.type == INVOKE)}


def _install_interrupts() -> Callable[[], None]:
    """Turn SIGTERM into KeyboardInterrupt while the run is going; return a restorer."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    return lambda: signal.signal(signal.SIGTERM, old)


def _shielded() -> Callable[[], None]:
    """Ignore further Ctrl-C / SIGTERM while cleaning up, so cleanup always completes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def restore() -> None:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    return restore


def run_test(spec: Any, *, display: Any = None, report: bool = True) -> RunResult:
    """Run one test end to end and store it; never raises for the test's own failures.

    ``display`` (optional) is called with the :class:`Progress` several times a
    second from the main thread (the CLI's live view). Harness failures come
    back as a RunResult with exit code 3 and ``error`` set, after cleanup.
    """
    spec = spec.resolved()
    preflight(spec)
    name_lock = store.lock_test_name(spec.name)
    try:
        return _run_locked(spec, display, report)
    finally:
        name_lock.close()


def _run_locked(spec: Any, display: Any, report: bool) -> RunResult:
    """run_test's body, with the test name held (see store.lock_test_name)."""
    run_dir = store.new_run_dir(spec.store, spec.name)
    test_json = spec.to_dict() | {"splitbrain_version": __version__}
    store.write_json(run_dir / store.TEST, test_json)
    handler = store.attach_log(run_dir)
    log.info("run %s: %s", run_dir, spec.to_json().replace("\n", " "))
    progress = Progress(spec.time_limit)
    writer = HistoryWriter(run_dir / store.HISTORY)
    state: dict[str, Any] = {}
    restore_signals = _install_interrupts()
    error: str | None = None
    results: dict[str, Any] = {}
    try:
        results = _run(spec, run_dir, writer, progress, state, display)
    except KeyboardInterrupt:
        error = "interrupted: stopped the workers, healed the cluster and kept the history"
    except HarnessError as e:
        error = str(e)
    except Exception as e:  # noqa: BLE001 - any bug must still heal and tear down
        log.exception("harness failure")
        error = f"harness failure: {type(e).__name__}: {e}"
    finally:
        restore_shield = _shielded()
        try:
            progress.phase = "teardown"
            _cleanup(spec, run_dir, writer, state, error is not None)
        finally:
            restore_shield()
            restore_signals()
    if error is not None:
        log.error("%s", error)
        results = {"valid": "unknown", "test": spec.name, "error": error,
                   "stats": _stats(writer.ops), "checkers": results.get("checkers", {})}
        store.write_json(run_dir / store.RESULTS, results)
        _write_report(run_dir, report)
        store.detach_log(handler)
        return RunResult("unknown", run_dir, results, 3, error)
    _write_report(run_dir, report)
    store.detach_log(handler)
    return RunResult(results["valid"], run_dir, results, exit_code(results["valid"]))


def _write_report(run_dir: Path, enabled: bool) -> None:
    if not enabled:
        return
    try:
        from splitbrain.reports.html import write_report
    except ImportError:
        return
    try:
        write_report(run_dir)
    except Exception:  # noqa: BLE001 - a report bug must not lose the verdict
        log.exception("could not write the HTML report")


def preflight(spec: Any) -> tuple[type[System], dict[str, Any], Workload]:
    """Resolve the system, its options and the workload; raise HarnessError on bad
    input before anything is created or recorded."""
    from splitbrain.clusters.systems import get_system

    sys_cls = get_system(spec.system)
    opts = sys_cls.parse_options(spec.options)
    workload = make_workload(spec)
    caps = getattr(sys_cls, "capabilities", None)
    if isinstance(caps, frozenset) and not workload.requires <= caps:
        missing = ", ".join(sorted(workload.requires - caps))
        raise HarnessError(f"system {sys_cls.name!r} lacks {missing}, needed by workload "
                           f"{spec.workload!r}")
    if spec.nemesis_options:
        from splitbrain.nemesis import check_options

        check_options(spec.nemesis_options)
    return sys_cls, opts, workload


def _run(spec: Any, run_dir: Path, writer: HistoryWriter, progress: Progress,
         state: dict[str, Any], display: Any) -> dict[str, Any]:
    sys_cls, opts, workload = preflight(spec)
    backend = make_backend(spec)
    state["backend"] = backend
    progress.phase = "cluster up"
    log.info("creating %d nodes on %s", spec.nodes, backend.name)
    nodes = backend.create(safe_test_name(spec), len(spec.hosts) or spec.nodes)
    state["nodes"] = nodes
    system: System = sys_cls(nodes, opts, safe_test_name(spec))
    state["system"] = system
    system.setup()
    log.info("cluster healthy: %s", ", ".join(f"{n.name}={n.address}" for n in nodes))

    opened: list[Client] = []
    state["clients"] = opened

    def open_client(node: Node) -> Client:
        c = system.client(node)
        opened.append(c)
        return c

    clients = [open_client(nodes[w % len(nodes)]) for w in range(spec.concurrency)]
    missing = workload.requires - type(clients[0]).capabilities
    if missing:
        raise HarnessError(f"system {sys_cls.name!r} lacks {', '.join(sorted(missing))}, "
                           f"needed by workload {spec.workload!r}")

    nemesis = None
    if spec.nemesis:
        from splitbrain.nemesis import build_nemesis

        nemesis = build_nemesis(list(spec.nemesis), system=system, nodes=nodes,
                                interval=spec.nemesis_interval, targets=spec.nemesis_targets,
                                seed=spec.seed, record=writer.record,
                                journal_path=run_dir / store.JOURNAL,
                                options=dict(spec.nemesis_options)
                                | {"backend": backend.name, "test": safe_test_name(spec)})
        state["nemesis"] = nemesis
        progress.nemesis = nemesis

    processes = list(range(spec.concurrency))
    phase = PhaseRunner(writer=writer, workload=workload, clients=clients, nodes=nodes,
                        processes=processes, concurrency=spec.concurrency, rate=spec.rate,
                        seed=spec.seed, progress=progress, client_factory=open_client)
    state["phase"] = phase

    # -- main phase -------------------------------------------------------------
    progress.phase = "main"
    progress.started = time.monotonic()
    main_gen = workload.generator()
    if spec.op_limit:
        from splitbrain.harness.generator import Limit

        main_gen = Limit(spec.op_limit, main_gen)
    phase.start(main_gen, spec.time_limit)
    nem_stop = threading.Event()
    nem_thread = None
    if nemesis is not None:
        nem_thread = threading.Thread(target=_nemesis_loop, args=(nemesis, nem_stop),
                                      name="nemesis", daemon=True)
        nem_thread.start()
        state["nem_thread"], state["nem_stop"] = nem_thread, nem_stop
    _wait(phase, progress, display, spec.time_limit)
    phase.halt()
    nem_stop.set()
    if nem_thread is not None:
        nem_thread.join(timeout=30)
    writer.flush()

    # -- heal, recovery ------------------------------------------------------------
    progress.phase = "heal"
    if nemesis is not None:
        nemesis.heal()
    writer.flush()
    progress.phase = "recovery"
    _sleep(spec.recovery_time, progress, display)

    # -- final phase -------------------------------------------------------------
    final = workload.final_generator()
    if final is not None:
        progress.phase = "final"
        phase.start(final, spec.final_time_limit, rate=0)
        _wait(phase, progress, display, spec.final_time_limit)
        phase.halt()
    writer.flush()

    # -- check -------------------------------------------------------------------
    progress.phase = "check"
    if display:
        display(progress)
    ops = list(writer.ops)
    checkers: dict[str, Any] = {}
    for ch in workload.checkers():
        t0 = time.monotonic()
        try:
            res = ch.check(ops, time_limit=spec.checker_time_limit)
        except Exception as e:  # noqa: BLE001 - a checker crash is "unknown", never "valid"
            log.exception("checker %s failed", ch.name)
            res = {"valid": "unknown", "error": f"{type(e).__name__}: {e}"}
        res.setdefault("elapsed_s", round(time.monotonic() - t0, 3))
        checkers[ch.name] = res
    valid = merge_valid(r.get("valid") for r in checkers.values())
    results = {"valid": valid, "test": spec.name, "run_dir": str(run_dir),
               "elapsed_s": round(progress.elapsed(), 3), "checkers": checkers,
               "stats": _stats(ops), "model": workload.model()}
    store.write_json(run_dir / store.RESULTS, results)
    return results


def safe_test_name(spec: Any) -> str:
    return store.safe_name(spec.name)


def _nemesis_loop(nemesis: Any, stop: threading.Event) -> None:
    try:
        nemesis.run(stop)
    except Exception:  # noqa: BLE001 - logged; the main thread heals at the end anyway
        log.exception("nemesis failed; faults will be healed at the end of the phase")


def _wait(phase: PhaseRunner, progress: Progress, display: Any, limit: float) -> None:
    end = time.monotonic() + limit
    while phase.alive() and time.monotonic() < end + 1:
        time.sleep(0.1)
        if display:
            display(progress)


def _sleep(seconds: float, progress: Progress, display: Any) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(0.2, max(0.0, end - time.monotonic())))
        if display:
            display(progress)


def _cleanup(spec: Any, run_dir: Path, writer: HistoryWriter, state: dict[str, Any],
             failed: bool) -> None:
    """Stop workers, heal, flush, collect logs, tear down. Each step best effort."""
    phase = state.get("phase")
    if phase is not None:
        phase.stop.set()
    stop = state.get("nem_stop")
    if stop is not None:
        stop.set()
        t = state.get("nem_thread")
        if t is not None:
            t.join(timeout=30)
    nemesis = state.get("nemesis")
    if nemesis is not None:
        try:
            nemesis.heal()
        except Exception:  # noqa: BLE001
            log.exception("heal failed")
    if phase is not None:
        phase.halt(grace=5.0 if failed else 15.0)
    writer.close()
    for c in state.get("clients", []):
        try:
            c.close()
        except Exception:  # noqa: BLE001
            pass
    system = state.get("system")
    nodes = state.get("nodes") or []
    if system is not None:
        _collect_logs(system, nodes, run_dir)
    if spec.leave_db_running:
        log.info("leaving the cluster running%s (--leave-db-running)",
                 " after a failure" if failed else "")
        return
    if system is not None:
        system.teardown()
    backend = state.get("backend")
    if backend is not None:
        try:
            backend.destroy(safe_test_name(spec))
        except Exception:  # noqa: BLE001
            log.exception("backend teardown failed")
    for n in nodes:
        try:
            n.close()
        except Exception:  # noqa: BLE001
            pass


def _collect_logs(system: System, nodes: list[Node], run_dir: Path) -> None:
    for n in nodes:
        dest = run_dir / "nodes" / n.name
        for path in system.log_files(n):
            try:
                dest.mkdir(parents=True, exist_ok=True)
                n.get_file(path, str(dest / Path(path).name))
            except Exception:  # noqa: BLE001 - a missing log is not a failure
                log.debug("no log %s on %s", path, n.name)

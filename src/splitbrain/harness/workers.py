"""Client workers: each asks the generator for an op, invokes it through its client and
records invocation and completion. The hot loop of a run lives here."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import Client
from splitbrain.errors import ClientError
from splitbrain.harness.progress import Progress
from splitbrain.history.ops import FAIL, INFO, INVOKE, Op
from splitbrain.history.writer import HistoryWriter
from splitbrain.workloads.base import Workload
from splitbrain.workloads.generator import Context, Generator

log = logging.getLogger("splitbrain.runner")


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

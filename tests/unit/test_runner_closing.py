"""Workers do their closing op when the phase ends: a held lock is released in-phase."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from test_workload_fake import FakeClient

from splitbrain.harness.progress import Progress
from splitbrain.harness.workers import PhaseRunner
from splitbrain.history.writer import HistoryWriter
from splitbrain.workloads.base import WorkloadConfig
from splitbrain.workloads.lock import LockWorkload

sys.path.insert(0, str(Path(__file__).parent))
from nemesis_fakes import RecordingNode  # noqa: E402


class SlowLock(FakeClient):
    """Holds each call a little, so the phase's end finds workers holding the lock."""

    def lock_acquire(self, name, lease_s):
        time.sleep(0.01)
        return super().lock_acquire(name, lease_s)


def test_every_acquired_lock_is_released_before_the_phase_is_over() -> None:
    w = LockWorkload(WorkloadConfig(concurrency=3, options={"run-id": "t", "lease-s": "3"}))
    store: dict = {}
    clients = [SlowLock(store) for _ in range(3)]
    writer = HistoryWriter(None)
    phase = PhaseRunner(writer=writer, workload=w, clients=clients,
                        nodes=[RecordingNode("n1", "10.9.0.1")], processes=[0, 1, 2],
                        concurrency=3, rate=0, seed=1, progress=Progress(1.0))
    phase.start(w.generator(), 0.3)
    time.sleep(0.5)
    phase.halt(grace=5)
    ops = writer.ops
    # whoever acquired last also invoked (and completed) the release that follows
    last: dict[int, str] = {}
    for op in ops:
        if op.type == "ok":
            last[op.process] = op.f
    assert last and all(f == "release" for f in last.values()), last
    assert not any(store["__locks__"].values())
    assert sum(1 for op in ops if op.f == "acquire" and op.type == "ok") >= 3

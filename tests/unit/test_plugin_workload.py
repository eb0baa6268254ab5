"""The plugin workload of examples/ (docs/plugins.md): loaded as package.module:Class,
its -w options declared and checked, run over an in-memory client, judged valid."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fakes import FakeClient

from splitbrain.checker.base import merged, run_checkers
from splitbrain.errors import HarnessError
from splitbrain.harness.runner import preflight
from splitbrain.harness.spec import TestSpec
from splitbrain.history.ops import Op
from splitbrain.workloads import WORKLOAD_REGISTRY
from splitbrain.workloads.base import WorkloadConfig
from splitbrain.workloads.generator import Context

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def in_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES)
    monkeypatch.syspath_prepend(str(EXAMPLES))


def _spec(tmp_path: Path, **kw) -> TestSpec:
    return TestSpec(system="raft", backend="local", nemesis=["kill"], workload="readwrite:ReadWrite",
                    store=str(tmp_path / "store"), name="plug", **kw).resolved()


def test_plugin_workload_preflight_and_options(in_examples: None, tmp_path: Path) -> None:
    plan = preflight(_spec(tmp_path, workload_options={"max-value": "9"}))
    assert plan.workload.max_value == 9 and plan.workload.read_share == 0.5
    with pytest.raises(HarnessError, match=r"-w max-valu=9: workload 'readwrite' has no option"):
        preflight(_spec(tmp_path, workload_options={"max-valu": "9"}))
    with pytest.raises(HarnessError, match=r"-w read-share=2.0: expected a share"):
        preflight(_spec(tmp_path, workload_options={"read-share": "2"}))


def test_plugin_workload_runs_and_is_judged(in_examples: None) -> None:
    cls = WORKLOAD_REGISTRY.load("readwrite:ReadWrite")
    w = cls(WorkloadConfig(concurrency=2, ops_per_key=20, options={"run-id": "t"}))
    gen, client, rng = w.generator(), FakeClient(), random.Random(1)
    ops: list[Op] = []
    for i in range(60):
        spec = gen.next(Context(worker=i % 2, process=i % 2, concurrency=2, rng=rng))
        ops.append(Op(type="invoke", process=i % 2, f=spec.f, value=spec.value, key=spec.key,
                      time=2 * i, index=len(ops)))
        outcome, value = w.apply(client, spec)
        ops.append(Op(type=outcome, process=i % 2, f=spec.f, value=value, key=spec.key,
                      time=2 * i + 1, index=len(ops)))
    assert {o.f for o in ops} == {"read", "write"} and len({o.key for o in ops}) >= 2
    assert merged(run_checkers(w.checkers(), ops)) is True

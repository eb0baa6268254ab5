"""The runner's scopes: teardown order whatever phase fails, preflight before any node,
the recorded spec. Fakes stand in for the harness's own plumbing (backend, nodes,
nemesis); the workload and checkers are the real ones, over an in-memory client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fakes import FakeClient

import splitbrain.harness.runner as runner
from splitbrain.clusters.node import Backend, ExecResult, Node
from splitbrain.clusters.system import System
from splitbrain.errors import HarnessError
from splitbrain.harness.runner import preflight, run_test
from splitbrain.harness.spec import TestSpec

EVENTS: list[str] = []


class FakeNode(Node):
    def __init__(self, name: str) -> None:
        self.name, self.address, self.work_dir = name, f"10.9.9.{name[1:]}", "/nowhere"

    def exec(self, cmd: Any, *, check: bool = True, timeout: float | None = 60,
             env: Any = None, input: Any = None) -> ExecResult:
        return ExecResult(0, "", "")

    def put_file(self, local_path: str, remote_path: str) -> None:
        pass

    def get_file(self, remote_path: str, local_path: str) -> None:
        EVENTS.append(f"logs {self.name}")
        Path(local_path).write_text("log\n")

    def close(self) -> None:
        EVENTS.append(f"close {self.name}")


class FakeBackend(Backend):
    name = "fake"

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail

    def create(self, test_name: str, count: int) -> list[Node]:
        EVENTS.append("create")
        if self.fail == "create":
            raise HarnessError("create failed half-way")
        return [FakeNode(f"n{i + 1}") for i in range(count)]

    def attach(self, test_name: str) -> list[Node]:
        return []

    def destroy(self, test_name: str) -> None:
        EVENTS.append("destroy")


class FakeSystem(System):
    """Records its lifecycle; fails where FAIL says."""

    name = "fake"
    FAIL: ClassVar[str | None] = None
    capabilities: ClassVar[frozenset[str] | None] = FakeClient().capabilities
    supports: ClassVar[frozenset[str]] = frozenset({"kill", "pause"})
    store: ClassVar[dict[str, Any]] = {}

    def start(self, node: Node) -> None:
        EVENTS.append(f"start {node.name}")
        if self.FAIL == "start":
            raise HarnessError("daemon exited")

    def stop(self, node: Node) -> None:
        EVENTS.append(f"stop {node.name}")

    def log_files(self, node: Node) -> list[str]:
        return ["/nowhere/db.log"]

    def client(self, node: Node) -> FakeClient:
        if self.FAIL == "client":
            raise HarnessError("cannot connect")
        c = FakeClient(self.store)
        real_close = c.close
        c.close = lambda: (EVENTS.append("client close"), real_close())[1]  # type: ignore
        return c


class FakeNemesis:
    FAIL: ClassVar[str | None] = None

    def __init__(self, **kw: Any) -> None:
        pass

    def run(self, stop: Any) -> None:
        EVENTS.append("nemesis run")
        stop.wait()

    def heal(self) -> None:
        EVENTS.append("heal")
        if self.FAIL == "heal":
            raise RuntimeError("heal broke")

    def current(self) -> str | None:
        return None


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    EVENTS.clear()
    FakeSystem.FAIL = None
    FakeNemesis.FAIL = None
    FakeSystem.store = {}
    monkeypatch.setattr(runner, "build_nemesis", lambda *a, **kw: FakeNemesis(**kw))


def spec(tmp_path: Path, **kw: Any) -> TestSpec:
    base = dict(system="test_runner:FakeSystem", backend="local", nodes=2, workload="register",
                nemesis=["kill"], time_limit=0.5, concurrency=2, rate=0, recovery_time=0,
                final_time_limit=1, store=str(tmp_path / "store"), seed=5,
                name="runner-test")
    return TestSpec(**(base | kw))


def compact(events: list[str]) -> list[str]:
    """Collapse runs of the same event (n nodes, n clients) to one entry."""
    out: list[str] = []
    for e in events:
        e = e.split(" n")[0] if e.startswith(("start", "stop", "logs", "close n")) else e
        if not out or out[-1] != e:
            out.append(e)
    return out


TEARDOWN = ["heal", "client close", "logs", "stop", "destroy", "close"]


def test_a_run_goes_through_every_scope_and_undoes_them_in_reverse(tmp_path: Path) -> None:
    res = run_test(spec(tmp_path), report=False, backend=FakeBackend())
    assert res.exit_code == 0, res.error
    assert compact(EVENTS) == ["create", "start", "nemesis run", *TEARDOWN]
    recorded = json.loads((res.run_dir / "test.json").read_text())
    assert recorded["backend"] == "fake" and recorded["backend_requested"] == "local"
    assert (res.run_dir / "nodes" / "n1" / "db.log").read_text() == "log\n"


@pytest.mark.parametrize("where,expected", [
    ("create", ["create", "destroy"]),
    ("start", ["create", "start", "logs", "stop", "destroy", "close"]),
    ("client", ["create", "start", "logs", "stop", "destroy", "close"]),
])
def test_a_failure_while_setting_up_undoes_what_was_done(tmp_path: Path, where: str,
                                                         expected: list[str]) -> None:
    FakeSystem.FAIL = where if where != "create" else None
    res = run_test(spec(tmp_path), report=False,
                   backend=FakeBackend(fail="create" if where == "create" else None))
    assert res.exit_code == 3 and res.error
    assert compact(EVENTS) == expected
    results = json.loads((res.run_dir / "results.json").read_text())
    assert results["valid"] == "error" and results["error"] == res.error


@pytest.mark.parametrize("exc,word", [(RuntimeError("display bug"), "harness failure"),
                                      (KeyboardInterrupt(), "interrupted")])
def test_a_failure_in_the_main_phase_heals_then_tears_down(tmp_path: Path, exc: BaseException,
                                                           word: str) -> None:
    calls = [0]

    def display(p: Any) -> None:
        calls[0] += 1
        if p.phase == "main" and calls[0] > 3:
            raise exc

    res = run_test(spec(tmp_path, time_limit=5), report=False, backend=FakeBackend(),
                   display=display)
    assert res.exit_code == 3 and word in (res.error or "")
    assert compact(EVENTS) == ["create", "start", "nemesis run", *TEARDOWN]
    history = (res.run_dir / "history.jsonl").read_text().splitlines()
    assert history, "the history recorded before the failure is on disk"


def test_a_failing_heal_still_tears_everything_down(tmp_path: Path) -> None:
    FakeNemesis.FAIL = "heal"
    res = run_test(spec(tmp_path), report=False, backend=FakeBackend())
    assert compact(EVENTS) == ["create", "start", "nemesis run", *TEARDOWN]
    assert res.exit_code in (0, 2)   # a heal failure is logged, the verdict still stands


def test_a_failure_in_the_final_phase_tears_down(tmp_path: Path) -> None:
    def display(p: Any) -> None:
        if p.phase == "final":
            raise RuntimeError("display broke in the final phase")

    res = run_test(spec(tmp_path, workload="set"), report=False, backend=FakeBackend(),
                   display=display)
    assert res.exit_code == 3 and "final phase" in (res.error or "")
    assert compact(EVENTS) == ["create", "start", "nemesis run", *TEARDOWN]


def test_a_broken_final_generator_fails_and_tears_down(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from splitbrain.workloads.register import RegisterWorkload

    def broken(self: Any) -> Any:
        raise RuntimeError("final generator broke")

    monkeypatch.setattr(RegisterWorkload, "final_generator", broken)
    res = run_test(spec(tmp_path), report=False, backend=FakeBackend())
    assert res.exit_code == 3 and "final generator broke" in (res.error or "")
    assert compact(EVENTS) == ["create", "start", "nemesis run", *TEARDOWN]


def test_register_final_reads_read_back_the_keys_the_main_phase_used(tmp_path: Path) -> None:
    """The final generator is built after the main phase: before it, register has no keys
    (it used to be asked first, so its final reads never ran)."""
    phases: list[str] = []
    res = run_test(spec(tmp_path), report=False, backend=FakeBackend(),
                   display=lambda p: phases.append(p.phase))
    assert res.exit_code == 0, res.error
    assert "final" in phases
    ops = [json.loads(line) for line in
           (res.run_dir / "history.jsonl").read_text().splitlines()]
    keys = {o.get("key") for o in ops if o.get("type") == "invoke" and o.get("key")}
    tail = [o for o in ops if o.get("type") == "invoke"][-len(keys):]
    assert {o["f"] for o in tail} == {"read"} and {o["key"] for o in tail} == keys


def test_a_crashing_checker_is_unknown_never_valid(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from splitbrain.checker.stats import StatsChecker

    monkeypatch.setattr(StatsChecker, "check", lambda self, h, time_limit=None: 1 / 0)
    res = run_test(spec(tmp_path), report=False, backend=FakeBackend())
    assert res.valid == "unknown" and res.exit_code == 2
    assert "ZeroDivisionError" in res.results["checkers"]["stats"]["error"]


def test_leave_db_running_keeps_the_cluster(tmp_path: Path) -> None:
    res = run_test(spec(tmp_path, leave_db_running=True), report=False, backend=FakeBackend())
    assert res.exit_code == 0
    assert "destroy" not in EVENTS and not any(e.startswith("stop") for e in EVENTS)
    assert any(e.startswith("logs") for e in EVENTS)


class NoTxnSystem(FakeSystem):
    capabilities: ClassVar[frozenset[str] | None] = frozenset({"read", "write", "cas"})


class UndeclaredSystem(FakeSystem):
    capabilities: ClassVar[frozenset[str] | None] = None

    def client(self, node: Node) -> FakeClient:
        return FakeClient(self.store, capabilities=frozenset({"read"}))


def test_a_missing_capability_is_refused_before_any_node(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"--workload append: needs txn, which system "
                                           r"'fake' does not offer"):
        run_test(spec(tmp_path, system="test_runner:NoTxnSystem", workload="append"),
                 backend=FakeBackend())
    assert EVENTS == [] and not (tmp_path / "store").exists()


def test_an_undeclared_capability_is_found_once_clients_open(tmp_path: Path) -> None:
    res = run_test(spec(tmp_path, system="test_runner:UndeclaredSystem"), report=False,
                   backend=FakeBackend())
    assert res.exit_code == 3 and "needs cas, write" in (res.error or "")
    assert compact(EVENTS)[-3:] == ["stop", "destroy", "close"]   # all torn down


@pytest.mark.parametrize("kw,msg", [
    (dict(nemesis=["clock"]), "does not support the clock fault"),
    (dict(nemesis=["partition"]), "needs nodes with their own network stack"),
    (dict(nemesis=["member"], nodes=2), "does not support the member fault"),
    (dict(nemesis=["bogus"]), "--nemesis bogus: unknown fault"),
    (dict(nemesis_targets="most"), "--nemesis-targets"),
    (dict(nemesis_options={"loss": "0.2", "typo": "1"}), "unknown nemesis option 'typo'"),
    (dict(workload="nope"), "--workload nope: unknown workload"),
    (dict(options={"nope": "1"}), "has no option 'nope'"),
    (dict(workload_options={"bogus": "1"}), r"-w bogus=1: workload 'register' has no option"),
    (dict(workload="counter", workload_options={"max-retries": "x"}),
     r"-w max-retries=x: expected an integer"),
    (dict(workload="counter", workload_options={"max-delta": "0"}),
     r"-w max-delta=0: must be at least 1"),
    (dict(workload="lock", workload_options={"lease-s": "-1"}), r"-w lease-s=-1: must be"),
    (dict(workload="bank", workload_options={"bank-mode": "x"}),
     r"-w bank-mode=x: expected one of cas, txn"),
    (dict(workload="append", workload_options={"consistency-model": "nope"}),
     r"-w consistency-model=nope: unknown consistency model"),
])
def test_preflight_refuses_with_one_line(tmp_path: Path, kw: dict, msg: str) -> None:
    with pytest.raises(HarnessError, match=msg) as e:
        preflight(spec(tmp_path, **kw).resolved())
    assert "\n" not in str(e.value)

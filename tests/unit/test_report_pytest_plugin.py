"""The pytest plugin's fixtures, in a child pytest (runner and backend faked: plumbing)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

INNER = '''
from pathlib import Path
import splitbrain.harness.runner as runner

class R:
    def __init__(self, spec):
        self.spec = spec
        self.valid = spec.system == "etcd"
        self.run_dir = Path(spec.store) / "x" / "20260101T000000"
        self.results = {}
        self.exit_code = 0 if self.valid else 1

def test_run(splitbrain, monkeypatch, request):
    monkeypatch.setattr(runner, "run_test", R)
    res = splitbrain.run(system="etcd", workload="register", nemesis="partition,kill",
                         time_limit=5)
    assert res.valid
    assert res.spec.nemesis == ["partition", "kill"] and res.spec.time_limit == 5
    assert Path(res.spec.store) == Path(request.config.rootpath) / STORE
    assert not splitbrain.run(system="raft").valid

def test_bad_setting(splitbrain):
    import pytest
    from splitbrain.errors import HarnessError
    with pytest.raises(HarnessError, match="unknown setting"):
        splitbrain.run(sytem="etcd")
'''

FAILING = '''
import splitbrain.harness.runner as runner
from splitbrain.checker.base import merged, run_checkers
from splitbrain.checker.linearizability import LinearizabilityChecker
from splitbrain.history.ops import Op

def stale_read(spec):
    raw = [("invoke", 0, "write", 1), ("ok", 0, "write", 1),
           ("invoke", 1, "read", None), ("ok", 1, "read", 0)]
    ops = [Op(type=t, process=p, f=f, value=v, key="k1", time=i * 10, index=i)
           for i, (t, p, f, v) in enumerate(raw)]
    typed = run_checkers([LinearizabilityChecker("cas-register", ("read", "write", "cas"))], ops)
    results = {"valid": merged(typed), "checkers": {n: r.to_json() for n, r in typed.items()}}
    return runner.RunResult(False, runner.Path(spec.store) / "raft" / "T1", results, 1)

def test_invalid(splitbrain, monkeypatch):
    monkeypatch.setattr(runner, "run_test", stale_read)
    assert splitbrain.run(system="raft").valid
'''

CLUSTER = '''
import pytest
from splitbrain.clusters.node import Backend, ExecResult, Node
from splitbrain.clusters.system import Client, System

EVENTS = []

class N(Node):
    def __init__(self, name):
        self.name, self.address, self.work_dir = name, "10.1.1." + name[1:], "/x"
    def exec(self, cmd, **kw):
        return ExecResult(0, "", "")
    def put_file(self, a, b): pass
    def get_file(self, a, b): pass

class B(Backend):
    name = "fake"
    def create(self, test_name, count):
        EVENTS.append("create " + test_name.split("-")[0])
        return [N(f"n{i + 1}") for i in range(count)]
    def attach(self, test_name): return []
    def destroy(self, test_name): EVENTS.append("destroy")

class C(Client):
    capabilities = frozenset({"read"})
    def read(self, key): return self.node.name + ":" + key
    def close(self): EVENTS.append("close " + self.node.name)

class S(System):
    name = "fake"
    options = {}
    def start(self, node): EVENTS.append("start " + node.name)
    def stop(self, node): EVENTS.append("stop " + node.name)
    def endpoint(self, node): return "fake://" + node.address
    def client(self, node): return C(node)

@pytest.mark.splitbrain_cluster(system="test_cluster:S", nodes=2, backend=B())
def test_cluster(splitbrain_cluster):
    assert [n.name for n in splitbrain_cluster.nodes] == ["n1", "n2"]
    assert splitbrain_cluster.endpoints == {"n1": "fake://10.1.1.1", "n2": "fake://10.1.1.2"}
    with splitbrain_cluster.client("n2") as c:
        assert c.read("k") == "n2:k"
    splitbrain_cluster.client()             # closed at teardown
    assert EVENTS == ["create pt", "start n1", "start n2", "close n2"]

def test_after():
    # every client opened is closed (again: closing is best effort and may repeat)
    assert EVENTS[4:] == ["close n2", "close n1", "stop n1", "stop n2", "destroy"]

@pytest.mark.splitbrain_cluster(system="test_cluster:S", bogus=1)
def test_bad(splitbrain_cluster):
    pass
'''


def _pytest(tmp_path: Path, name: str, text: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / f"{name}.py").write_text(text)
    from importlib.metadata import entry_points

    registered = any(e.value == "splitbrain.harness.pytest_plugin"
                     for e in entry_points(group="pytest11"))
    load = [] if registered else ["-p", "splitbrain.harness.pytest_plugin"]
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *load, *args, "--rootdir", str(tmp_path), str(tmp_path / f"{name}.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_fixture_runs_specs_in_a_stable_store_and_records_reports(tmp_path: Path):
    xml = tmp_path / "inner.xml"
    p = _pytest(tmp_path, "test_inner", INNER.replace("STORE", '"store"'), f"--junitxml={xml}")
    assert p.returncode == 0, p.stdout + p.stderr
    case = next(c for c in ET.parse(xml).getroot().iter("testcase") if c.get("name") == "test_run")
    props = [x.get("value") for x in case.iter("property") if x.get("name") == "splitbrain_report"]
    assert len(props) == 2 and props[0].endswith("store/x/20260101T000000/report.html")


def test_the_store_is_configurable_by_option_and_ini(tmp_path: Path):
    p = _pytest(tmp_path, "test_inner", INNER.replace("STORE", '"runs/here"'),
                "--splitbrain-store", "runs/here")
    assert p.returncode == 0, p.stdout + p.stderr
    (tmp_path / "pytest.ini").write_text("[pytest]\nsplitbrain_store = from-ini\n")
    p = _pytest(tmp_path, "test_inner", INNER.replace("STORE", '"from-ini"'))
    assert p.returncode == 0, p.stdout + p.stderr


def test_a_failed_run_shows_the_reason_and_the_report(tmp_path: Path):
    p = _pytest(tmp_path, "test_failing", FAILING)
    assert p.returncode == 1
    assert "RunResult(INVALID; linearizability (cas-register): " in p.stdout, p.stdout
    assert 'key "k1"' in p.stdout and "not linearizable" in p.stdout
    assert f"report: {tmp_path / 'store' / 'raft' / 'T1' / 'report.html'}" in p.stdout


def test_cluster_fixture_starts_yields_and_tears_down(tmp_path: Path):
    p = _pytest(tmp_path, "test_cluster", CLUSTER)
    assert "2 passed, 1 error" in p.stdout, p.stdout + p.stderr
    assert "splitbrain_cluster: unknown setting(s) bogus" in p.stdout

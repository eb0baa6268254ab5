"""The pytest plugin's ``splitbrain`` fixture, in a child pytest (runner faked: plumbing)."""

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

def test_run(splitbrain, monkeypatch, tmp_path_factory):
    monkeypatch.setattr(runner, "run_test", R)
    res = splitbrain.run(system="etcd", workload="register", nemesis="partition,kill",
                         time_limit=5)
    assert res.valid
    assert res.spec.nemesis == ["partition", "kill"] and res.spec.time_limit == 5
    assert Path(res.spec.store).is_relative_to(tmp_path_factory.getbasetemp())
    assert not splitbrain.run(system="raft").valid

def test_bad_setting(splitbrain):
    import pytest
    from splitbrain.errors import HarnessError
    with pytest.raises(HarnessError, match="unknown setting"):
        splitbrain.run(sytem="etcd")
'''


def test_fixture_runs_specs_and_records_reports(tmp_path: Path):
    (tmp_path / "test_inner.py").write_text(INNER)
    xml = tmp_path / "inner.xml"
    from importlib.metadata import entry_points

    registered = any(e.value == "splitbrain.harness.pytest_plugin"
                     for e in entry_points(group="pytest11"))
    load = [] if registered else ["-p", "splitbrain.harness.pytest_plugin"]
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        *load, f"--junitxml={xml}",
                        "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    case = next(c for c in ET.parse(xml).getroot().iter("testcase") if c.get("name") == "test_run")
    props = [x.get("value") for x in case.iter("property") if x.get("name") == "splitbrain_report"]
    assert len(props) == 2 and props[0].endswith("x/20260101T000000/report.html")

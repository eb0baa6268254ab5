"""The store index (newest first, every column) and serve's HTTP behaviour on loopback."""

from __future__ import annotations

import threading
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from splitbrain.errors import HarnessError
from splitbrain.reports.index import collect_runs, write_index
from splitbrain.reports.rundata import make_run_dir
from splitbrain.reports.serve import make_server

OPS = [{"index": 0, "type": "invoke", "process": 0, "f": "read", "value": None, "time": 1},
       {"index": 1, "type": "ok", "process": 0, "f": "read", "value": 1, "time": 5}]


def _store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    make_run_dir(store, "etcd-register-partition", OPS, {"valid": True, "stats": {"ops": 2}},
                 {"system": "etcd", "workload": "register", "nemesis": ["partition"]},
                 started=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    make_run_dir(store, "raft-counter-kill", OPS, {"valid": False},
                 {"system": "raft", "workload": "counter", "nemesis": ["kill", "pause"]},
                 started=datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC))
    make_run_dir(store, "zookeeper-set-none", OPS, {"valid": "unknown", "error": "no quorum"},
                 {"system": "zookeeper", "workload": "set", "nemesis": []},
                 started=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    (store / "_assets").mkdir()
    return store


def test_runs_newest_first_with_columns(tmp_path: Path):
    rows = collect_runs(_store(tmp_path))
    assert [r["name"] for r in rows] == ["raft-counter-kill", "etcd-register-partition",
                                         "zookeeper-set-none"]
    r0 = rows[0]
    assert (r0["system"], r0["workload"], r0["faults"], r0["verdict"], r0["ops"]) == \
        ("raft", "counter", "kill, pause", "invalid", 2)
    assert rows[2]["faults"] == "none" and rows[2]["error"] == "no quorum"
    assert r0["href"].startswith("raft-counter-kill/20260301T000000/")


def test_index_html_links_each_report(tmp_path: Path):
    store = _store(tmp_path)
    text = write_index(store).read_text()
    links = [line for line in text.splitlines() if 'class="report-link"' in line]
    assert len(links) == 3
    assert "raft-counter-kill/20260301T000000/report.html" in links[0]
    assert 'id="filter"' in text and 'data-verdict="invalid"' in text


def test_index_of_missing_store_is_one_line_error(tmp_path: Path):
    with pytest.raises(HarnessError, match="no such store"):
        write_index(tmp_path / "nope")


def test_serve_generates_index_and_missing_reports(tmp_path: Path):
    store = _store(tmp_path)
    server = make_server(store, "127.0.0.1", 0)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        new = make_run_dir(store, "late-run", OPS, {"valid": True}, {"system": "raft"})
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        assert "late-run" in page  # regenerated on request
        rel = new.relative_to(store).as_posix()
        assert not (new / "report.html").exists()
        rep = urllib.request.urlopen(f"http://127.0.0.1:{port}/{rel}/report.html",
                                     timeout=30).read().decode()
        assert 'data-verdict="valid"' in rep and (new / "report.html").exists()
    finally:
        server.shutdown()
        server.server_close()

"""report.html from small run directories: verdict, why, spec, counts, views, assets."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from splitbrain.errors import HarnessError
from splitbrain.reports.faults import fault_periods, is_fault_end
from splitbrain.reports.html import verdict_reasons, write_report
from splitbrain.reports.rundata import counts_by_f, make_run_dir


def _op(i, typ, proc, f, value=None, t=0, key=None, **kw):
    d = {"index": i, "type": typ, "process": proc, "f": f, "value": value, "time": t}
    if key is not None:
        d["key"] = key
    d.update(kw)
    return d


def small_history() -> list[dict]:
    ms = 1_000_000
    return [
        _op(0, "invoke", 0, "write", 1, 1 * ms, key="k1"),
        _op(1, "invoke", 1, "read", None, 2 * ms, key="k1"),
        _op(2, "ok", 0, "write", 1, 5 * ms, key="k1"),
        _op(3, "invoke", "nemesis", "start-partition", None, 6 * ms),
        _op(4, "info", "nemesis", "start-partition", {"grudge": {"n1": ["n2", "n3"]}}, 7 * ms),
        _op(5, "ok", 1, "read", 1, 8 * ms, key="k1"),
        _op(6, "invoke", 0, "cas", [1, 2], 9 * ms, key="k1"),
        _op(7, "fail", 0, "cas", [1, 2], 12 * ms, key="k1", error="precondition"),
        _op(8, "invoke", 1, "write", 3, 13 * ms, key="k1"),
        _op(9, "info", 1, "write", 3, 40 * ms, key="k1", error="timeout"),
        _op(10, "invoke", "nemesis", "stop-partition", None, 50 * ms),
        _op(11, "info", "nemesis", "stop-partition", None, 52 * ms),
        _op(12, "invoke", 0, "read", None, 60 * ms, key="k1"),
    ]


SPEC = {"system": "etcd", "backend": "docker", "nodes": 3, "workload": "register",
        "nemesis": ["partition"], "time_limit": 30, "concurrency": 2, "seed": 4242,
        "name": "etcd-register-partition", "splitbrain_version": "0.1.0"}


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, dict] = {}
        self.failing: list[dict] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.by_id[a["id"]] = {"tag": tag, **a}
        if a.get("data-failing") == "true":
            self.failing.append(a)
        self._in_script = tag == "script"

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.scripts.append(data)


def test_counts_by_f_reads_never_completed_as_info():
    c = counts_by_f(small_history())
    assert c["write"] == {"invoke": 2, "ok": 1, "fail": 0, "info": 1}
    assert c["read"] == {"invoke": 2, "ok": 1, "fail": 0, "info": 1}  # index 12 never completed
    assert c["cas"] == {"invoke": 1, "ok": 0, "fail": 1, "info": 0}


def test_report_shows_verdict_spec_and_counts(tmp_path: Path):
    results = {"valid": False, "test": SPEC["name"], "elapsed_s": 31.5,
               "checkers": {"stats": {"valid": True},
                            "counter": {"valid": False, "reason": "read 7 but at most 5 added"}}}
    run = make_run_dir(tmp_path / "store", SPEC["name"], small_history(), results, SPEC)
    (run / "nodes" / "n1").mkdir(parents=True)
    (run / "nodes" / "n1" / "etcd.log").write_text("hello\n")
    out = write_report(run)
    assert out == run / "report.html"
    text = out.read_text()
    p = _Collect()
    p.feed(text)
    assert p.by_id["verdict"]["data-verdict"] == "invalid"
    assert "counter found the history invalid: read 7 but at most 5 added" in text
    assert "4242" in text and "etcd-register-partition" in text and "docker" in text
    row = re.search(r'<tr data-f="write">(.*?)</tr>', text, re.S).group(1)
    assert [int(x) for x in re.findall(r">(\d+)<", row)] == [2, 1, 0, 1]
    assert 'href="nodes/n1/etcd.log"' in text and 'href="history.jsonl"' in text
    # assets: plotly beside the report, shared once per store; no network URLs in scripts
    assert (run / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    shared = tmp_path / "store" / "_assets" / "plotly.min.js"
    assert shared.exists()
    assert (run / "assets" / "plotly.min.js").stat().st_ino == shared.stat().st_ino
    assert not re.search(r'<script[^>]+src="https?:', text)
    chart = json.loads(next(s for s in p.scripts if s.startswith('{"fs"')))
    assert chart["faults"][0]["name"] == "partition"
    assert chart["faults"][0]["start"] == 6_000_000 and chart["faults"][0]["end"] == 52_000_000
    assert sum(len(t["x"]) for t in chart["latency"]) == 4  # 5 client ops; one never completed
    assert chart["no_completion"] == 1


def test_valid_and_harness_error_banners(tmp_path: Path):
    run = make_run_dir(tmp_path / "s", "ok-run", small_history(),
                       {"valid": True, "checkers": {"linearizability": {"valid": True}}}, SPEC)
    text = write_report(run).read_text()
    assert 'data-verdict="valid"' in text and "All 1 checker(s) found the history valid." in text
    run2 = make_run_dir(tmp_path / "s", "broken", [], {"valid": "unknown",
                        "error": "etcd would not start on n2"}, SPEC)
    text2 = write_report(run2).read_text()
    assert 'data-verdict="unknown"' in text2
    assert "The harness failed: etcd would not start on n2" in text2


def page_data(text: str) -> dict:
    """The JSON the page's views draw from."""
    m = re.search(r'<script type="application/json" id="sb-data">(.*?)</script>', text, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_linearizability_view_marks_failing_op_and_states(tmp_path: Path, histories: Path):
    from splitbrain.checker.linearizability import check
    from splitbrain.history.formats import read_history

    ops = read_history(histories / "knossos/cas-register/bad/cas-failure.edn")
    r = check(ops, "cas-register").to_dict()
    assert r["valid"] is False
    run = make_run_dir(tmp_path / "s", "knossos", ops,
                       {"valid": False, "checkers": {"linearizability": r}}, {"system": "knossos"})
    text = write_report(run).read_text()
    d = page_data(text)
    (view,) = d["lin"]
    key = view["keys"][0]
    f0 = r["failures"][0]
    assert key["status"] == "invalid" and len(key["rows"]) == len(f0["ops"])
    cols = d["ops"]["cols"]
    # the failing op is the checker's, found in the history by its index
    failing_row = key["rows"][key["failing"]]
    want = next(o for o in f0["ops"] if o["id"] == f0["failing_op"])
    assert cols["i"][failing_row] == want["index"]
    assert key["beforeFailing"] == str(f0["state_before_failing"])
    # the longest prefix, by position in the key, with the state after each step
    lin0 = f0["longest"][0]
    pos_of = {o["id"]: p for p, o in enumerate(f0["ops"])}
    assert key["lins"][0]["ops"] == [pos_of[i] for i in lin0["ops"]]
    assert key["lins"][0]["states"] == [str(x) for x in lin0["states"]]
    assert "jump-first-error" in text
    reasons = verdict_reasons({"valid": False, "checkers": {"linearizability": r}})
    assert reasons[0].startswith("linearizability (cas-register): the history is not linearizable")
    assert f"{want['desc']} by process {want['process']}" in reasons[0]


def test_elle_cycle_drawn_with_explanation(tmp_path: Path):
    elle = {"checker": "elle-list-append", "valid": False, "anomaly_types": ["G-single"],
            "not": ["snapshot-isolation"],
            "anomalies": {"G-single": [{
                "cycle": [{"txn": 3, "process": 1, "value": [["append", "x", 1]]},
                          {"txn": 7, "process": 2, "value": [["r", "x", []]]}],
                "steps": [{"from": 3, "to": 7, "type": "rw", "key": "x", "value": 1,
                           "explanation": "T7 read x before T3 appended 1"},
                          {"from": 7, "to": 3, "type": "wr", "key": "y", "value": 2,
                           "explanation": "T3 read T7's append of 2 to y"}],
                "explanation": "G-single: a read skew cycle"}]}}
    run = make_run_dir(tmp_path / "s", "elle", small_history(),
                       {"valid": False, "checkers": {"elle": elle}}, SPEC)
    text = write_report(run).read_text()
    assert '<svg class="cycle"' in text and "G-single: a read skew cycle" in text
    assert "T7 read x before T3 appended 1" in text
    assert "elle found the history invalid: anomalies G-single; so not snapshot-isolation." in text


def test_timeline_has_every_op(tmp_path: Path):
    ops = []
    for i in range(4000):
        ops.append(_op(2 * i, "invoke", i % 3, "read", None, i * 10, node=f"n{i % 3 + 1}"))
        ops.append(_op(2 * i + 1, "ok", i % 3, "read", 1, i * 10 + 5, node=f"n{i % 3 + 1}"))
    run = make_run_dir(tmp_path / "s", "big", ops, {"valid": True}, SPEC)
    text = write_report(run).read_text()
    cols = page_data(text)["ops"]["cols"]
    assert len(cols["i"]) == 4000 and cols["i"][-1] == 7998 and cols["j"][-1] == 7999
    assert page_data(text)["ops"]["nodes"] == ["n1", "n2", "n3"]
    assert "Showing the first" not in text


def test_not_a_run_dir_is_one_line_error(tmp_path: Path):
    with pytest.raises(HarnessError, match="not a run directory"):
        write_report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="no test.json"):
        write_report(tmp_path / "empty")


def test_fault_pairing_conventions():
    ms = 1_000_000
    hist = [
        _op(0, "invoke", "nemesis", "kill", ["n1"], 1 * ms),
        _op(1, "info", "nemesis", "kill", ["n1"], 2 * ms),
        _op(2, "invoke", "nemesis", "start-partition", None, 3 * ms),
        _op(3, "info", "nemesis", "start-partition", None, 4 * ms),
        _op(4, "invoke", "nemesis", "start", ["n1"], 5 * ms),   # restart: ends kill
        _op(5, "info", "nemesis", "start", ["n1"], 6 * ms),
        _op(6, "invoke", "nemesis", "pause", None, 7 * ms),
        _op(7, "info", "nemesis", "pause", None, 8 * ms),
        _op(8, "info", "nemesis", "resume", None, 9 * ms),
        _op(9, "invoke", 0, "read", None, 20 * ms),
    ]
    ps = {p.name: p for p in fault_periods(hist)}
    assert (ps["kill"].start, ps["kill"].end) == (1 * ms, 6 * ms)
    assert (ps["pause"].start, ps["pause"].end) == (7 * ms, 9 * ms)
    assert ps["partition"].open_ended and ps["partition"].end == 20 * ms
    assert not is_fault_end("start-partition") and is_fault_end("stop-partition")
    # classic Jepsen: bare start/stop with nothing killed = a generic fault period
    classic = [_op(0, "info", "nemesis", "start", None, 1), _op(1, "info", "nemesis", "stop",
                                                                   None, 9)]
    (p,) = fault_periods(classic)
    assert (p.name, p.start, p.end) == ("nemesis", 1, 9)


def test_unknown_verdict_names_the_undecided_checker():
    r = verdict_reasons({"valid": "unknown", "checkers": {
        "linearizability": {"valid": "unknown", "reason": "1 of 4 partition(s) undecided: "
                                                          "time limit ran out (60s)"},
        "stats": {"valid": True}}})
    assert r == ["linearizability could not decide: 1 of 4 partition(s) undecided: "
                 "time limit ran out (60s)"]


def test_run_dir_outside_a_store_gets_its_own_asset_only(tmp_path: Path):
    run = tmp_path / "somewhere" / "myrun"
    run.mkdir(parents=True)
    (run / "results.json").write_text('{"valid": true}')
    write_report(run)
    assert (run / "assets" / "plotly.min.js").exists()
    assert not (tmp_path / "_assets").exists()


def test_real_elle_result_drawn(tmp_path: Path):
    from splitbrain.checker.elle.checker import check
    from splitbrain.history.ops import Op

    ms = 1_000_000
    ops = [Op("invoke", 0, "txn", [["append", "x", 1], ["r", "y", None]], time=1 * ms, index=0),
           Op("invoke", 1, "txn", [["append", "y", 1], ["r", "x", None]], time=2 * ms, index=1),
           Op("ok", 0, "txn", [["append", "x", 1], ["r", "y", []]], time=3 * ms, index=2),
           Op("ok", 1, "txn", [["append", "y", 1], ["r", "x", []]], time=4 * ms, index=3)]
    r = check(ops)
    assert r["valid"] is False and "G2-item" in r["anomaly_types"]
    run = make_run_dir(tmp_path / "s", "skew", ops, {"valid": False, "checkers": {"elle": r}},
                       {"system": "demo", "workload": "append"})
    text = write_report(run).read_text()
    a = r["anomalies"]["G2-item"][0]
    assert text.count('<svg class="cycle"') == sum(len(v) for v in r["anomalies"].values())
    from markupsafe import escape

    assert str(escape(a["explanation"])) in text
    assert all(f">T{c['txn']}</text>" in text for c in a["cycle"])


def test_huge_invalid_key_is_drawn_whole(tmp_path: Path):
    ops = [{"id": i, "process": i % 4, "f": "read", "input": None, "output": 1,
            "call": i * 10, "return": i * 10 + 15, "outcome": "ok", "index": i,
            "desc": f"read() -> {i}"} for i in range(5000)]
    failure = {"key": "k", "ops": ops, "failing_op": 4900, "state_before_failing": "7",
               "longest": [{"ops": list(range(90)), "states": [str(i) for i in range(90)]}],
               "op_longest": {str(i): 0 for i in range(90)}}
    lin = {"checker": "linearizability", "valid": False, "model": "register",
           "failures": [failure]}
    run = make_run_dir(tmp_path / "s", "huge", [], {"valid": False,
                       "checkers": {"linearizability": lin}}, SPEC)
    key = page_data(write_report(run).read_text())["lin"][0]["keys"][0]
    assert len(key["rows"]) == 5000 and key["failing"] == 4900
    # not in the history: drawn from the checker's own record of the ops
    assert key["rows"][0] == -1 and key["desc"]["4900"] == "read() -> 4900"
    assert key["x0"][:3] == [0, 1, 3] and key["nx"] == len(set(
        t for o in ops for t in (o["call"], o["return"])))


def test_lock_lease_warning_and_double_holder_kind_in_the_banner():
    """A lock re-granted after a lease ran out is said on a valid run; a real double
    holder says both leases were valid."""
    warn = ("3 time(s) the lock was granted again after a lease ran out while its holder "
            "still thought it held the lock")
    r = verdict_reasons({"valid": True, "checkers": {
        "lock": {"valid": True, "warning": warn}, "stats": {"valid": True}}})
    assert r == ["All 2 checker(s) found the history valid.", f"lock: {warn}"]
    r = verdict_reasons({"valid": False, "checkers": {
        "lock": {"valid": False, "reason": "1 time(s) two clients held the lock at once "
                                           "while both leases were valid (a safety bug)"}}})
    assert r == ["lock found the history invalid: 1 time(s) two clients held the lock at "
                 "once while both leases were valid (a safety bug)"]


@pytest.mark.parametrize("backend,shown", [("docker", False), ("ssh", True)])
def test_ssh_login_fields_are_listed_only_for_ssh_runs(tmp_path: Path, backend: str,
                                                       shown: bool) -> None:
    spec = SPEC | {"backend": backend, "ssh_user": "tester", "ssh_port": 2222}
    results = {"valid": True, "test": SPEC["name"], "checkers": {"stats": {"valid": True}}}
    run = make_run_dir(tmp_path / "store", SPEC["name"], small_history(), results, spec)
    text = write_report(run).read_text()
    assert ("<th>ssh_user</th>" in text) is shown
    assert "<th>seed</th>" in text

"""The report's views: a valid key's linearization, invalid keys, per-op node and faults,
and the counterexample card, from real checker results."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from splitbrain.checker.counterexample import explain
from splitbrain.checker.linearizability import check
from splitbrain.checker.models import get_model
from splitbrain.history.formats import parse_history, read_history
from splitbrain.history.ops import Op
from splitbrain.reports.html import write_report
from splitbrain.reports.keyview import _history_keys, counterexample_cards
from splitbrain.reports.pagedata import op_table
from splitbrain.reports.rundata import load_run, make_run_dir
from splitbrain.reports.witness import KeyOp, find_linearization, verify


def page_data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="sb-data">(.*?)</script>', text, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def _key_ops(ops: list[Op], model: str) -> list[KeyOp]:
    """The ops of a one-key history as the checker reads them."""
    rd = load_run(make_run_dir(Path(_tmp[0]), "w", ops, {}, {}))
    keys = _history_keys(rd, op_table(rd), get_model(model), False)
    assert len(keys) == 1
    return next(iter(keys.values()))[2]


_tmp: list[str] = []


@pytest.fixture(autouse=True)
def _tmpdir(tmp_path: Path):
    _tmp[:] = [str(tmp_path / "s")]


@pytest.mark.parametrize("name", ["memstress3-0", "memstress3-1", "memstress3-2"])
def test_witness_of_valid_histories_replays(histories: Path, name: str):
    ops = read_history(histories / f"knossos/cas-register/good/{name}.edn")
    kops = _key_ops(ops, "cas-register")
    m = get_model("cas-register")
    seq = find_linearization(m, kops)
    assert seq is not None
    states = verify(m, kops, seq)
    assert states is not None and len(states) == len(seq)
    assert all(i in seq for i, k in enumerate(kops) if k.ret is not None)


@pytest.mark.parametrize("name", ["cas-failure", "bad-analysis", "immediate-failure"])
def test_no_witness_for_invalid_histories(histories: Path, name: str):
    ops = read_history(histories / f"knossos/cas-register/bad/{name}.edn")
    assert check(ops, "cas-register").valid is False
    kops = _key_ops(ops, "cas-register")
    assert find_linearization(get_model("cas-register"), kops) is None


def test_verify_refuses_wrong_orders():
    m = get_model("cas-register")
    # w1 [0,1], r->1 [2,3]: the read must come after the write
    kops = [KeyOp(0, 0, 1, ("w", 1), True), KeyOp(2, 2, 3, ("r",), 1)]
    assert verify(m, kops, [0, 1]) == ["1", "1"]
    assert verify(m, kops, [1, 0]) is None          # illegal: read 1 from nil
    kops2 = [KeyOp(0, 0, 1, ("w", 1), True), KeyOp(2, 2, 3, ("w", 2), True)]
    assert verify(m, kops2, [1, 0]) is None         # breaks real time
    assert verify(m, kops2, [0]) is None            # leaves a completed op out


def _stale_read_run(tmp_path: Path) -> Path:
    """A real checker result on a small history with nodes and a partition."""
    ms = 1_000_000
    lines = [
        {"type": "invoke", "process": 0, "f": "write", "key": "k", "value": 1, "node": "n2"},
        {"type": "ok", "process": 0, "f": "write", "key": "k", "value": 1, "node": "n2"},
        {"type": "invoke", "process": "nemesis", "f": "start-partition",
         "value": {"grudge": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}}},
        {"type": "info", "process": "nemesis", "f": "start-partition",
         "value": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}},
        {"type": "invoke", "process": 1, "f": "write", "key": "k", "value": 2, "node": "n3"},
        {"type": "ok", "process": 1, "f": "write", "key": "k", "value": 2, "node": "n3"},
        {"type": "invoke", "process": 2, "f": "read", "key": "k", "value": None, "node": "n1"},
        {"type": "ok", "process": 2, "f": "read", "key": "k", "value": 1, "node": "n1"},
        {"type": "invoke", "process": "nemesis", "f": "stop-partition", "value": None},
        {"type": "info", "process": "nemesis", "f": "stop-partition", "value": None},
        {"type": "invoke", "process": 0, "f": "read", "key": "j", "value": None, "node": "n2"},
        {"type": "ok", "process": 0, "f": "read", "key": "j", "value": None, "node": "n2"},
    ]
    for i, d in enumerate(lines):
        d["index"] = i
        d["time"] = (i + 1) * 100 * ms
    ops = parse_history("\n".join(json.dumps(d) for d in lines), "jsonl")
    res = check(ops, "cas-register")
    assert res.valid is False
    explain({"linearizability": res}, ops)
    return make_run_dir(tmp_path / "store", "stale", ops,
                        {"valid": False, "model": "cas-register",
                         "checkers": {"linearizability": res.to_json()}},
                        {"system": "raft", "workload": "register"})


def test_counterexample_card_names_nodes_faults_and_order(tmp_path: Path):
    run = _stale_read_run(tmp_path)
    rd = load_run(run)
    (card,) = counterexample_cards(rd, op_table(rd), rd.results)
    assert [(o["desc"], o["node"]) for o in card["ops"]] == [("write(2)", "n3"),
                                                             ("read() → 1", "n1")]
    assert card["ops"][1]["faults_call"] == ["partition n1 | n2 n3"]
    assert card["ops"][1]["call"] == "0.700 s" and card["ops"][1]["ret"] == "0.800 s"
    assert card["precedes"] == ["write(2) (process 1 on n3) returned at 0.600 s, before "
                                "read() → 1 (process 2 on n1) was invoked at 0.700 s"]
    # the card's ops, as a history of their own, are invalid for the checker
    own = parse_history(card["jsonl"], "jsonl")
    assert check(own, "cas-register").valid is False

    text = write_report(run).read_text()
    first = text.index('id="counterexample"')
    assert first < text.index('id="summary"')  # before everything else
    card_html = text[first:text.index('id="summary"')]
    assert "cannot be ordered" in card_html and ">n1<" in card_html and ">n3<" in card_html
    assert "partition n1 | n2 n3" in card_html
    pre = re.search(r"<pre>(.*?)</pre>", card_html, re.S).group(1)
    assert html.unescape(pre) == card["jsonl"]


def test_page_data_has_every_key_with_a_linearization_for_the_valid_one(tmp_path: Path):
    run = _stale_read_run(tmp_path)
    d = page_data(write_report(run).read_text())
    cols = d["ops"]["cols"]
    assert [d["ops"]["nodes"][n] for n in cols["n"]] == ["n2", "n3", "n1", "n2"]
    assert d["ops"]["faults"][0]["label"] == "partition n1 | n2 n3"
    assert d["ops"]["faults"][0]["start"] == 300_000  # microseconds since the start
    (view,) = d["lin"]
    bad, good = view["keys"]
    assert bad["status"] == "invalid" and bad["key"] == "k" and len(bad["minimal"]) == 2
    assert good["status"] == "valid" and good["key"] == "j"
    assert good["lins"] == [{"ops": [0], "states": ["nil"]}] and good["opLin"] == [0]
    assert cols["d"][good["rows"][0]] == "read() → nil"   # described by the model
    assert d["cx"] == [{"view": 0, "key": 0, "rows": [bad["rows"][p] for p in bad["minimal"]]}]


def test_an_info_op_may_take_effect_until_the_end(tmp_path: Path):
    ops = [Op("invoke", 0, "write", 1, key="k", index=0, time=1000),
           Op("info", 0, "write", 1, key="k", index=1, time=2000),   # timed out
           Op("invoke", 1, "read", None, key="k", index=2, time=3000),
           Op("ok", 1, "read", 1, key="k", index=3, time=4000)]      # it did happen
    res = check(ops, "cas-register")
    assert res.valid is True
    run = make_run_dir(tmp_path / "s", "info", ops, {"valid": True, "model": "cas-register",
                       "checkers": {"linearizability": res.to_json()}}, {})
    (key,) = page_data(write_report(run).read_text())["lin"][0]["keys"]
    assert key["x1"][0] == key["nx"]           # drawn to the end, not to its info completion
    assert key["lins"][0]["ops"] == [0, 1]     # and the drawn order has it take effect first

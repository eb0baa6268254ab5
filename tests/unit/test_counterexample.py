"""Minimal counterexamples: small, invalid by the checker's own verdict, and sound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from splitbrain.checker.counterexample import (
    OPTIONAL,
    WithOptional,
    ddmin,
    explain,
    lin_reason,
    minimize,
)
from splitbrain.checker.linearizability import check
from splitbrain.checker.models import get_model
from splitbrain.checker.result import LinResult
from splitbrain.history.formats import read_history
from splitbrain.history.ops import Op


def _ops(*events: tuple) -> list[Op]:
    """(type, process, f, value[, key]) tuples as a history with indices and times."""
    out = []
    for i, e in enumerate(events):
        typ, proc, f, value = e[:4]
        out.append(Op(typ, proc, f, value, key=e[4] if len(e) > 4 else None, time=(i + 1) * 1000,
                      index=i))
    return out


def _subhistory(ops: list[Op], indices: list[int]) -> list[Op]:
    """The invocations at ``indices`` and their completions, as recorded."""
    from splitbrain.history.ops import pair

    keep = []
    for p in pair(ops):
        if p.invoke.index in indices:
            keep.append(p.invoke)
            if p.complete is not None:
                keep.append(p.complete)
    return sorted(keep, key=lambda o: o.index)


def test_ddmin_finds_a_one_minimal_subset():
    calls = []

    def bad(xs: list[int]) -> bool:  # "invalid" whenever 3 and 7 are both present
        calls.append(list(xs))
        return 3 in xs and 7 in xs

    out, minimal = ddmin(list(range(20)), bad, lambda: False)
    assert sorted(out) == [3, 7] and minimal
    out, minimal = ddmin(list(range(20)), bad, lambda: True)  # no budget: nothing shrunk
    assert out == list(range(20)) and not minimal


def test_optional_ops_may_or_may_not_take_effect():
    m = WithOptional(get_model("cas-register"))
    w1 = Op("invoke", 0, "write", 1, extra={OPTIONAL: True})
    inp, out = m.prepare(w1, Op("ok", 0, "write", 1), "ok")
    ok, s = m.step(m.init(), inp, out)
    assert ok and s == frozenset({None, 1})            # it happened, or it did not
    rinp, rout = m.prepare(Op("invoke", 1, "read", None), Op("ok", 1, "read", 1), "ok")
    ok, s2 = m.step(s, rinp, rout)
    assert ok and s2 == frozenset({1})                  # a required read of 1 keeps only 1
    ok, _ = m.step(frozenset({None}), rinp, rout)
    assert not ok


@pytest.mark.parametrize("name", ["etcd_000", "etcd_001", "etcd_003", "etcd_004"])
def test_porcupine_etcd_counterexamples_are_small_and_invalid(histories: Path, name: str):
    ops = read_history(histories / f"porcupine-etcd/{name}.log")
    res = check(ops, "cas-register", failed_cas_observes=True)
    assert res.valid is False
    m = minimize(ops, res.failures[0], "cas-register", failed_cas_observes=True)
    assert m is not None and m["minimal"] and 1 <= len(m["ops"]) <= 10
    assert m["of"] == len(res.failures[0]["ops"])
    # invalid on its own, by the checker itself
    alone = _subhistory(ops, m["indices"])
    assert check(alone, "cas-register", failed_cas_observes=True).valid is False
    # and with every other op of the key optional (so the whole key is invalid because of it)
    assert m["alone"] is False and m["others_optional"] is False
    # the original failing op named by the search is not needed to be the culprit, but the
    # counterexample's ops are ops of the key
    ids = {o["id"] for o in res.failures[0]["ops"]}
    assert set(m["ops"]) <= ids


def test_etcd_001_counterexample_explains_the_stuck_write(histories: Path):
    ops = read_history(histories / "porcupine-etcd/etcd_001.log")
    res = check(ops, "cas-register", failed_cas_observes=True)
    explain({"linearizability": res}, ops, failed_cas_observes=True)
    f0 = res.failures[0]
    by_id = {o["id"]: o for o in f0["ops"]}
    descs = [by_id[i]["desc"] for i in f0["minimal"]["ops"]]
    assert descs == ["write(1)", "read() → 4"]
    assert res.reason == lin_reason(res)
    assert res.reason.startswith("the history is not linearizable; these 2 ops cannot be "
                                 "ordered: write(1) by process 5 (history index 69)")


def test_needed_context_is_kept_not_dropped():
    # w(1) ok; then w(2) ok; then a read of 1. Without w(1) at all, "read 1" alone would
    # be invalid for a reason that is not the bug (nobody wrote 1): the other ops stay in
    # the candidates as optional, so the read alone is no counterexample; w(2) + the read is.
    ops = _ops(("invoke", 0, "write", 1), ("ok", 0, "write", 1),
               ("invoke", 1, "write", 2), ("ok", 1, "write", 2),
               ("invoke", 2, "read", None), ("ok", 2, "read", 1))
    res = check(ops, "cas-register")
    assert res.valid is False
    m = minimize(ops, res.failures[0], "cas-register")
    assert m is not None and m["minimal"]
    assert m["indices"] == [2, 4]
    assert check(_subhistory(ops, [4]), "cas-register").valid is False  # trivially: never written


def test_valid_key_gets_no_counterexample():
    ops = _ops(("invoke", 0, "write", 1), ("ok", 0, "write", 1),
               ("invoke", 1, "read", None), ("ok", 1, "read", 1))
    failure = {"ops": [{"id": 0, "index": 0, "f": "write", "outcome": "ok", "return": 1},
                       {"id": 1, "index": 2, "f": "read", "outcome": "ok", "return": 3}]}
    assert minimize(ops, failure, "cas-register") is None


def test_reason_counts_agree_with_json():
    ops = []
    for k in range(5):  # five keys, each with a stale read
        base = len(ops)
        for e in (("invoke", 0, "write", 1), ("ok", 0, "write", 1),
                  ("invoke", 1, "read", None), ("ok", 1, "read", 9)):
            ops.append(Op(e[0], e[1], e[2], e[3], key=f"k{k}", time=(base + len(ops) + 1) * 1000,
                          index=len(ops)))
    res = check(ops, "cas-register")
    explain({"linearizability": res}, ops)
    d = res.to_json()
    # the checker may stop at the first invalid key or look at all of them; either way the
    # counts in the reason are the JSON's own
    n_bad, kept = d["keys_invalid"], len(d["failures"])
    assert d["partitions"] == 5 and 1 <= kept <= n_bad <= 5 and kept <= 3
    notes = []
    if n_bad > kept:
        notes.append(f"the first {kept} are kept")
    if max(d["partitions_checked"], n_bad) < 5:
        notes.append(f"{5 - max(d['partitions_checked'], n_bad)} not checked to the end: "
                     "stopped once one was invalid")
    head = f"{n_bad} of 5 keys not linearizable" + (f" ({'; '.join(notes)})" if notes else "")
    assert d["reason"] == (f'{head}; key "k0": this op cannot take effect at any point: '
                           "read() → 9 by process 1 (history index 2)")
    assert all("minimal" in f for f in d["failures"])
    back = LinResult.from_json(json.loads(json.dumps(d)))
    assert lin_reason(back) == d["reason"]
    assert "partition" not in d["reason"] and "key" in res.summary()

"""The append workload: list-append txn shapes, key rotation, apply(), Elle checking."""

from __future__ import annotations

import pytest
from fakes import FakeClient, hist, take

from splitbrain.checker.base import run_checkers
from splitbrain.checker.elle import ElleChecker as ElleListAppendChecker
from splitbrain.errors import ClientError, HarnessError
from splitbrain.workloads.append import AppendWorkload
from splitbrain.workloads.base import WorkloadConfig
from splitbrain.workloads.generator import OpSpec


def make(**opts) -> AppendWorkload:
    return AppendWorkload(WorkloadConfig(key_count=3, options={"run-id": "t", **opts}))


def test_txn_shapes_unique_values_and_key_rotation() -> None:
    w = make(**{"max-writes-per-key": 4})
    ops = take(w.generator(), 400, workers=4)
    values, keys_seen = [], set()
    for op in ops:
        assert op.f == "txn" and 1 <= len(op.value) <= 4
        for f, k, v in op.value:
            assert f in ("r", "append") and k.startswith("la-t-")
            keys_seen.add(k)
            if f == "r":
                assert v is None
            else:
                values.append(v)
    assert len(values) == len(set(values)) > 100
    per_key: dict[str, int] = {}
    for op in ops:
        for f, k, _ in op.value:
            if f == "append":
                per_key[k] = per_key.get(k, 0) + 1
    assert max(per_key.values()) == 4           # never more than max-writes-per-key
    assert len(keys_seen) > 20                   # keys were retired and replaced


def test_apply_returns_reads_filled_in() -> None:
    w, c = make(), FakeClient()
    assert w.apply(c, OpSpec("txn", [["append", "x", 1], ["append", "x", 2]]))[0] == "ok"
    assert w.apply(c, OpSpec("txn", [["r", "x", None], ["r", "y", None]])) == (
        "ok", [["r", "x", [1, 2]], ["r", "y", None]])


def test_apply_propagates_errors() -> None:
    w, c = make(), FakeClient()
    c.inject("txn", ClientError("timeout", definite=False))
    with pytest.raises(ClientError):
        w.apply(c, OpSpec("txn", [["append", "x", 1]]))


def test_unknown_consistency_model_is_refused() -> None:
    with pytest.raises(HarnessError, match="consistency-model"):
        make(**{"consistency-model": "bogus"})


def txn(p, typ, mops):
    return (p, typ, "txn", mops)


def test_elle_valid_and_invalid_histories() -> None:
    checker = make().checkers()[0]
    assert checker.name == "elle"
    good = hist([txn(0, "invoke", [["append", "x", 1]]), txn(0, "ok", [["append", "x", 1]]),
                 txn(1, "invoke", [["r", "x", None]]), txn(1, "ok", [["r", "x", [1]]]),
                 txn(0, "invoke", [["append", "x", 2]]), txn(0, "ok", [["append", "x", 2]]),
                 txn(1, "invoke", [["r", "x", None]]), txn(1, "ok", [["r", "x", [1, 2]]])])
    assert checker.check(good).to_json()["valid"] is True
    # a read invoked after append 2 was acknowledged does not see it: stale under
    # strict serializability; and two reads disagree on the order of elements
    bad = hist([txn(0, "invoke", [["append", "x", 1]]), txn(0, "ok", [["append", "x", 1]]),
                txn(0, "invoke", [["append", "x", 2]]), txn(0, "ok", [["append", "x", 2]]),
                txn(1, "invoke", [["r", "x", None]]), txn(1, "ok", [["r", "x", [2, 1]]])])
    r = checker.check(bad).to_json()
    assert r["valid"] is False, r


def test_elle_checker_reports_unreadable_history_as_unknown() -> None:
    h = hist([txn(0, "invoke", [["append", "x", 1]]), txn(0, "ok", 5)])
    r = run_checkers([ElleListAppendChecker()], h)["elle"].to_json()
    assert r["valid"] == "unknown" and "failed" in r["reason"] and r["error"]

"""Elle-style list-append checker: every anomaly type on a hand-built history, and an
anomaly-free history of the same shape that must be reported valid.

Several shapes are Elle's own test cases (jepsen-io/elle test/elle/list_append_test.clj),
rebuilt here with the anomaly types and ruled-out models Elle's tests expect.
"""

from __future__ import annotations

import re

import pytest

from splitbrain.checker.elle import check
from splitbrain.errors import HarnessError
from splitbrain.history.ops import Op


def mops(s: str, completed: bool) -> list[list]:
    """'ax1ry12rz' -> append x 1, read y [1, 2], read z [] (None when not completed)."""
    out: list[list] = []
    for f, k, v in re.findall(r"([ar])([a-z])(\d*)", s):
        if f == "a":
            out.append(["append", k, int(v)])
        else:
            out.append(["r", k, [int(c) for c in v] if completed else None])
    return out


class H:
    """Build a history event by event: ``inv`` / ``end`` for overlap, ``seq`` for both."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self._open: dict[str, tuple[str, int, str]] = {}
        self._next = 0

    def inv(self, name: str, s: str, p: int | None = None, typ: str = "ok") -> H:
        if p is None:
            p, self._next = self._next, self._next + 1
        self._open[name] = (s, p, typ)
        self.ops.append(Op("invoke", p, "txn", mops(s, False), index=len(self.ops)))
        return self

    def end(self, name: str) -> H:
        s, p, typ = self._open.pop(name)
        self.ops.append(Op(typ, p, "txn", mops(s, typ == "ok"), index=len(self.ops)))
        return self

    def seq(self, name: str, s: str, p: int | None = None, typ: str = "ok") -> H:
        return self.inv(name, s, p, typ).end(name)


def conc(*specs: str | tuple) -> list[Op]:
    """All transactions overlap in time (no real-time order), each on its own process."""
    h = H()
    for i, sp in enumerate(specs):
        s, typ = (sp, "ok") if isinstance(sp, str) else sp
        h.inv(f"t{i}", s, typ=typ)
    for i in range(len(specs)):
        h.end(f"t{i}")
    return h.ops


def run(ops: list[Op], model: str = "serializable") -> dict:
    return check(ops, kind="list-append", consistency_model=model)


def assert_valid(r: dict) -> None:
    assert r["valid"] is True, r["anomalies"]
    assert r["anomaly_types"] == []


# ------------------------------------------------------------------ cycles, data only

def test_g0_write_cycle() -> None:
    r = run(conc("ax1ay1", "ax2ay2", "rx12ry21"))
    assert r["valid"] is False
    assert r["anomaly_types"] == ["G0"]
    assert r["not"] == ["read-uncommitted"]
    (case,) = r["anomalies"]["G0"]
    assert sorted(c["txn"] for c in case["cycle"]) == [3, 4]
    assert {s["type"] for s in case["steps"]} == {"ww"}
    assert_valid(run(conc("ax1ay1", "ax2ay2", "rx12ry12")))


def test_g1c_cyclic_information_flow() -> None:
    r = run(conc("ax1ry1", "ax2ay1", "rx12ry1"))
    assert r["anomaly_types"] == ["G1c"]
    assert r["not"] == ["read-committed"]
    steps = r["anomalies"]["G1c"][0]["steps"]
    assert [s["type"] for s in steps] == ["wr", "ww"]
    assert steps[0]["key"] == "y" and steps[1]["key"] == "x"
    assert "read 'y' with 1" in steps[0]["explanation"]
    assert_valid(run(conc("ax1ry", "ax2ay1", "rx12ry1")))


def test_g_single_read_skew() -> None:
    r = run(conc("ax1ay1", "ax2ry", "rx12"))
    assert r["anomaly_types"] == ["G-single"]
    assert r["not"] == ["consistent-view", "repeatable-read"]
    case = r["anomalies"]["G-single"][0]
    assert sorted(s["type"] for s in case["steps"]) == ["rw", "ww"]
    rw = next(s for s in case["steps"] if s["type"] == "rw")
    assert "without 1" in rw["explanation"] and "precedes" in rw["explanation"]
    assert "G-single" in case["explanation"]
    assert_valid(run(conc("ax1ay1", "ax2ry1", "rx12")))


def test_g2_item_write_skew() -> None:
    ops = conc("ax1ry", "ay1rx")
    r = run(ops)
    assert r["anomaly_types"] == ["G2-item"]
    assert r["not"] == ["repeatable-read"]
    assert [s["type"] for s in r["anomalies"]["G2-item"][0]["steps"]] == ["rw", "rw"]
    # Snapshot isolation allows write skew; read committed does not look for it.
    assert_valid(run(ops, "snapshot-isolation"))
    assert_valid(run(ops, "read-committed"))
    assert_valid(run(conc("ax1ry", "ay1rx1")))


def test_g_nonadjacent() -> None:
    h = H().seq("t1", "ax1").seq("t2", "rx1ry").seq("t3", "ay1").seq("t4", "ry1rx")
    r = run(h.ops)
    assert r["anomaly_types"] == ["G-nonadjacent"]
    assert r["not"] == ["repeatable-read", "snapshot-isolation"]
    types = [s["type"] for s in r["anomalies"]["G-nonadjacent"][0]["steps"]]
    assert sorted(types) == ["rw", "rw", "wr", "wr"]
    assert all(not (types[i] == "rw" and types[i - 1] == "rw") for i in range(len(types)))
    h2 = H().seq("t1", "ax1").seq("t2", "rx1ry").seq("t3", "ay1").seq("t4", "ry1rx1")
    assert_valid(run(h2.ops))


def test_g_nonadjacent_rr_shape_from_elle() -> None:
    r = run(conc("ax1at1", "rx1ry", "ay1az2", "rz2rt"), "repeatable-read")
    assert r["anomaly_types"] == ["G-nonadjacent"]
    assert r["not"] == ["repeatable-read", "snapshot-isolation"]
    assert_valid(run(conc("ax1at1", "rx1ry1", "ay1az2", "rz2rt1"), "repeatable-read"))


# ------------------------------------------------------------------ non-cycle anomalies

def test_g1a_aborted_read() -> None:
    r = run(conc(("ax1", "fail"), "ay1", "rx1ry1"), "read-committed")
    assert r["anomaly_types"] == ["G1a"]
    assert r["not"] == ["read-committed"]
    (case,) = r["anomalies"]["G1a"]
    assert case["element"] == 1 and case["writer"]["type"] == "fail"
    assert_valid(run(conc(("ax1", "fail"), "ay1", "rxry1"), "read-committed"))


def test_g1a_alone_has_empty_graph_like_elle() -> None:
    r = run(conc(("ax1", "fail"), "rx1"), "read-committed")
    assert r["anomaly_types"] == ["G1a", "empty-transaction-graph"]
    assert r["valid"] is False


def test_g1b_intermediate_read() -> None:
    ops = conc("ax1ax2", "rx1")
    r = run(ops, "read-committed")
    assert r["anomaly_types"] == ["G1b"]
    assert r["not"] == ["read-committed"]
    # Like Elle, a serializable check also sees the G-single it implies.
    assert run(ops, "strict-serializable")["anomaly_types"] == ["G-single", "G1b"]
    assert_valid(run(conc("ax1ax2", "rx12"), "read-committed"))


def test_internal_inconsistency() -> None:
    r = run(conc("ax1", "rx1ax2rx1"))
    assert r["anomaly_types"] == ["internal"]
    assert r["anomalies"]["internal"][0]["expected"] == [1, 2]
    assert "serializable" in r["also_not"] or "serializable" in r["not"]
    assert_valid(run(conc("ax1", "rx1ax2rx12")))


def test_internal_unknown_prefix() -> None:
    r = run(conc("ax3", "ax1ax2ax4", "ax5rx1234"))
    assert "internal" in r["anomaly_types"]
    assert r["anomalies"]["internal"][0]["expected"] == ["...", 5]


def test_dirty_update() -> None:
    r = run(conc(("ax1", "fail"), "ax2", "rx12"), "read-committed")
    assert "dirty-update" in r["anomaly_types"]
    (case,) = r["anomalies"]["dirty-update"]
    assert case["values"] == [1, 2]
    assert [t["type"] for t in case["txns"]] == ["fail", "ok"]
    assert r["not"] == ["read-committed"]
    assert_valid(run(conc(("ax1", "fail"), "ax2", "rx2"), "read-committed"))


def test_dirty_update_through_info() -> None:
    r = run(conc(("ax1", "fail"), ("ax2", "info"), "ax3", "rx123"), "read-committed")
    (case,) = r["anomalies"]["dirty-update"]
    assert case["values"] == [1, 2, 3]


def test_incompatible_order() -> None:
    r = run(conc("ax1", "ax2", "rx1", "rx2"), "read-committed")
    assert r["anomaly_types"] == ["incompatible-order"]
    assert r["anomalies"]["incompatible-order"][0]["values"] == [[1], [2]]
    assert r["not"] == ["read-committed"]
    assert_valid(run(conc("ax1", "ax2", "rx1", "rx12"), "read-committed"))


def test_incompatible_order_with_g1c_from_elle() -> None:
    r = run(conc("ax1ry1", "ax2", "ax3ay1", "rx13", "rx123"), "read-committed")
    assert r["anomaly_types"] == ["G1c", "incompatible-order"]
    assert len(r["anomalies"]["G1c"][0]["cycle"]) == 3


def test_duplicate_elements() -> None:
    r = run(conc("ax1", "ax2", "rx121"), "read-committed")
    assert "duplicate-elements" in r["anomaly_types"]
    assert r["not"] == ["read-uncommitted"]
    assert r["anomalies"]["duplicate-elements"][0]["duplicates"] == [[1, 2]]
    assert_valid(run(conc("ax1", "ax2", "rx12"), "read-committed"))


def test_future_read() -> None:
    r = run(conc("rx1ax1", "ay1", "ry1"))
    assert "future-read" in r["anomaly_types"]
    assert r["valid"] is False
    assert_valid(run(conc("rxax1", "ay1", "ry1")))


def test_lost_update() -> None:
    r = run(conc("rxax1", "rxax2"))
    assert r["anomaly_types"] == ["G2-item", "lost-update"]
    assert {t["txn"] for t in r["anomalies"]["lost-update"][0]["txns"]} == {2, 3}
    assert_valid(run(conc("rxax1", "rx1ax2", "rx12")))


def test_unobserved_writes_follow_the_observed_ones() -> None:
    # Elle's unobserved-write-test: G-single and G0 (different SCC searches).
    h = H()
    for n, s in (("w1", "ax1ay1"), ("w2", "ax2ay2"), ("w3", "ax3ay3"), ("rx", "rx12"),
                 ("ry", "ry2")):
        h.inv(n, s)
    for n in ("w1", "w2", "w3", "rx", "ry"):
        h.end(n)
    r = run(h.ops)
    assert r["anomaly_types"] == ["G-single", "G0"]
    assert r["not"] == ["read-uncommitted"]


# ------------------------------------------------------------------ process variants

def test_g_single_process() -> None:
    def hist(last_read: str) -> list[Op]:
        return (H().seq("t0", "ax1", 0).seq("t1", "ax2", 1).seq("t2", last_read, 1)
                .seq("t3", "rx12", 2).ops)

    r = run(hist("rx1"), "strong-session-snapshot-isolation")
    assert r["anomaly_types"] == ["G-single-process"]
    assert r["not"] == ["strong-session-snapshot-isolation"]
    steps = r["anomalies"]["G-single-process"][0]["steps"]
    assert sorted(s["type"] for s in steps) == ["process", "rw"]
    assert_valid(run(hist("rx1"), "serializable"))
    assert_valid(run(hist("rx12"), "strong-session-snapshot-isolation"))


def test_g1c_process_from_elle() -> None:
    ops = [Op("invoke", 1, "txn", [["r", "x"], ["append", "y", 1]], index=0),
           Op("ok", 1, "txn", [["r", "x", [1]], ["append", "y", 1]], index=1),
           Op("invoke", 2, "txn", [["r", "y", None]], index=2),
           Op("ok", 2, "txn", [["r", "y", [1]]], index=3),
           Op("invoke", 2, "txn", [["append", "x", 1]], index=4),
           Op("ok", 2, "txn", [["append", "x", 1]], index=5)]
    r = run(ops, "strong-session-snapshot-isolation")
    assert r["anomaly_types"] == ["G1c-process"]
    assert r["not"] == ["strong-session-read-committed"]
    assert sorted(s["type"] for s in r["anomalies"]["G1c-process"][0]["steps"]) == \
        ["process", "wr", "wr"]
    assert_valid(run(ops, "serializable"))


def test_g0_process() -> None:
    ops = H().seq("a", "ax2", 0).seq("b", "ax1", 0).seq("c", "rx12", 1).ops
    r = run(ops, "strong-session-serializable")
    assert r["anomaly_types"] == ["G0-process"]
    assert_valid(run(ops, "serializable"))
    assert_valid(run(H().seq("a", "ax1", 0).seq("b", "ax2", 0).seq("c", "rx12", 1).ops,
                     "strong-session-serializable"))


def test_g2_item_and_nonadjacent_process() -> None:
    h = H().inv("c", "ay1rx", 1).seq("a", "ax1", 0).seq("b", "ry", 0).end("c")
    r = run(h.ops, "strong-session-serializable")
    assert r["anomaly_types"] == ["G2-item-process"]
    assert_valid(run(h.ops, "serializable"))
    # Elle's G-nonadjacent-process case (jepsen-io/elle issue 17).
    ops = (H().seq("t0", "rxrz1", 0).seq("t1", "ax1", 1).seq("t2", "rz", 1)
           .seq("t3", "az1", 2).ops)
    r = run(ops, "strong-session-snapshot-isolation")
    assert r["anomaly_types"] == ["G-nonadjacent-process"]
    assert r["not"] == ["strong-session-snapshot-isolation"]
    assert_valid(run(ops, "serializable"))


# ------------------------------------------------------------------ real-time variants

def test_g_single_realtime() -> None:
    def hist(r2: str) -> list[Op]:
        return H().seq("t0", "ax1").seq("t1", "ax2").seq("t2", r2).seq("t3", "rx12").ops

    r = run(hist("rx1"), "strict-serializable")
    assert r["anomaly_types"] == ["G-single-realtime"]
    assert r["not"] == ["strong-snapshot-isolation"]
    case = r["anomalies"]["G-single-realtime"][0]
    assert sorted(s["type"] for s in case["steps"]) == ["realtime", "rw"]
    rt = next(s for s in case["steps"] if s["type"] == "realtime")
    assert "completed before" in rt["explanation"]
    assert "strict" in case["explanation"]
    # Valid under serializable, invalid under strict-serializable.
    assert_valid(run(hist("rx1"), "serializable"))
    assert_valid(run(hist("rx12"), "strict-serializable"))


def test_g0_and_g1c_realtime() -> None:
    ops = H().seq("a", "ax2").seq("b", "ax1").seq("c", "rx12").ops
    assert run(ops, "strict-serializable")["anomaly_types"] == ["G0-realtime"]
    assert_valid(run(ops, "serializable"))
    ops = H().seq("a", "rx1").seq("b", "ax1").ops
    r = run(ops, "strict-serializable")
    assert r["anomaly_types"] == ["G1c-realtime"]
    assert r["not"] == ["strong-read-committed"]
    assert_valid(run(ops, "serializable"))
    assert_valid(run(H().seq("a", "ax1").seq("b", "rx1").ops, "strict-serializable"))


def test_g2_item_and_nonadjacent_realtime() -> None:
    h = H().inv("c", "ay1rx").seq("a", "ax1").seq("b", "ry").end("c")
    assert run(h.ops, "strict-serializable")["anomaly_types"] == ["G2-item-realtime"]
    assert_valid(run(h.ops, "serializable"))
    h = (H().inv("t0", "rxrz1").inv("t3", "az1").seq("t1", "ax1").seq("t2", "rz")
         .end("t3").end("t0"))
    r = run(h.ops, "strict-serializable")
    assert r["anomaly_types"] == ["G-nonadjacent-realtime"]
    assert r["not"] == ["strong-snapshot-isolation"]
    assert_valid(run(h.ops, "serializable"))


def test_info_txn_may_have_committed() -> None:
    # An info append that someone read is treated as committed: no anomaly.
    ops = H().seq("a", "ax1", typ="info").seq("b", "rx1").ops
    assert_valid(run(ops, "strict-serializable"))


# ------------------------------------------------------------------ result shape, errors

def test_result_shape_is_jsonable() -> None:
    import json

    r = run(conc("ax1ry1", "ax2ay1", "rx12ry1"), "strict-serializable")
    json.dumps(r)
    assert r["checker"] == "elle-list-append"
    assert r["consistency_model"] == "strict-serializable"
    assert r["txn_count"] == 3
    assert r["elapsed_s"] >= 0
    step = r["anomalies"]["G1c"][0]["steps"][0]
    assert set(step) >= {"from", "to", "type", "explanation"}


def test_model_aliases_and_bad_input() -> None:
    ops = conc("ax1ry", "ay1rx")
    assert run(ops, "PL-3")["consistency_model"] == "serializable"
    assert run(ops, "strong_serializable")["consistency_model"] == "strict-serializable"
    with pytest.raises(HarnessError, match="unknown consistency model"):
        run(ops, "very-consistent")
    with pytest.raises(HarnessError, match="unknown Elle workload kind"):
        check(ops, kind="bank")
    with pytest.raises(HarnessError, match="not one of"):
        check(conc("ax1"), kind="rw-register")
    with pytest.raises(HarnessError, match="unique appends"):
        run(conc("ax1", "ax1"))
    bad = [Op("ok", 0, "txn", 5)]
    with pytest.raises(HarnessError, match="list of"):
        run(bad)
    with pytest.raises(HarnessError, match="not a list"):
        run([Op("ok", 0, "txn", [["r", "x", 3]])])

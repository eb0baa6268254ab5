"""Elle-style rw-register checker: each anomaly on a hand-built history, a valid twin of the
same shape, and the optional version-order rules (wfr, sequential, linearizable keys).

Shapes marked "Elle" are from jepsen-io/elle test/elle/rw_register_test.clj, with the
anomaly types Elle's tests expect.
"""

from __future__ import annotations

import re

import pytest

from splitbrain.checker.elle import check
from splitbrain.errors import HarnessError
from splitbrain.history.ops import Op


def mops(s: str, completed: bool) -> list[list]:
    """'wx1ry_rz2' -> write x 1, read y nil, read z 2 (reads are None when invoked)."""
    out: list[list] = []
    for f, k, v in re.findall(r"([rw])([a-z])(\d+|_)?", s):
        val = None if v in ("", "_") else int(v)
        out.append([f, k, val if (f == "w" or completed) else None])
    return out


class H:
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
    h = H()
    for i, sp in enumerate(specs):
        s, typ = (sp, "ok") if isinstance(sp, str) else sp
        h.inv(f"t{i}", s, typ=typ)
    for i in range(len(specs)):
        h.end(f"t{i}")
    return h.ops


def run(ops: list[Op], model: str = "serializable", **kw: bool) -> dict:
    return check(ops, kind="rw-register", consistency_model=model, **kw)


def assert_valid(r: dict) -> None:
    assert r["valid"] is True, r["anomalies"]
    assert r["anomaly_types"] == []


def test_g1c_from_reads() -> None:
    r = run(conc("wx1ry1", "wy1rx1"))
    assert r["checker"] == "elle-rw-register"
    assert r["anomaly_types"] == ["G1c"]
    assert r["not"] == ["read-committed"]
    assert [s["type"] for s in r["anomalies"]["G1c"][0]["steps"]] == ["wr", "wr"]
    assert_valid(run(conc("wx1ry_", "wy1rx1")))


def test_g_single_from_initial_state() -> None:
    r = run(conc("wx1wy1", "rx1ry_"))
    assert r["anomaly_types"] == ["G-single"]
    rw = next(s for s in r["anomalies"]["G-single"][0]["steps"] if s["type"] == "rw")
    assert rw["key"] == "y" and rw["value"] is None and rw["value'"] == 1
    assert_valid(run(conc("wx1wy1", "rx1ry1")))


def test_g2_item() -> None:
    ops = conc("rx_wy1", "ry_wx1")
    r = run(ops)
    assert r["anomaly_types"] == ["G2-item"]
    assert r["not"] == ["repeatable-read"]
    assert_valid(run(ops, "snapshot-isolation"))
    assert_valid(run(conc("rx_wy1", "ry1wx1")))


def test_g0_needs_sequential_keys_like_elle() -> None:
    def hist(last: str) -> list[Op]:
        return (H().seq("t1", "wx1wy2", 0).seq("t2", "wx2wy1", 1).seq("t3", "rx2", 0)
                .seq("t4", last, 1).ops)

    plain = run(hist("ry2"))
    assert "G0" not in plain["anomaly_types"]
    r = run(hist("ry2"), sequential_keys=True)
    assert r["anomaly_types"] == ["G0"]
    assert r["not"] == ["read-uncommitted"]
    assert [s["type"] for s in r["anomalies"]["G0"][0]["steps"]] == ["ww", "ww"]
    # If p1 saw y = 1 last, the version orders agree: t1 before t2 on both keys.
    h = (H().seq("t1", "wx1wy1", 0).seq("t2", "wx2wy2", 1).seq("t3", "rx2", 0)
         .seq("t4", "ry2", 1).ops)
    assert_valid(run(h, sequential_keys=True))


def test_wfr_keys_orders_versions() -> None:
    # t0 read x=1 then wrote x=2: with writes-follow-reads, 1 < 2, so t2 (which saw t0's
    # y=1 but still x=1) missed t0's x=2: a G-single only wfr can see.
    ops = conc("rx1wx2wy1", "wx1", "rx1ry1")
    assert_valid(run(ops))
    r = run(ops, wfr_keys=True)
    assert r["anomaly_types"] == ["G-single"]
    assert "rw" in [s["type"] for s in r["anomalies"]["G-single"][0]["steps"]]
    assert_valid(run(conc("rx1wx2wy1", "wx1", "rx2ry1"), wfr_keys=True))


def test_cyclic_versions_sequential_from_elle() -> None:
    ops = H().seq("t1", "wx1", 0).seq("t2", "wx2", 0).seq("t3", "rx1", 0).ops
    r = run(ops, "strict-serializable", sequential_keys=True)
    assert r["anomaly_types"] == ["cyclic-versions"]
    (case,) = r["anomalies"]["cyclic-versions"]
    assert case["key"] == "x" and case["scc"] == [1, 2]
    assert case["sources"] == ["initial-state", "sequential-keys"]
    assert r["not"] == ["read-uncommitted"]
    assert_valid(run(H().seq("t1", "wx1", 0).seq("t2", "wx2", 0).seq("t3", "rx2", 0).ops,
                     "strict-serializable", sequential_keys=True))


def test_linearizable_keys_catches_stale_read_from_elle() -> None:
    ops = H().seq("t1", "wx1").seq("t2", "rx2").seq("t3", "rx1").ops
    r = run(ops, "strict-serializable", linearizable_keys=True)
    assert r["anomaly_types"] == ["cyclic-versions"]
    assert r["anomalies"]["cyclic-versions"][0]["sources"] == ["initial-state",
                                                               "linearizable-keys"]
    assert_valid(run(ops, "strict-serializable"))


def test_g_single_realtime() -> None:
    ops = H().seq("a", "wx1").seq("b", "rx_").ops
    r = run(ops, "strict-serializable")
    assert r["anomaly_types"] == ["G-single-realtime"]
    assert r["not"] == ["strong-snapshot-isolation"]
    assert_valid(run(ops, "serializable"))
    assert_valid(run(H().seq("a", "wx1").seq("b", "rx1").ops, "strict-serializable"))


def test_g1a_g1b_internal() -> None:
    r = run(conc(("wx1", "fail"), "wy1", "rx1ry1"), "read-committed")
    assert r["anomaly_types"] == ["G1a"]
    assert_valid(run(conc(("wx1", "fail"), "wy1", "rx_ry1"), "read-committed"))

    r = run(conc("wx1wx2wy1", "rx1ry1"), "read-committed")
    assert r["anomaly_types"] == ["G1b"]
    assert r["not"] == ["read-committed"]
    assert_valid(run(conc("wx1wx2wy1", "rx2ry1"), "read-committed"))

    r = run(conc("wx2", "wy1", "wx1rx2ry1"))
    assert r["anomaly_types"] == ["internal"]
    assert r["anomalies"]["internal"][0]["expected"] == 1
    assert_valid(run(conc("wx2", "wy1", "wx1rx1ry1")))


def test_lost_update_from_elle() -> None:
    ops = H().seq("t1", "rx0wx1", 0).seq("t2", "rx0wx2", 1).ops
    r = check(ops, kind="rw-register")
    assert r["anomaly_types"] == ["lost-update"]
    assert r["not"] == ["cursor-stability", "update-atomic"]
    assert_valid(check(H().seq("t1", "rx0wx1", 0).seq("t2", "rx1wx2", 1).ops,
                       kind="rw-register"))


def test_bad_register_input() -> None:
    with pytest.raises(HarnessError, match="unique writes"):
        run(conc("wx1", "wx1"))
    with pytest.raises(HarnessError, match="not one of"):
        run([Op("ok", 0, "txn", [["append", "x", 1]])])

"""Graph machinery and model lattice of the Elle checker: SCCs, typed cycle search,
the real-time clock chain, the search budget fallback, and Elle's model boundaries."""

from __future__ import annotations

import pytest

from splitbrain.checker.elle import check, models
from splitbrain.checker.elle.graph import (
    CYCLE_SPECS,
    RW,
    WR,
    WW,
    DepGraph,
    SearchBudget,
    collapse,
    find_cycle,
    sccs,
)
from splitbrain.checker.elle.txns import Txn, add_realtime_edges
from splitbrain.history.ops import Op


def spec(name: str):
    return next(s for s in CYCLE_SPECS if s.name == name)


def test_sccs_iterative_on_a_long_ring() -> None:
    n = 50_000  # deep enough to break any recursive implementation
    g = DepGraph(n)
    for i in range(n):
        g.link(i, (i + 1) % n, WW)
    comps = sccs(g, WW)
    assert len(comps) == 1 and len(comps[0]) == n
    assert sccs(g, WR) == []
    g2 = DepGraph(3)
    g2.link(0, 1, WW)
    g2.link(1, 2, WW)
    assert sccs(g2, WW) == []
    g2.link(2, 2, WW)  # self-edges are dropped
    assert sccs(g2, WW) == []


def test_find_cycle_respects_edge_constraints() -> None:
    # 0 -ww-> 1 -wr-> 2 -rw-> 0 and 2 -rw-> 3 -rw-> 0
    g = DepGraph(4)
    g.link(0, 1, WW)
    g.link(1, 2, WR)
    g.link(2, 0, RW)
    g.link(2, 3, RW)
    g.link(3, 0, RW)
    comp = {0, 1, 2, 3}
    assert find_cycle(g, spec("G0"), comp, None) is None
    assert find_cycle(g, spec("G1c"), comp, None) is None
    single = find_cycle(g, spec("G-single"), comp, None)
    assert single is not None and sorted(r for _, _, r in single) == [WW, WR, RW]
    g2 = find_cycle(g, spec("G2-item"), comp, None)
    assert g2 is not None and [r for _, _, r in g2].count(RW) == 2
    assert find_cycle(g, spec("G-nonadjacent"), comp, None) is None


def test_realtime_chain_encodes_completed_before_invoked() -> None:
    # a: [0, 1], b: [2, 5], c: [3, 4], d: [6, 7]; info e invoked at 8 never completes.
    txns = [Txn("ok", 0, [], 1, 0, 1, 0), Txn("ok", 1, [], 5, 2, 5, 1),
            Txn("ok", 2, [], 4, 3, 4, 2), Txn("ok", 3, [], 7, 6, 7, 3),
            Txn("info", 4, [], 8, 8, None, 4)]
    g = DepGraph(5)
    add_realtime_edges(g, txns)

    def reaches(a: int, b: int) -> bool:
        seen, stack = set(), [a]
        while stack:
            x = stack.pop()
            for y in g.out[x]:
                if y == b:
                    return True
                if y not in seen:
                    seen.add(y)
                    stack.append(y)
        return False

    assert reaches(0, 1) and reaches(0, 2) and reaches(2, 3) and reaches(1, 3)
    assert not reaches(1, 2) and not reaches(2, 1) and not reaches(3, 0)
    assert reaches(3, 4) and not reaches(4, 0)
    # A path through the clock chain collapses into one realtime step.
    cyc = [(0, 5, 16), (5, 6, 16), (6, 3, 16), (3, 0, RW)]
    assert collapse(g, cyc) == [(0, 3, 16), (3, 0, RW)]


def test_budget_falls_back_to_cycle_exists() -> None:
    ops = [Op("ok", 0, "txn", [["append", "x", 1], ["r", "y", []]], index=0),
           Op("ok", 1, "txn", [["append", "y", 1], ["r", "x", []]], index=1)]
    r = check(ops, consistency_model="serializable", search_budget=0)
    assert r["valid"] is False
    assert r["anomaly_types"] == ["PL-2.99-cycle-exists", "cycle-search-timeout"]
    assert r["not"] == ["repeatable-read"]
    g = DepGraph(2)
    g.link(0, 1, RW)
    g.link(1, 0, WW)
    with pytest.raises(SearchBudget):
        find_cycle(g, spec("G-nonadjacent"), {0, 1}, None, budget=0)
    assert find_cycle(g, spec("G-single"), {0, 1}, None, budget=10) is not None


def test_model_boundaries_match_elle() -> None:
    assert models.boundary(["G0"])[0] == ["read-uncommitted"]
    assert models.boundary(["G1a"])[0] == ["read-committed"]
    assert models.boundary(["G-single"])[0] == ["consistent-view", "repeatable-read"]
    assert models.boundary(["G-nonadjacent"])[0] == ["repeatable-read", "snapshot-isolation"]
    assert models.boundary(["G-single-realtime"])[0] == ["strong-snapshot-isolation"]
    assert models.boundary(["G-single-process"])[0] == ["strong-session-snapshot-isolation"]
    assert models.boundary(["G1c-process"])[0] == ["strong-session-read-committed"]
    assert models.boundary(["lost-update"])[0] == ["cursor-stability", "update-atomic"]
    assert models.boundary([]) == ([], [])
    assert "G2-item" in models.prohibited_anomalies("serializable")
    assert "G2-item" not in models.prohibited_anomalies("snapshot-isolation")
    assert "G-single-realtime" in models.prohibited_anomalies("strict-serializable")
    assert "G-single-realtime" not in models.prohibited_anomalies("serializable")
    assert models.canonical_model("Strong_Serializable") == "strict-serializable"
    assert models.canonical_model("nonsense") is None

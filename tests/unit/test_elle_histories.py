"""Elle's own sample histories (jepsen-io/elle ``histories/``), with the verdicts Elle gives.

- ``si-without-g-single.edn``: Elle's test ``intermediate-sequential-extension-test``
  checks it against snapshot isolation + repeatable read and expects exactly
  ``[:G2-item]`` and ``:not #{:repeatable-read}`` -- in particular no false G-single.
- ``paper-example.edn``: the G-single of Figures 2-3 of the Elle paper ("T1 < T2 because
  T1 did not observe T2's append of 8 to 255; T2 < T3 because T3 observed T2's append of 8;
  T3 < T1 because T1 appended 3 after T3 appended 4 to 256"). The file has neither
  ``:process`` nor ``:f``, which our EDN reader requires, so we parse it with the EDN
  parser and supply them (its ops are sequential, so one process changes nothing).
- The README's demo history (three ops): G1c, ``:not #{:read-committed}``.
"""

from __future__ import annotations

from corpus import elle_sample

from splitbrain.checker.elle import check
from splitbrain.history.formats import parse_edn, parse_history
from splitbrain.history.ops import Op


def paper_example() -> list[Op]:
    forms = parse_edn(elle_sample("paper-example.edn"))
    return [Op(type=str(m["type"]), process=0, f="txn",
               value=[[str(f), k, v] for f, k, v in m["value"]], index=i)
            for i, m in enumerate(forms)]


def test_si_without_g_single() -> None:
    ops = parse_history(elle_sample("si-without-g-single.edn"), "edn", "si-without-g-single.edn")
    r = check(ops, consistency_model="repeatable-read")
    assert r["anomaly_types"] == ["G2-item"]
    assert r["not"] == ["repeatable-read"]
    assert r["valid"] is False
    # Snapshot isolation permits it: no G-single, no G-nonadjacent.
    si = check(ops, consistency_model="snapshot-isolation")
    assert si["valid"] is True and si["anomaly_types"] == []
    assert check(ops, consistency_model="serializable")["anomaly_types"] == ["G2-item"]


def test_paper_example_g_single() -> None:
    ops = paper_example()
    for model in ("serializable", "strict-serializable"):
        r = check(ops, consistency_model=model)
        assert r["anomaly_types"] == ["G-single"], model
        assert r["not"] == ["consistent-view", "repeatable-read"]
    (case,) = r["anomalies"]["G-single"]
    # The paper's three transactions: indices 3 (appends 8 to 255), 5 (reads it),
    # 7 (misses it, appends 3 to 256 after 5's 4).
    assert sorted(c["txn"] for c in case["cycle"]) == [3, 5, 7]
    by_type = {s["type"]: s for s in case["steps"]}
    assert set(by_type) == {"rw", "wr", "ww"}
    assert (by_type["rw"]["key"], by_type["rw"]["value'"]) == (255, 8)
    assert (by_type["wr"]["key"], by_type["wr"]["value"]) == (255, 8)
    assert (by_type["ww"]["key"], by_type["ww"]["value"], by_type["ww"]["value'"]) == (256, 4, 3)


def test_readme_demo_g1c() -> None:
    ops = [Op("ok", 0, "txn", [["append", "x", 1], ["r", "y", [1]]], index=0),
           Op("ok", 1, "txn", [["append", "x", 2], ["append", "y", 1]], index=1),
           Op("ok", 2, "txn", [["r", "x", [1, 2]]], index=2)]
    r = check(ops, consistency_model="serializable")
    assert r["anomaly_types"] == ["G1c"]
    assert r["not"] == ["read-committed"]
    # Every model in the README's :also-not (strong-serializable is our strict-serializable).
    readme_also_not = {"consistent-view", "cursor-stability", "forward-consistent-view",
                       "monotonic-atomic-view", "monotonic-snapshot-read", "monotonic-view",
                       "repeatable-read", "serializable", "snapshot-isolation",
                       "strict-serializable", "strong-session-serializable",
                       "strong-session-snapshot-isolation", "strong-snapshot-isolation",
                       "update-serializable"}
    assert readme_also_not <= set(r["also_not"])
    assert "read-uncommitted" not in r["also_not"]

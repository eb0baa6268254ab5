"""``splitbrain list`` and docs/reference.md: read from the classes' declarations, and
the committed reference is what the code says today."""

from __future__ import annotations

from pathlib import Path

from splitbrain.cli import main
from splitbrain.harness import catalog
from splitbrain.nemesis.schedule import NEMESIS_OPTIONS

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_docs_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == catalog.reference_markdown(), (
        "docs/reference.md is out of date: run `splitbrain list --markdown > docs/reference.md`")


def test_list_prints_every_section(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("Systems", "Workloads", "Faults", "Backends", "bank-mode", "grudge_file",
                 "consistency", "splitbrain[ssh]"):
        assert word in out, word


def test_list_markdown_is_the_reference(capsys) -> None:
    assert main(["list", "--markdown"]) == 0
    assert capsys.readouterr().out == catalog.reference_markdown()


def test_list_of_an_unknown_section_is_a_usage_error(capsys) -> None:
    assert main(["list", "nope"]) == 3
    assert "Usage: splitbrain list" in capsys.readouterr().err


def test_fault_rows_come_from_the_fault_classes() -> None:
    rows = {f.name: f for f in catalog.faults()}
    assert [o.key for o in rows["packet-loss"].options] == ["loss"]
    assert "grudge_file" in [o.key for o in rows["partition-grudge"].options]
    assert "grudge_file" not in [o.key for o in rows["partition-one"].options]
    assert "raft" in rows["clock"].supports and "quorum" in rows["clock"].supports
    assert "etcd" not in rows["clock"].supports          # a Go binary: libfaketime misses it
    assert "zookeeper" not in rows["member"].supports    # zookeeper does not declare member
    assert "at least 3 nodes" in rows["partition-ring"].notes
    for f in rows.values():
        for o in f.options:
            assert o.key in NEMESIS_OPTIONS, (f.name, o.key)


def test_workload_rows_show_declared_options_and_needs() -> None:
    rows = {w.name: w for w in catalog.workloads()}
    bank = {o.key: o for o in rows["bank"].options}
    assert bank["bank-mode"].type == "cas / txn" and bank["key-count"].type == "integer >= 2"
    assert rows["lock"].capabilities == ["lock"]
    assert rows["append"].capabilities == ["txn"]

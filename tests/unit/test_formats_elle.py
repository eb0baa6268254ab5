"""Elle's sample histories omit :f and :process on transactions; the EDN reader
fills them in (txn, process 0) only where the value is a list of micro-ops."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import elle_sample

from splitbrain.errors import HistoryError
from splitbrain.history.formats import parse_history, read_history


def test_paper_example_reads_as_txns_of_one_process() -> None:
    ops = parse_history(elle_sample("paper-example.edn"), "edn", "paper-example.edn")
    assert len(ops) == 8
    assert {o.f for o in ops} == {"txn"} and {o.process for o in ops} == {0}
    assert ops[0].value[0] == ["append", 253, 1]


def test_a_map_without_f_that_is_not_a_txn_is_still_an_error(tmp_path: Path) -> None:
    p = tmp_path / "h.edn"
    p.write_text("{:type :invoke, :process 1, :value 3}\n")
    with pytest.raises(HistoryError, match=r"h.edn:1: .*lacks :f"):
        read_history(p)

"""The stats checker: ok / fail / info counts per f."""

from __future__ import annotations

from fakes import hist

from splitbrain.checker.stats import StatsChecker


def test_counts_per_f_and_unfinished_as_info() -> None:
    h = hist([(0, "invoke", "read", None), (0, "ok", "read", 1),
              (1, "invoke", "write", 2), (1, "info", "write", 2),
              (0, "invoke", "write", 3), (0, "fail", "write", 3),
              ("nemesis", "info", "partition", "start"),
              (0, "invoke", "write", 4), (0, "ok", "write", 4),
              (5, "invoke", "read", None)])
    r = StatsChecker().check(h).to_json()
    assert r["by-f"]["read"] == {"ok": 1, "fail": 0, "info": 1, "count": 2}
    assert r["by-f"]["write"] == {"ok": 1, "fail": 1, "info": 1, "count": 3}
    assert (r["ok"], r["fail"], r["info"], r["count"]) == (2, 1, 2, 5)
    assert r["nemesis-ops"] == 1
    assert r["valid"] is True


def test_an_f_that_never_succeeded_is_unknown_not_invalid() -> None:
    h = hist([(0, "invoke", "read", None), (0, "ok", "read", 1),
              (1, "invoke", "final-read", None), (1, "fail", "final-read", None)])
    r = StatsChecker().check(h).to_json()
    assert r["valid"] == "unknown" and r["never-ok"] == ["final-read"]
    assert StatsChecker().check([]).to_json()["valid"] == "unknown"

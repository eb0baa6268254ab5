"""The counter checker on hand-built histories."""

from __future__ import annotations

from fakes import hist

from splitbrain.checker.counter import CounterChecker


def check(h, **kw):
    return CounterChecker().check(h, **kw).to_json()


def test_valid_history_with_concurrent_reads() -> None:
    h = hist([(0, "invoke", "add", 2), (0, "ok", "add", 2),
              (0, "invoke", "add", 3),
              (1, "invoke", "read", None), (2, "invoke", "read", None),
              (1, "ok", "read", 5), (2, "ok", "read", 2),   # concurrent: may differ
              (0, "ok", "add", 3),
              (1, "invoke", "final-read", None), (1, "ok", "final-read", 5)])
    r = check(h)
    assert r["valid"] is True, r
    assert r["bounds"] == {"acknowledged": 5, "possible": 5}
    assert r["final-reads"] == [5]


def test_final_value_below_acknowledged_is_invalid() -> None:
    h = hist([(0, "invoke", "add", 2), (0, "ok", "add", 2),
              (0, "invoke", "add", 3), (0, "ok", "add", 3),
              (1, "invoke", "final-read", None), (1, "ok", "final-read", 2)])
    r = check(h)
    assert r["valid"] is False
    assert r["out-of-bounds"][0]["lower"] == 5 and r["out-of-bounds"][0]["value"] == 2


def test_info_adds_widen_the_upper_bound_only() -> None:
    base = [(0, "invoke", "add", 2), (0, "ok", "add", 2),
            (1, "invoke", "add", 4), (1, "info", "add", 4),
            (2, "invoke", "add", 1), (2, "fail", "add", 1)]
    for final, ok in [(2, True), (6, True), (3, False), (7, False), (0, False)]:
        r = check(hist([*base, (0, "invoke", "final-read", None),
                        (0, "ok", "final-read", final)]))
        assert r["valid"] is ok, (final, r)
        assert r["bounds"] == {"acknowledged": 2, "possible": 6}


def test_unfinished_add_counts_as_possible() -> None:
    h = hist([(1, "invoke", "add", 4),
              (0, "invoke", "final-read", None), (0, "ok", "final-read", 4)])
    assert check(h)["valid"] is True


def test_read_going_backwards_is_invalid() -> None:
    h = hist([(1, "invoke", "add", 1), (1, "info", "add", 1),
              (0, "invoke", "read", None), (0, "ok", "read", 1),
              (2, "invoke", "read", None), (2, "ok", "read", 0),
              (0, "invoke", "final-read", None), (0, "ok", "final-read", 1)])
    r = check(h)
    assert r["valid"] is False
    assert r["backwards-count"] == 1 and r["out-of-bounds-count"] == 0
    assert r["backwards"][0] == {"index": 5, "value": 0, "earlier-value": 1, "earlier-index": 3}


def test_read_above_any_possible_value_is_invalid() -> None:
    h = hist([(0, "invoke", "read", None), (1, "invoke", "add", 1),
              (0, "ok", "read", 1), (1, "ok", "add", 1),   # fine: the add was concurrent
              (0, "invoke", "read", None), (0, "ok", "read", 9)])
    r = check(h)
    assert r["valid"] is False and r["out-of-bounds"][0]["upper"] == 1


def test_no_final_read_is_unknown() -> None:
    h = hist([(0, "invoke", "add", 1), (0, "ok", "add", 1),
              (1, "invoke", "final-read", None), (1, "info", "final-read", None)])
    r = check(h)
    assert r["valid"] == "unknown"


def test_negative_adds_are_not_judged() -> None:
    h = hist([(0, "invoke", "add", -1), (0, "ok", "add", -1),
              (1, "invoke", "final-read", None), (1, "ok", "final-read", 7)])
    assert check(h)["valid"] == "unknown"


def test_non_integer_read_is_unknown_not_invalid() -> None:
    h = hist([(0, "invoke", "add", 1), (0, "ok", "add", 1),
              (1, "invoke", "read", None), (1, "ok", "read", "1"),
              (1, "invoke", "final-read", None), (1, "ok", "final-read", 1)])
    r = check(h)
    assert r["valid"] == "unknown" and r["bad-values"][0]["value"] == "1"

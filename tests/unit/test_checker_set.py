"""The set checker on hand-built histories."""

from __future__ import annotations

from fakes import hist

from splitbrain.checker.set_checker import SetChecker


def check(h, **kw):
    return SetChecker().check(h, **kw).to_json()


def adds(*specs):
    """(process, element, outcome) -> invoke + completion events."""
    ev = []
    for p, e, outcome in specs:
        ev.append((p, "invoke", "add", e))
        if outcome:
            ev.append((p, outcome, "add", e))
    return ev


def final(values, p=9):
    return [(p, "invoke", "final-read", None), (p, "ok", "final-read", values)]


def test_valid_history() -> None:
    h = hist([*adds((0, 1, "ok"), (1, 2, "ok"), (2, 3, "fail")),
              (0, "invoke", "read", None), (0, "ok", "read", [1, 2]), *final([1, 2])])
    r = check(h)
    assert r["valid"] is True, r
    assert r["acknowledged-count"] == 2 and r["failed-count"] == 1


def test_lost_element() -> None:
    h = hist([*adds((0, 1, "ok"), (1, 2, "ok")), *final([1])])
    r = check(h)
    assert r["valid"] is False and r["lost"] == [2] and r["stale"] == []


def test_element_seen_then_gone_is_lost_even_if_its_add_was_info() -> None:
    h = hist([*adds((0, 5, "info")), (1, "invoke", "read", None), (1, "ok", "read", [5]),
              *final([])])
    r = check(h)
    assert r["valid"] is False and r["lost"] == [5]


def test_duplicated_and_unexpected() -> None:
    h = hist([*adds((0, 1, "ok")), *final([1, 1, 42])])
    r = check(h)
    assert r["valid"] is False
    assert r["duplicated"] == [1] and r["unexpected"] == [42]


def test_failed_add_present() -> None:
    h = hist([*adds((0, 1, "fail")), *final([1])])
    r = check(h)
    assert r["valid"] is False and r["failed-present"] == [1]


def test_stale_read() -> None:
    h = hist([*adds((0, 1, "ok")), (1, "invoke", "read", None), (1, "ok", "read", []),
              *final([1])])
    r = check(h)
    assert r["valid"] is False and r["stale"] == [1] and r["lost"] == []
    assert r["stale-examples"][0]["read-index"] == 3
    assert SetChecker(linearizable=False).check(h).to_json()["valid"] is True


def test_concurrent_read_may_miss_an_add() -> None:
    h = hist([(0, "invoke", "add", 1), (1, "invoke", "read", None), (0, "ok", "add", 1),
              (1, "ok", "read", []), *final([1])])
    assert check(h)["valid"] is True


def test_info_adds_are_never_lost_and_recovered_when_present() -> None:
    h = hist([*adds((0, 1, "info"), (1, 2, "info"), (2, 3, None)), *final([2, 3])])
    r = check(h)
    assert r["valid"] is True, r
    assert r["recovered"] == [2, 3] and r["lost"] == []
    assert r["indeterminate-count"] == 3


def test_no_final_read_is_unknown_but_violations_still_invalid() -> None:
    h = hist([*adds((0, 1, "ok")), (1, "invoke", "final-read", None),
              (1, "fail", "final-read", None)])
    assert check(h)["valid"] == "unknown"
    h = hist([*adds((0, 1, "ok")), (1, "invoke", "read", None), (1, "ok", "read", [1, 1])])
    assert check(h)["valid"] is False


def test_last_final_read_decides_lost_but_earlier_misses_are_stale() -> None:
    h = hist([*adds((0, 1, "ok")), *final([], p=7), *final([1], p=8)])
    r = check(h)
    assert r["valid"] is False and r["lost"] == [] and r["stale"] == [1]

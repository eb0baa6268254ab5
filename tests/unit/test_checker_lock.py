"""The lock checker: two holders at once, sound with leases and info ops."""

from __future__ import annotations

from fakes import hist

from splitbrain.checker.lock import LockChecker

S = 1_000_000_000  # one second in ns


def ev(p, typ, f, t):
    return (p, typ, f, None, "L", int(t * S))


def check(h, **kw):
    return LockChecker(lease_s=10).check(h, **kw).to_json()


def test_sequential_holders_are_valid() -> None:
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(1, "invoke", "acquire", 1.5),
              ev(0, "invoke", "release", 2), ev(0, "ok", "release", 3),
              ev(1, "ok", "acquire", 3.5),
              ev(1, "invoke", "release", 4), ev(1, "ok", "release", 5)])
    r = check(h)
    assert r["valid"] is True, r
    assert r["certain-windows"] == 2 and r["acquired"] == 2


def test_two_holders_at_once() -> None:
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(1, "invoke", "acquire", 1.5), ev(1, "ok", "acquire", 2),
              ev(0, "invoke", "release", 3), ev(0, "ok", "release", 4)])
    r = check(h)
    assert r["valid"] is False and r["two-holders-count"] == 1
    pair = r["two-holders"][0]
    assert (pair["first"]["process"], pair["second"]["process"]) == (0, 1)
    assert pair["overlap-ns"] == 1 * S


def test_second_holder_after_the_lease_bound_is_not_two_holders() -> None:
    # process 0 never releases (partitioned away); its lease may expire 10 s after it
    # asked; process 1 gets the lock at 12 s: legitimate with leases
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(1, "invoke", "acquire", 5), ev(1, "ok", "acquire", 12)])
    assert check(h)["valid"] is True
    # ... but at 9 s it is not
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(1, "invoke", "acquire", 5), ev(1, "ok", "acquire", 9)])
    assert check(h)["valid"] is False


def test_info_ops_never_make_a_holder() -> None:
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "info", "acquire", 1),
              ev(1, "invoke", "acquire", 1.5), ev(1, "ok", "acquire", 2),
              ev(2, "invoke", "acquire", 2.5), ev(2, "fail", "acquire", 3)])
    assert check(h)["valid"] is True


def test_release_with_unknown_outcome_ends_the_certain_hold() -> None:
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(0, "invoke", "release", 2),
              ev(1, "invoke", "acquire", 2.5), ev(1, "ok", "acquire", 3),
              ev(0, "info", "release", 4)])
    assert check(h)["valid"] is True


def test_concurrent_acquire_completing_after_release_began_is_fine() -> None:
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(1, "invoke", "acquire", 1.5), ev(0, "invoke", "release", 2),
              ev(1, "ok", "acquire", 2.5), ev(0, "ok", "release", 3)])
    assert check(h)["valid"] is True


def test_three_holders_each_reported() -> None:
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(1, "invoke", "acquire", 0), ev(1, "ok", "acquire", 2),
              ev(2, "invoke", "acquire", 0), ev(2, "ok", "acquire", 3)])
    r = check(h)
    assert r["valid"] is False and r["two-holders-count"] == 2


def test_no_times_or_no_acquires_is_unknown() -> None:
    h = hist([(0, "invoke", "acquire", None, "L", 0), (0, "ok", "acquire", None, "L", 0),
              (1, "invoke", "acquire", None, "L", 0), (1, "ok", "acquire", None, "L", 0)])
    assert check(h)["valid"] == "unknown"
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "fail", "acquire", 1)])
    assert check(h)["valid"] == "unknown"

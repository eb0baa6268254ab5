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
    assert pair["kind"] == "both-leases-valid"
    assert (pair["holder"]["process"], pair["granted"]["process"]) == (0, 1)
    assert pair["overlap-ns"] == 1 * S
    assert "both leases were valid" in r["reason"]


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
    assert r["valid"] is False and r["two-holders-count"] == 3    # every pair at once


def test_no_times_or_no_acquires_is_unknown() -> None:
    h = hist([(0, "invoke", "acquire", None, "L", 0), (0, "ok", "acquire", None, "L", 0),
              (1, "invoke", "acquire", None, "L", 0), (1, "ok", "acquire", None, "L", 0)])
    assert check(h)["valid"] == "unknown"
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "fail", "acquire", 1)])
    assert check(h)["valid"] == "unknown"


def test_regrant_after_the_holders_lease_ran_out_is_reported_not_invalid() -> None:
    """Process 0 (paused) never releases in time; 1 gets the lock after 0's lease bound.

    Both clients believe they hold the lock, but only because 0's lease ran out: the
    lock is a lease, unsafe only for a client that does not check it.
    """
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(1, "invoke", "acquire", 5), ev(1, "ok", "acquire", 12),
              ev(0, "invoke", "release", 14), ev(0, "ok", "release", 15),
              ev(1, "invoke", "release", 16), ev(1, "ok", "release", 17)])
    r = check(h)
    assert r["valid"] is True and r["two-holders-count"] == 0
    assert r["lease-expired-count"] == 1
    d = r["lease-expired"][0]
    assert d["kind"] == "lease-expired" and "after the holder's lease bound" in d["why"]
    assert (d["holder"]["process"], d["granted"]["process"]) == (0, 1)
    assert "unsafe for clients that do not check it" in r["warning"]
    assert r["strict-mutex"]["linearizable"] is False    # a perfect mutex it is not


def test_grant_after_its_own_lease_bound_is_lease_expired() -> None:
    """Jepsen's etcd finding: a lock granted when the acquirer's lease had already run out."""
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(1, "invoke", "acquire", -10), ev(1, "ok", "acquire", 2),
              ev(0, "invoke", "release", 3), ev(0, "ok", "release", 4)])
    r = check(h)
    assert r["valid"] is True and r["lease-expired-count"] == 1
    assert "after its own lease bound" in r["lease-expired"][0]["why"]


def test_both_kinds_in_one_history() -> None:
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(1, "invoke", "acquire", 2), ev(1, "ok", "acquire", 3),      # 0 still valid
              ev(2, "invoke", "acquire", 9), ev(2, "ok", "acquire", 11.5),   # after 0's lease
              ev(0, "invoke", "release", 20), ev(0, "ok", "release", 21)])
    r = check(h)
    assert r["valid"] is False
    kinds = sorted(d["kind"] for d in r["two-holders"] + r["lease-expired"])
    # 1 overlaps 0 (both valid); 2 overlaps 0 (0's lease ran out) and 1 (1's lease valid
    # until 12: both valid)
    assert kinds == ["both-leases-valid", "both-leases-valid", "lease-expired"]


def test_late_release_is_counted() -> None:
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(0, "invoke", "release", 11),
              (0, "ok", "release", {"lease-expired": True, "held-s": 10.0}, "L", 12 * S)])
    r = check(h)
    assert r["valid"] is True and r["late-releases"] == 1


def test_correct_lease_lock_with_short_leases_is_valid() -> None:
    """Many short holds handed over in turn, each released inside its 3 s lease."""
    def check3(h):
        return LockChecker(lease_s=3).check(h).to_json()
    events = []
    t = 0.0
    for i in range(30):
        p = i % 5
        events += [ev(p, "invoke", "acquire", t), ev(p, "ok", "acquire", t + 0.1),
                   ev(p, "invoke", "release", t + 0.3), ev(p, "ok", "release", t + 0.4)]
        t += 0.5
    r = check3(hist(events))
    assert r["valid"] is True and r["lease-expired-count"] == 0
    assert r["strict-mutex"]["linearizable"] is True


def test_a_holder_whose_release_failed_still_believes_it_holds() -> None:
    """Process 0's release failed definitely: the lock is still its own as far as it
    knows, so 1's grant after 0's lease ran out is a lease-expired overlap (the strict
    mutex flags it too); with an ok release instead there is no overlap at all."""
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(0, "invoke", "release", 2), ev(0, "fail", "release", 2.1),
              ev(1, "invoke", "acquire", 3), ev(1, "ok", "acquire", 12),
              ev(0, "invoke", "release", 13), ev(0, "ok", "release", 14)])
    r = check(h)
    assert r["valid"] is True and r["lease-expired-count"] == 1
    assert r["lease-expired"][0]["holder"]["process"] == 0
    assert r["strict-mutex"]["linearizable"] is False
    ok = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
               ev(0, "invoke", "release", 2), ev(0, "ok", "release", 2.1),
               ev(1, "invoke", "acquire", 3), ev(1, "ok", "acquire", 12)])
    r = check(ok)
    assert r["lease-expired-count"] == 0 and r["strict-mutex"]["linearizable"] is True
    # a release that certainly failed left 0 holding under its lease: 1 at 5 s is a
    # double grant while both leases were valid
    early = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
                  ev(0, "invoke", "release", 2), ev(0, "fail", "release", 2.1),
                  ev(1, "invoke", "acquire", 3), ev(1, "ok", "acquire", 5)])
    r = check(early)
    assert r["valid"] is False and r["two-holders-count"] == 1


def test_a_release_never_answered_may_have_released() -> None:
    """A release invoked and never completed (the worker hung) ends the hold there."""
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(0, "invoke", "release", 2),
              ev(1, "invoke", "acquire", 3), ev(1, "ok", "acquire", 4)])
    r = check(h)
    assert r["valid"] is True and r["two-holders-count"] == r["lease-expired-count"] == 0


def test_strict_mutex_mode_calls_a_lease_expired_regrant_invalid() -> None:
    """-w mutex=strict (Jepsen's view): a holder that never checks its lease still holds
    the lock when it is granted again after the lease ran out."""
    h = hist([ev(0, "invoke", "acquire", 0), ev(0, "ok", "acquire", 1),
              ev(1, "invoke", "acquire", 2), ev(1, "ok", "acquire", 15),   # 0's lease ran out
              ev(0, "invoke", "release", 20), ev(0, "ok", "release", 21)])
    lease = LockChecker(lease_s=10).check(h)
    assert lease.valid is True and lease.lease_expired_count == 1 and lease.warning
    strict = LockChecker(lease_s=10, expired_is_invalid=True).check(h)
    assert strict.valid is False and "mutex=strict" in strict.reason
    assert strict.blamed() == [h[3].index]

"""The bank checker on hand-built histories."""

from __future__ import annotations

from fakes import hist

from splitbrain.checker.bank import BankChecker


def check(h, **kw):
    return BankChecker(["a0", "a1"], 20).check(h, **kw).to_json()
T = {"from": "a0", "to": "a1", "amount": 3}


def read(p, value, f="read"):
    return [(p, "invoke", f, None), (p, "ok", f, value)]


def test_valid_history() -> None:
    h = hist([*read(0, None), (1, "invoke", "transfer", T), (1, "ok", "transfer", T),
              *read(0, {"a0": 7, "a1": 13}), *read(2, {"a0": 7, "a1": 13}, "final-read")])
    r = check(h)
    assert r["valid"] is True, r
    assert r["read-count"] == 3 and r["ok-transfers"] == 1


def test_wrong_total() -> None:
    r = check(hist(read(0, {"a0": 7, "a1": 10})))
    assert r["valid"] is False and r["error-counts"] == {"wrong-total": 1}
    assert r["errors"]["wrong-total"][0]["total"] == 17


def test_negative_balance() -> None:
    r = check(hist(read(0, {"a0": -1, "a1": 21})))
    assert r["valid"] is False and r["error-counts"] == {"negative": 1}
    r = BankChecker(["a0", "a1"], 20, negative_allowed=True).check(
        hist(read(0, {"a0": -1, "a1": 21}))).to_json()
    assert r["valid"] is True


def test_missing_account_and_garbage() -> None:
    r = check(hist([*read(0, {"a0": 20}), *read(1, "junk"), *read(2, {"a0": "x", "a1": 1})]))
    assert r["valid"] is False
    assert r["error-counts"] == {"wrong-accounts": 1, "malformed": 2}
    # garbage alone cannot be judged: unknown, not invalid
    r = check(hist([*read(1, "junk"), *read(2, {"a0": 17, "a1": 3})]))
    assert r["valid"] == "unknown" and r["error-counts"] == {"malformed": 1}


def test_bank_vanishing_after_it_existed() -> None:
    h = hist([(1, "invoke", "transfer", T), (1, "ok", "transfer", T), *read(0, None)])
    r = check(h)
    assert r["valid"] is False and r["error-counts"] == {"bank-missing": 1}
    # a read concurrent with the first transfer may still see no bank
    h = hist([(1, "invoke", "transfer", T), (0, "invoke", "read", None),
              (1, "ok", "transfer", T), (0, "ok", "read", None),
              *read(0, {"a0": 17, "a1": 3})])
    assert check(h)["valid"] is True


def test_info_transfers_and_failed_reads_are_ignored() -> None:
    h = hist([(1, "invoke", "transfer", T), (1, "info", "transfer", T),
              (0, "invoke", "read", None), (0, "fail", "read", None),
              *read(2, {"a0": 17, "a1": 3})])
    assert check(h)["valid"] is True


def test_nothing_read_is_unknown() -> None:
    h = hist([(1, "invoke", "transfer", T), (1, "ok", "transfer", T)])
    assert check(h)["valid"] == "unknown"

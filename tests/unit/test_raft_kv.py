"""The Raft KV state machine: sessions (exactly-once), cas, txn, locks, snapshots."""

from __future__ import annotations

from splitbrain.raft.kv import KVStore


def test_retried_write_applies_once() -> None:
    kv = KVStore()
    cmd = {"op": "txn", "ops": [["append", "l", 1]], "client": "c", "seq": 1}
    r1 = kv.apply(1, cmd)
    r2 = kv.apply(2, dict(cmd))
    assert r1 == r2
    assert kv.get("l")["value"] == [1]


def test_no_dedup_bug_applies_twice() -> None:
    kv = KVStore(dedup=False)
    cmd = {"op": "txn", "ops": [["append", "l", 1]], "client": "c", "seq": 1}
    kv.apply(1, cmd)
    kv.apply(2, dict(cmd))
    assert kv.get("l")["value"] == [1, 1]


def test_cas_compare_and_create_only() -> None:
    kv = KVStore()
    assert kv.apply(1, {"op": "cas", "key": "k", "expected": None, "new": 1})["succeeded"] is False
    assert kv.apply(2, {"op": "cas", "key": "k", "expected": None, "new": 1,
                        "create_only": True})["succeeded"] is True
    assert kv.apply(3, {"op": "cas", "key": "k", "expected": None, "new": 2,
                        "create_only": True})["succeeded"] is False
    assert kv.apply(4, {"op": "cas", "key": "k", "expected": 1, "new": 3})["succeeded"] is True
    assert kv.get("k") == {"ok": True, "value": 3, "found": True}


def test_txn_reads_see_earlier_micro_ops_and_bad_op_is_rejected() -> None:
    kv = KVStore()
    res = kv.apply(1, {"op": "txn", "ops": [["r", "x", None], ["append", "x", 1],
                                            ["w", "y", 5], ["r", "x", None]]})
    assert res["results"] == [["r", "x", None], ["append", "x", 1], ["w", "y", 5],
                              ["r", "x", [1]]]
    bad = kv.apply(2, {"op": "txn", "ops": [["w", "z", 1], ["zap", "x", 1]]})
    assert bad["definite"] is True and "bad micro-op" in bad["error"]
    assert kv.get("z")["found"] is False  # nothing of a rejected txn applies


def test_lock_lease_uses_command_time() -> None:
    kv = KVStore()
    a = kv.apply(5, {"op": "lock_acquire", "name": "L", "owner": "a", "lease_s": 10, "ts": 100})
    assert a == {"ok": True, "acquired": True, "token": 5}
    b = kv.apply(6, {"op": "lock_acquire", "name": "L", "owner": "b", "lease_s": 10, "ts": 105})
    assert b["acquired"] is False and b["holder"] == "a"
    c = kv.apply(7, {"op": "lock_acquire", "name": "L", "owner": "b", "lease_s": 10, "ts": 111})
    assert c["acquired"] is True and c["token"] == 7
    assert kv.apply(8, {"op": "lock_release", "name": "L", "token": 5})["released"] is False
    assert kv.apply(9, {"op": "lock_release", "name": "L", "token": 7})["released"] is True


def test_snapshot_restore_round_trip_keeps_sessions() -> None:
    kv = KVStore()
    kv.apply(1, {"op": "put", "key": "a", "value": [1], "client": "c", "seq": 1})
    other = KVStore()
    other.restore(kv.snapshot())
    assert other.get("a")["value"] == [1]
    other.apply(2, {"op": "put", "key": "a", "value": [2], "client": "c", "seq": 1})
    assert other.get("a")["value"] == [1]  # dedup state came with the snapshot
    assert kv.get("a")["value"] == [1]


def test_session_window_matches_a_plain_model_in_any_seq_order() -> None:
    """Seqs out of order, repeated, expired, across snapshot restores: the remembered
    seqs and every answer match a direct model of "keep the 64 newest seqs"."""
    import json
    import random

    from splitbrain.raft.kv import SESSION_WINDOW

    rng = random.Random(7)
    kv = KVStore()
    model: dict[int, dict] = {}  # seq -> first result
    nxt = 1
    for i in range(1, 600):
        x = rng.random()
        if x < 0.7:
            seq, nxt = nxt, nxt + 1
        elif x < 0.85:
            seq = max(1, nxt - rng.randint(1, 3 * SESSION_WINDOW // 2))
        else:
            seq = nxt + rng.randint(0, 5)
            nxt = seq + 1
        got = kv.apply(i, {"op": "put", "key": "k", "value": i, "client": "c", "seq": seq})
        if seq in model:
            want = model[seq]
        elif len(model) >= SESSION_WINDOW and seq < min(model):
            want = {"error": "session expired for this sequence number", "definite": False}
        else:
            want = model[seq] = {"ok": True}
            if len(model) > SESSION_WINDOW:
                del model[min(model)]
        assert got == want, (i, seq)
        assert sorted(map(int, kv.sessions["c"]["results"])) == sorted(model)
        if rng.random() < 0.03:
            kv.restore(json.loads(json.dumps(kv.snapshot())))

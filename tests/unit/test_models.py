"""Sequential specifications: each model's step semantics, preparation and descriptions."""

from __future__ import annotations

import pickle

import pytest

from splitbrain.checker.linearizability import check
from splitbrain.checker.models import (
    JSON_FALSE,
    JSON_TRUE,
    MAP,
    MODELS,
    UNKNOWN,
    freeze,
    get_model,
    thaw,
)
from splitbrain.errors import ModelError
from splitbrain.history.ops import Op, validate


def _run(model: str, seq: list[tuple]) -> list[bool]:
    """Apply (f, invoke value, completion value) ops in order as ``ok`` ops; legality per op."""
    m = get_model(model)
    st = m.init()
    out = []
    for f, vin, vout in seq:
        inp, o = m.prepare(Op("invoke", 0, f, vin), Op("ok", 0, f, vout), "ok")
        ok, st = m.step(st, inp, o)
        out.append(ok)
        hash(st)
    return out


def test_registry() -> None:
    assert set(MODELS) == {"register", "cas-register", "kv", "multi-register", "counter", "set",
                           "mutex", "fifo-queue"}
    for name in MODELS:
        assert get_model(name).name == name
    with pytest.raises(ModelError, match="unknown model 'x'; models: cas-register"):
        get_model("x")


def test_cas_register() -> None:
    assert _run("cas-register", [("read", None, None), ("write", 1, 1), ("cas", [1, 2], [1, 2]),
                                 ("read", None, 2), ("cas", [1, 3], [1, 3])]) == \
        [True, True, True, True, False]
    m = get_model("cas-register")
    failed = m.prepare(Op("invoke", 0, "cas", [1, 2]), Op("fail", 0, "cas", [1, 2]), "fail", True)
    assert m.step(1, *failed) == (False, 1)
    assert m.step(5, *failed) == (True, 5)
    info = m.prepare(Op("invoke", 0, "cas", [1, 2]), None, "info")
    assert info[1] is UNKNOWN
    assert m.step(1, *info) == (True, 2) and m.step(4, *info) == (True, 4)
    assert m.prepare(Op("invoke", 0, "read", None), None, "info") is None  # constrains nothing
    assert m.describe_operation(*failed) == "cas(1→2) fail"
    with pytest.raises(ModelError, match=r"cas value must be \[expected new\]"):
        m.prepare(Op("invoke", 0, "cas", 3), None, "info")
    with pytest.raises(ModelError):
        get_model("register").prepare(Op("invoke", 0, "cas", [1, 2]), None, "info")


def test_kv_and_partitions() -> None:
    assert _run("kv", [("get", None, ""), ("append", "a", "a"), ("append", "b", "b"),
                       ("get", None, "ab"), ("put", "z", "z"), ("get", None, "ab")]) == \
        [True, True, True, True, True, False]
    m = get_model("kv")
    assert m.partition(Op("invoke", 0, "get", None, key="k1")) == "k1"
    assert m.describe_operation(("get",), "ab") == "get() → 'ab'"


def test_multi_register() -> None:
    seq = [("txn", [["w", "x", 1], ["w", "y", 2]], [["w", "x", 1], ["w", "y", 2]]),
           ("txn", [["r", "x", None], ["r", "y", None]], [["r", "x", 1], ["r", "y", 2]]),
           ("txn", [["r", "x", None]], [["r", "x", 2]])]
    assert _run("multi-register", seq) == [True, True, False]
    m = get_model("multi-register")
    assert m.partition(Op("invoke", 0, "txn", [], key="x")) is None  # txns span keys
    inp, out = m.prepare(Op("invoke", 0, "txn", [["r", "x", None], ["w", "x", 3]]), None, "info")
    assert out is UNKNOWN and m.step((), inp, out) == (True, (("x", 3),))
    assert m.describe_state((("x", 3),)) == "{x: 3}"


def test_counter_set_mutex_queue() -> None:
    assert _run("counter", [("add", 2, 2), ("add", 3, 3), ("read", None, 5), ("read", None, 4)]) == \
        [True, True, True, False]
    assert _run("set", [("add", 1, 1), ("add", 2, 2), ("read", None, [2, 1]), ("read", None, [1])]) == \
        [True, True, True, False]
    assert _run("mutex", [("acquire", None, None), ("release", None, None), ("acquire", None, None),
                          ("acquire", None, None)]) == [True, True, True, False]
    assert _run("mutex", [("release", None, None)]) == [False]
    assert _run("fifo-queue", [("dequeue", None, None), ("enqueue", 1, 1), ("enqueue", 2, 2),
                               ("dequeue", None, 1), ("dequeue", None, 1)]) == \
        [True, True, True, True, False]
    assert get_model("set").describe_state(frozenset({2, 1})) == "#{1 2}"
    assert get_model("fifo-queue").describe_state((1, 2)) == "[1 2]"
    assert get_model("mutex").describe_state(True) == "held"


def test_mutex_history_double_acquire_is_invalid() -> None:
    ops = [Op("invoke", 0, "acquire"), Op("ok", 0, "acquire"),
           Op("invoke", 1, "acquire"), Op("ok", 1, "acquire")]
    validate(ops)
    assert check(ops, "mutex").valid is False
    ops += [Op("invoke", 0, "release"), Op("ok", 0, "release")]
    assert check(ops, "mutex").valid is False
    ok = [Op("invoke", 0, "acquire"), Op("invoke", 1, "acquire"), Op("ok", 0, "acquire"),
          Op("invoke", 0, "release"), Op("ok", 0, "release"), Op("ok", 1, "acquire")]
    assert check(ok, "mutex").valid is True


def test_freeze_and_pickle() -> None:
    assert freeze([1, [2, {"a": [3]}]]) == (1, (2, (MAP, ("a", (3,)))))
    assert thaw(freeze([1, [True, {"a": [None]}]])) == [1, [True, {"a": [None]}]]
    hash(freeze({"x": {1, 2}}))
    for x in (UNKNOWN, JSON_TRUE, JSON_FALSE, MAP):
        assert pickle.loads(pickle.dumps(x)) is x
    for name in MODELS:
        assert type(pickle.loads(pickle.dumps(get_model(name)))).__name__ == type(get_model(name)).__name__


def test_compile_agrees_with_prepare_and_step() -> None:
    """``compile`` (what the search runs) gives the same legality and next state as
    ``prepare`` + ``step`` (what the reports and the brute-force oracle use), and the
    checker's compile-once-per-value shortcut gives the same opcodes as calling it."""
    from splitbrain.checker import linearizability as lin
    from splitbrain.checker.models import CAS, DIFFERS, READ, STEP, WRITE

    values = [None, 0, 1, 1.0, 2, True, False, "1", "a", [1], [True], {"a": 1}]
    states = {"cas-register": [freeze(v) for v in values], "kv": ["", "a", "ab", "b"]}
    cases = [("cas-register", "read", None, v) for v in values]
    cases += [("cas-register", "write", v, v) for v in values]
    cases += [("cas-register", "cas", [a, b], [a, b]) for a in values[:6] for b in values[:3]]
    cases += [("kv", "get", None, v) for v in ("", "a", "ab", None)]
    cases += [("kv", f, v, v) for f in ("put", "append") for v in ("a", "b")]
    for model, f, vin, vout in cases:
        m = get_model(model)
        for outcome in ("ok", "info", "fail"):
            inv, comp = Op("invoke", 0, f, vin), Op(outcome, 0, f, vout if outcome != "info" else None)
            io = m.prepare(inv, comp, outcome, True)
            c = m.compile(inv, comp, outcome, True)
            assert (io is None) == (c is None), (model, f, outcome)
            if c is None:
                continue
            code, a, b = c
            for st in states[model]:
                want = m.step(st, *io)
                if code == READ:
                    got = (st == a, st)
                elif code == WRITE:
                    got = (True, a)
                elif code == CAS:
                    got = (st == a, b) if st == a else (False, st)
                elif code == DIFFERS:
                    got = (st != a, st)
                else:
                    assert code == STEP
                    got = a(st, *b)
                assert got[0] == want[0] and (not got[0] or got[1] == want[1]), (model, f, vin, outcome, st)
    ops = []
    for p, (w, r) in enumerate([(1, 1.0), (1, True), (True, 1), ("1", 1), (2, 2), (2, 2)]):
        ops += [Op("invoke", 2 * p, "write", w, key="k"), Op("ok", 2 * p, "write", w, key="k"),
                Op("invoke", 2 * p + 1, "read", None, key="k"), Op("ok", 2 * p + 1, "read", r, key="k")]
    for p, v in enumerate([[1, 2], [True, 2], [1.0, 2], [1, 2], [None, "x"], [[1], 2]], 20):
        ops += [Op("invoke", p, "cas", v, key="k"), Op("ok", p, "cas", v, key="k")]
    m = get_model("cas-register")
    plain = get_model("cas-register")
    plain.compile_by_value = {}
    (fast,), _ = lin._build(ops, m, False)
    (slow,), _ = lin._build(ops, plain, False)
    assert fast.code == slow.code  # 1 and 1.0 may share an opcode: they are equal values

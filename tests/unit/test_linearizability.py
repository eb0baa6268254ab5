"""The linearizability checker: the reference corpus, a brute-force oracle, and properties."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from corpus import histories_dir, missing
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from splitbrain.checker import linearizability as lin
from splitbrain.checker.linearizability import check, prepare
from splitbrain.checker.models import get_model
from splitbrain.errors import ModelError
from splitbrain.history.formats import read_history
from splitbrain.history.ops import Op, validate


def _corpus() -> Path:
    """The reference histories (see corpus.py: never committed here)."""
    return histories_dir() or Path("/nonexistent")


HIST = _corpus()
MANIFEST = json.loads((HIST / "MANIFEST.json").read_text()) if (HIST / "MANIFEST.json").exists() else []


@pytest.fixture
def corpus_present() -> None:
    """The reference corpus must exist: skipped locally without it, a failure in CI."""
    if not MANIFEST:
        missing("the reference histories (../shared/histories)")


needs_corpus = pytest.mark.usefixtures("corpus_present")


@needs_corpus
@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_reference_verdicts(entry: dict) -> None:
    """Every reference history gets the verdict its source project's tests expect."""
    ops = read_history(HIST / entry["file"], entry["format"])
    res = check(ops, entry["model"], failed_cas_observes=entry.get("failed_cas_observes", False),
                time_limit=120)
    assert res.valid == (entry["expected"] == "valid"), res.reason
    d = json.loads(json.dumps(res.to_dict()))
    if res.valid is False:
        f = d["failures"][0]
        assert f["failing_op"] is not None
        assert d["reason"] and "\n" not in d["reason"]
        ids = {o["id"] for o in f["ops"]}
        for seq in f["longest"]:
            assert set(seq["ops"]) <= ids and len(seq["states"]) == len(seq["ops"])
        for op_id, k in f["op_longest"].items():
            assert int(op_id) in f["longest"][k]["ops"]


def _h(*events: tuple) -> list[Op]:
    """Build a history from (process, type, f, value[, key]) tuples."""
    ops = [Op(type=t, process=p, f=f, value=v, key=(k[0] if k else None))
           for p, t, f, v, *k in events]
    for i, op in enumerate(ops):
        op.index = i
    validate(ops)
    return ops


def test_knossos_minimal_failure_report() -> None:
    ops = _h((0, "invoke", "write", 0), (0, "ok", "write", 0),
             (1, "invoke", "read", None), (2, "invoke", "write", 4),
             (1, "ok", "read", 3), (2, "ok", "write", 4),
             (3, "invoke", "read", None), (3, "ok", "read", 4))
    res = check(ops, "cas-register")
    assert res.valid is False
    f = res.to_dict()["failures"][0]
    bad = f["ops"][f["failing_op"]]
    assert (bad["f"], bad["output"], bad["index"]) == ("read", 3, 2)
    assert bad["desc"] == "read() → 3"
    assert f["longest"][0]["ops"] == [0, 2] and f["longest"][0]["states"] == ["0", "4"]
    assert f["op_longest"] == {"0": 0, "2": 0}
    assert f["state_before_failing"] == "4"
    assert f["ops"][0]["call"] == 0 and f["ops"][0]["return"] == 1  # positions stand in for time


def test_info_may_take_effect_later_or_never() -> None:
    w = [(1, "invoke", "write", 5), (1, "info", "write", None)]
    later = _h((0, "invoke", "write", 1), (0, "ok", "write", 1), *w,
               (2, "invoke", "read", None), (2, "ok", "read", 1),
               (3, "invoke", "read", None), (3, "ok", "read", 5))
    assert check(later, "cas-register").valid is True
    never = _h((0, "invoke", "write", 1), (0, "ok", "write", 1), *w,
               (2, "invoke", "read", None), (2, "ok", "read", 1))
    assert check(never, "cas-register").valid is True
    # but not before its invocation, and not twice
    before = _h((2, "invoke", "read", None), (2, "ok", "read", 5), *w)
    assert check(before, "cas-register").valid is False
    twice = _h((0, "invoke", "write", 1), (0, "ok", "write", 1), *w,
               (2, "invoke", "read", None), (2, "ok", "read", 5),
               (0, "invoke", "write", 2), (0, "ok", "write", 2),
               (2, "invoke", "read", None), (2, "ok", "read", 5))
    assert check(twice, "cas-register").valid is False


def test_fail_ops_are_dropped_and_failed_cas_observes() -> None:
    ops = _h((0, "invoke", "write", 1), (0, "ok", "write", 1),
             (1, "invoke", "write", 7), (1, "fail", "write", 7),
             (2, "invoke", "cas", [1, 2]), (2, "fail", "cas", [1, 2]),
             (3, "invoke", "read", None), (3, "ok", "read", 1))
    assert check(ops, "cas-register").valid is True
    # the failed cas says the register did not hold 1, but nothing else could have changed it
    assert check(ops, "cas-register", failed_cas_observes=True).valid is False


def test_unknown_is_never_valid_by_default_and_budget() -> None:
    ops = _random_history(random.Random(7), "cas-register", 3000, conc=6)
    assert check(ops, "cas-register").valid is True
    assert check(ops, "cas-register", time_limit=1e-6).valid == "unknown"
    res = check(ops, "cas-register", memory_budget=1)
    assert res.valid == "unknown" and "memory" in res.reason


def test_unknown_model_and_op() -> None:
    with pytest.raises(ModelError, match="models: "):
        check([], "nope")
    with pytest.raises(ModelError, match="knows f in read, write, cas"):
        check(_h((0, "invoke", "frob", 1), (0, "ok", "frob", 1)), "cas-register")


def _keyed_history(n_keys: int = 12) -> list[Op]:
    rng = random.Random(3)
    ops: list[Op] = []
    for k in range(n_keys):
        ops.extend(_random_history(rng, "cas-register", 40, conc=3, key=f"k{k}", proc_base=100 * k))
    ops.sort(key=lambda o: o.time)
    for i, op in enumerate(ops):
        op.index = i
    return ops


def test_partitions_per_key() -> None:
    ops = _keyed_history()
    seq = check(ops, "cas-register", parallel=False)
    assert seq.valid is True and seq.partitions_checked == 12
    bad_read = next(o for o in ops if o.type == "ok" and o.f == "read" and o.key == "k5")
    bad_read.value = 999
    seq = check(ops, "cas-register", parallel=False)
    assert seq.valid is False and seq.failures[0]["key"] == "k5"


def _spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls: list[int] = []
    real = getattr(lin, name)

    def spy(*a: Any) -> Any:
        calls.append(1)
        return real(*a)

    monkeypatch.setattr(lin, name, spy)
    return calls


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("how", ["at once", "late"])
def test_parallel_checks_agree_with_serial(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Sharing partitions with a forked process, from the start (a large history) or once
    a check has run a while, gives the serial verdicts and reports."""
    monkeypatch.setattr(lin, "_workers", lambda: 2)
    if how == "at once":
        monkeypatch.setattr(lin, "PARALLEL_MIN_OPS", 0)
    else:
        monkeypatch.setattr(lin, "LATE_FORK_AFTER_S", -1.0)
    calls = _spy(monkeypatch, "_fork")
    ops = _keyed_history()
    res = check(ops, "cas-register")
    assert res.valid is True and res.partitions_checked == 12 and calls
    bad_read = next(o for o in ops if o.type == "ok" and o.f == "read" and o.key == "k5")
    bad_read.value = 999
    res = check(ops, "cas-register")
    assert res.valid is False and [f["key"] for f in res.failures] == ["k5"]
    assert 1 <= res.partitions_checked <= 12
    f = res.failures[0]
    assert f["ops"][f["failing_op"]]["output"] == 999


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_worker_that_dies_leaves_unknown_not_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked worker that dies (say, killed for memory) loses the partitions it took:
    they are unknown, so the check is unknown, never valid."""
    parent = __import__("os").getpid()
    real = lin._Scheduler._finished

    def finished(self: Any, P: Any, res: Any) -> Any:
        if __import__("os").getpid() != parent:
            raise MemoryError("killed")
        time.sleep(0.05)  # let the child take some partitions
        return real(self, P, res)

    monkeypatch.setattr(lin._Scheduler, "_finished", finished)
    monkeypatch.setattr(lin, "_workers", lambda: 2)
    monkeypatch.setattr(lin, "LATE_FORK_AFTER_S", -1.0)
    res = check(_keyed_history(), "cas-register")
    assert res.valid == "unknown" and "worker process failed" in res.reason


# --------------------------------------------------------------------- generated histories

_READ_MUTATION = {"cas-register": 999, "register": 999, "kv": "never-written",
                  "counter": -1, "set": [999], "fifo-queue": 999}


def _sequential_op(rng: random.Random, model: str, state: Any) -> tuple[str, Any, Any, Any, str]:
    """One op of a sequential run: (f, invoke value, completion value, next state, type)."""
    if model in ("cas-register", "register"):
        r = rng.random()
        if r < 0.4:
            return "read", None, state, state, "ok"
        if r < 0.7 or model == "register":
            v = rng.randrange(4)
            return "write", v, v, v, "ok"
        a, b = rng.randrange(4), rng.randrange(4)
        return ("cas", [a, b], [a, b], b, "ok") if state == a else ("cas", [a, b], [a, b], state, "fail")
    if model == "kv":
        r = rng.random()
        if r < 0.4:
            return "get", None, state, state, "ok"
        v = rng.choice("abc")
        return ("put", v, v, v, "ok") if r < 0.6 else ("append", v, v, state + v, "ok")
    if model == "counter":
        if rng.random() < 0.4:
            return "read", None, state, state, "ok"
        n = rng.randrange(1, 4)
        return "add", n, n, state + n, "ok"
    if model == "set":
        if rng.random() < 0.4:
            return "read", None, sorted(state), state, "ok"
        x = rng.randrange(6)
        return "add", x, x, state | {x}, "ok"
    if model == "fifo-queue":
        if rng.random() < 0.5 or not state:
            x = rng.randrange(100)
            return "enqueue", x, x, state + (x,), "ok"
        return "dequeue", None, state[0], state[1:], "ok"
    if model == "mutex":
        return ("release", None, None, False, "ok") if state else ("acquire", None, None, True, "ok")
    raise AssertionError(model)


_INIT = {"cas-register": None, "register": None, "kv": "", "counter": 0, "set": frozenset(),
         "fifo-queue": (), "mutex": False}


def _random_history(rng: random.Random, model: str, n: int, conc: int = 4, info: float = 0.1,
                    key: Any = None, proc_base: int = 0) -> list[Op]:
    """A sequential run (op i takes effect at time 10*i) with random concurrent overlap.

    Some ops crash (``info``): they took effect or not; their process retires."""
    state = _INIT[model]
    spans = []
    for i in range(n):
        t = 10 * i + 5
        f, vin, vout, nstate, typ = _sequential_op(rng, model, state)
        crashed = rng.random() < info and f not in ("read", "get")
        took = (not crashed) or rng.random() < 0.5
        if crashed and not took:
            nstate = state
        if typ == "fail" and crashed:
            typ, nstate = "info", state
        state = nstate if (typ == "ok" or (crashed and took)) else state
        call = t - rng.randrange(1, 10 * conc)
        ret = t + rng.randrange(1, 10 * conc)
        spans.append((call, ret, f, vin, vout, "info" if crashed else typ))
    spans.sort(key=lambda sp: (sp[0], sp[1]))
    free_at: dict[int, int] = {}
    next_proc = proc_base
    events = []
    for call, ret, f, vin, vout, typ in spans:
        proc = next((p for p, t in sorted(free_at.items()) if t < call), None)
        if proc is None:
            proc, next_proc = next_proc, next_proc + 1
        if typ == "info":
            free_at.pop(proc, None)
            events.append((call, Op("invoke", proc, f, vin, key=key, time=call)))
            events.append((ret, Op("info", proc, f, None, key=key, time=ret, error="timed-out")))
            continue
        free_at[proc] = ret
        events.append((call, Op("invoke", proc, f, vin, key=key, time=call)))
        events.append((ret, Op(typ, proc, f, vout, key=key, time=ret)))
    events.sort(key=lambda e: e[0])
    ops = [op for _, op in events]
    for i, op in enumerate(ops):
        op.index = i
    validate(ops)
    return ops


MODELS_GEN = ["cas-register", "register", "kv", "counter", "set", "fifo-queue", "mutex"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(MODELS_GEN), seed=st.integers(0, 2**32 - 1),
       n=st.integers(1, 60), conc=st.integers(1, 6), info=st.sampled_from([0.0, 0.1, 0.3]))
def test_generated_histories_valid_and_mutated_invalid(model: str, seed: int, n: int, conc: int,
                                                       info: float) -> None:
    if model == "fifo-queue":
        # A crashed enqueue may land anywhere, so proving a queue history with crashed
        # enqueues *invalid* is exponential (the time limit turns it into unknown:
        # test_queue_blowup_is_unknown); the property is checked without them. Every
        # order of the enqueues behind the head is a distinct state, so even valid
        # queues grow exponentially with concurrency: some 25-op histories with 6
        # concurrent clients take minutes (with this checker and the previous one).
        n, conc, info = min(n, 16), min(conc, 4), 0.0
    rng = random.Random(seed)
    ops = _random_history(rng, model, n, conc, info)
    fco = model == "cas-register" and rng.random() < 0.5
    completed = any(o.type == "ok" or (fco and o.type == "fail" and o.f == "cas") for o in ops)
    res = check(ops, model, failed_cas_observes=fco)
    if not completed:  # nothing happened for sure: nothing is proven
        assert res.valid == "unknown" and "nothing to check" in res.reason
        return
    assert res.valid is True
    if model == "mutex":
        return
    reads = [o for o in ops if o.type == "ok" and o.f in ("read", "get", "dequeue")]
    assume(reads)
    rng.choice(reads).value = _READ_MUTATION[model]
    res = check(ops, model, failed_cas_observes=fco)
    assert res.valid is False
    f = res.failures[0]
    assert f["ops"][f["failing_op"]]["outcome"] in ("ok", "fail")


def _brute_force(ops: list[Op], model: str, fco: bool) -> bool:
    """Try every order that respects real time; info ops may be left out."""
    m = get_model(model)
    calls = [c for p in prepare(ops, m, fco) for c in p.calls]

    def go(done: frozenset, state: Any) -> bool:
        if all(c.ret is None or i in done for i, c in enumerate(calls)):
            return True
        for i, c in enumerate(calls):
            if i in done:
                continue
            if any(j not in done and d.ret is not None and d.ret < c.call
                   for j, d in enumerate(calls)):
                continue
            ok, ns = m.step(state, c.inp, c.out)
            if ok and go(done | {i}, ns):
                return True
        return False

    return go(frozenset(), m.init())


@settings(max_examples=400, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8),
       model=st.sampled_from(["cas-register", "counter", "fifo-queue", "mutex", "set", "kv",
                              "register"]),
       info=st.sampled_from([0.0, 0.3, 0.6]))
def test_agrees_with_brute_force_on_random_histories(seed: int, n: int, model: str,
                                                     info: float) -> None:
    """Random (mostly non-linearizable) small histories: same verdict as exhaustive search."""
    rng = random.Random(seed)
    ops = _random_history(rng, model, n, conc=3, info=info)
    flipped: set = set()
    for op in ops:  # scramble results so that many histories are invalid
        if model == "mutex":  # swap acquire/release of some ops
            if op.type == "invoke" and rng.random() < 0.3:
                flipped.add(op.process)
            if op.process in flipped:
                op.f = "release" if op.f == "acquire" else "acquire"
                if op.type != "invoke":
                    flipped.discard(op.process)
        elif op.type == "ok" and rng.random() < 0.3:
            if op.f in ("read", "dequeue", "get"):
                op.value = {"counter": rng.randrange(5), "set": rng.choice([[], [0], [1, 2]]),
                            "kv": rng.choice(["", "a", "ab", "ba", "abc", "c", "b", "aa"])}.get(
                    model, rng.choice([None, 0, 1, 2, 3]))
            elif op.f == "cas":
                op.type = "fail"
    try:
        validate(ops)
        fco = rng.random() < 0.5
        want: bool | str = _brute_force(ops, model, fco)
        completed = any(c.ret is not None for p in prepare(ops, get_model(model), fco) for c in p.calls)
    except Exception:  # noqa: BLE001 - a scrambled value the model cannot read
        assume(False)
        return
    if not completed:  # no op surely happened: valid, but proves nothing
        want = "unknown"
    assert check(ops, model, failed_cas_observes=fco).valid == want


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(200, 600),
       model=st.sampled_from(["cas-register", "kv", "fifo-queue"]))
def test_tiny_time_limit_is_unknown_never_valid(seed: int, n: int, model: str) -> None:
    ops = _random_history(random.Random(seed), model, n, conc=6, info=0.3)
    res = check(ops, model, time_limit=1e-6)
    assert res.valid == "unknown"
    assert "time limit" in res.reason


def test_time_runs_out_inside_a_hard_search() -> None:
    """Crashed enqueues that may land anywhere make this invalid queue history exponential."""
    ops = _random_history(random.Random(327197), "fifo-queue", 56, conc=1, info=0.3)
    reads = [o for o in ops if o.type == "ok" and o.f == "dequeue"]
    reads[-1].value = 999
    res = check(ops, "fifo-queue", time_limit=0.5)
    assert res.valid is not True
    if res.valid == "unknown":
        assert "time limit ran out (0.5s)" in res.reason


def test_first_invalid_partition_stops_a_hard_one() -> None:
    """As in Porcupine, one invalid partition decides; an exponential one is not waited for."""
    hard = _random_history(random.Random(327197), "fifo-queue", 56, conc=1, info=0.3)
    [o for o in hard if o.type == "ok" and o.f == "dequeue"][-1].value = 999
    for o in hard:
        o.key = "hard"
    bad = _h((1000, "invoke", "enqueue", 1, "bad"), (1000, "ok", "enqueue", 1, "bad"),
             (1001, "invoke", "dequeue", None, "bad"), (1001, "ok", "dequeue", 2, "bad"))
    res = check(hard + bad, "fifo-queue")  # no time limit
    assert res.valid is False
    assert [f["key"] for f in res.failures] == ["bad"]
    assert res.partitions_checked == 1


def test_queue_blowup_is_unknown() -> None:
    """Many crashed enqueues and an impossible dequeue: the search is exponential, and
    a short time limit must give "unknown" -- never "valid"."""
    ops: list[Op] = []
    for p in range(14):  # crashed enqueues: each may land anywhere, or never
        ops.append(Op("invoke", p, "enqueue", p, time=p))
        ops.append(Op("info", p, "enqueue", p, time=p + 1))
    ops.append(Op("invoke", 100, "dequeue", None, time=100))
    ops.append(Op("ok", 100, "dequeue", 999, time=101))  # never enqueued
    for i, o in enumerate(ops):
        o.index = i
    res = check(ops, "fifo-queue", time_limit=0.5)
    assert res.valid in (False, "unknown")
    assert res.valid is not True


# ------------------------------------------------- differential findings (issue 13, item 7)


def _write_read(written: Any, read: Any, model: str = "cas-register") -> bool | str:
    f_w, f_r = ("put", "get") if model == "kv" else ("write", "read")
    return check(_h((0, "invoke", f_w, written), (0, "ok", f_w, written),
                    (1, "invoke", f_r, None), (1, "ok", f_r, read)), model).valid


def test_values_of_different_json_types_never_compare_equal() -> None:
    """Found against Porcupine: after ``write 1`` a read of ``true`` passed (1 == True)."""
    for written, read in [(1, True), (True, 1), (0, False), (False, 0), (1, "1"), ("1", 1),
                          (None, False), ({"a": 1}, [["a", 1]]), ([1, True], [1, 1]),
                          ([["a", 1]], {"a": 1}), ({"a": True}, {"a": 1})]:
        assert _write_read(written, read) is False, (written, read)
    # JSON has one number type: equal numbers are equal values
    for written, read in [(1, 1.0), (True, True), ({"b": [1, None], "a": 2}, {"a": 2, "b": [1, None]})]:
        assert _write_read(written, read) is True, (written, read)
    assert _write_read("1", 1, "kv") is False
    assert _write_read("x", "x", "kv") is True
    with pytest.raises(ModelError, match="kv values are strings"):
        _write_read(1, "1", "kv")
    s = _h((0, "invoke", "add", True), (0, "ok", "add", True), (1, "invoke", "read", None),
           (1, "ok", "read", [1]))
    assert check(s, "set").valid is False
    c = _h((0, "invoke", "add", 1), (0, "ok", "add", 1), (1, "invoke", "read", None),
           (1, "ok", "read", True))
    assert check(c, "counter").valid is False
    with pytest.raises(ModelError, match="add needs a number"):
        check(_h((0, "invoke", "add", True), (0, "ok", "add", True)), "counter")


def _crashed_cas_history(n: int = 1000, read: Any = 7, seed: int = 1) -> list[Op]:
    """A written register, ``n`` crashed cas ops that may each have happened or not, then
    a read of a value nothing wrote: invalid, but only a search through every subset of
    the crashed ops (exponential) can tell."""
    rng = random.Random(seed)
    ev: list[tuple] = [(0, "invoke", "write", 0), (0, "ok", "write", 0)]
    ev += [(p, "invoke", "cas", [rng.randrange(5), rng.randrange(5)]) for p in range(1, n + 1)]
    ev += [(p, "info", "cas", None) for p in range(1, n + 1)]
    ev += [(n + 1, "invoke", "read", None), (n + 1, "ok", "read", read)]
    return _h(*ev)


def test_the_time_limit_holds_with_a_thousand_crashed_cas() -> None:
    """Found against Porcupine: ``--time-limit 5`` on such a history returned after 105 s
    (the clock was read every 1,024 search steps, and steps were slow). The issue asks for
    the limit to hold within 10 % plus 1 s."""
    ops = _crashed_cas_history()
    t = time.monotonic()
    res = check(ops, "cas-register", time_limit=1.0)
    elapsed = time.monotonic() - t
    assert res.valid == "unknown" and "time limit ran out (1s)" in res.reason
    assert elapsed < 1.0 * 1.1 + 1.0, elapsed
    assert check(_crashed_cas_history(read=3), "cas-register", time_limit=1.0).valid is True


def test_failing_op_does_not_depend_on_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found against Porcupine: on a loaded machine an invalid partition's details came
    back ``failing_op: None`` (they were searched again under a 5 s wall-clock budget).
    Now the replay is bounded by search work: a clock that jumps an hour at every look
    gives the very same report."""
    ops = _random_history(random.Random(15), "cas-register", 200, conc=4, info=0.1)
    [o for o in ops if o.type == "ok" and o.f == "read"][-3].value = 999
    parts, _ = lin._build(ops, get_model("cas-register"), False)
    assert lin._search(get_model("cas-register"), parts[0], None, 10**6)["work"] > lin.WORK_QUANTUM
    want = check(ops, "cas-register", parallel=False).to_dict()
    assert want["valid"] is False and want["failures"][0]["failing_op"] is not None
    hours = iter(range(10**9))
    real = time.monotonic
    monkeypatch.setattr(lin.time, "monotonic", lambda: real() + 3600 * next(hours))
    got = check(ops, "cas-register", parallel=False).to_dict()
    assert got["failures"] == want["failures"]
    assert got["reason"] == want["reason"]


def test_nothing_recorded_is_unknown_not_valid() -> None:
    """Found against Porcupine: an empty history, or one without a completed op, was
    valid, so a run that recorded nothing passed CI."""
    cases = {
        "empty": [],
        "only crashed": _h((0, "invoke", "write", 1), (0, "info", "write", None)),
        "only failed": _h((0, "invoke", "write", 1), (0, "fail", "write", 1)),
        "never completed": _h((0, "invoke", "write", 1)),
        "only the nemesis": _h(("nemesis", "invoke", "start", None),
                               ("nemesis", "info", "start", "partitioned")),
    }
    for what, ops in cases.items():
        res = check(ops, "cas-register")
        assert res.valid == "unknown", what
        assert res.reason.startswith("nothing to check"), what
        assert res.to_dict()["valid"] == "unknown"
    # a failed cas that is an observation did complete
    obs = _h((0, "invoke", "cas", [1, 2]), (0, "fail", "cas", [1, 2]))
    assert check(obs, "cas-register", failed_cas_observes=True).valid is True
    assert check(obs, "cas-register").valid == "unknown"

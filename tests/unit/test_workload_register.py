"""The register workload: op shapes, apply() through FakeClient, its checkers, -w cas=false."""

from __future__ import annotations

import pytest
from fakes import FakeClient, hist, take

from splitbrain.clusters.system import CAS, READ, WRITE
from splitbrain.errors import ClientError, HarnessError
from splitbrain.workloads import WORKLOADS, get_workload
from splitbrain.workloads.base import WorkloadConfig
from splitbrain.workloads.generator import OpSpec
from splitbrain.workloads.register import RegisterWorkload


def make(**kw) -> RegisterWorkload:
    return RegisterWorkload(WorkloadConfig(concurrency=4, ops_per_key=10,
                                           options={"run-id": "t"}, **kw))


def test_registry_knows_every_workload() -> None:
    assert set(WORKLOADS) == {"register", "counter", "set", "append", "lock", "bank"}
    for name in WORKLOADS:
        cls = get_workload(name)
        assert cls.name == name
        assert cls.requires, name
    with pytest.raises(HarnessError, match="--workload nope: unknown workload"):
        get_workload("nope")


def test_generator_shapes_and_independent_keys() -> None:
    w = make(group_size=2)
    ops = take(w.generator(), 200, workers=4)
    assert len(ops) == 200
    fs = {op.f for op in ops}
    assert fs == {"read", "write", "cas"}
    for op in ops:
        assert op.key.startswith("r-t-")
        if op.f == "read":
            assert op.value is None
        elif op.f == "write":
            assert 0 <= op.value <= 4
        else:
            assert len(op.value) == 2 and all(0 <= v <= 4 for v in op.value)
    # two groups of 2 workers, 10 ops per key: 200 ops -> 20 keys, never more than 10 each
    per_key: dict[str, int] = {}
    for op in ops:
        per_key[op.key] = per_key.get(op.key, 0) + 1
    assert len(per_key) == 20 and max(per_key.values()) == 10


def test_apply_read_write_cas() -> None:
    w, c = make(), FakeClient()
    assert w.apply(c, OpSpec("read", None, "k")) == ("ok", None)
    assert w.apply(c, OpSpec("write", 3, "k")) == ("ok", 3)
    assert w.apply(c, OpSpec("cas", [1, 2], "k")) == ("fail", [1, 2])
    assert w.apply(c, OpSpec("cas", [3, 4], "k")) == ("ok", [3, 4])
    assert w.apply(c, OpSpec("read", None, "k")) == ("ok", 4)


def test_apply_propagates_client_errors() -> None:
    w, c = make(), FakeClient()
    c.inject("cas", ClientError("refused", definite=True))
    with pytest.raises(ClientError) as e:
        w.apply(c, OpSpec("cas", [None, 1], "k"))
    assert e.value.definite
    c.inject("write", ClientError("timeout", definite=False), applied=True)
    with pytest.raises(ClientError) as e:
        w.apply(c, OpSpec("write", 2, "k"))
    assert not e.value.definite


def test_checker_finds_stale_read_and_passes_good_history() -> None:
    w = make()
    lin = w.checkers()[0]
    assert w.model() == "cas-register"
    good = hist([(0, "invoke", "write", 1, "k"), (0, "ok", "write", 1, "k"),
                 (1, "invoke", "read", None, "k"), (1, "ok", "read", 1, "k"),
                 (0, "invoke", "cas", [1, 2], "k"), (0, "fail", "cas", [1, 2], "k")])
    assert lin.check(good).to_json()["valid"] is True
    bad = hist([(0, "invoke", "write", 1, "k"), (0, "ok", "write", 1, "k"),
                (0, "invoke", "write", 2, "k"), (0, "ok", "write", 2, "k"),
                (1, "invoke", "read", None, "k"), (1, "ok", "read", 1, "k")])
    assert lin.check(bad).to_json()["valid"] is False
    # an info write may or may not have happened: reading its value is fine
    maybe = hist([(0, "invoke", "write", 3, "k"), (0, "info", "write", 3, "k"),
                  (1, "invoke", "read", None, "k"), (1, "ok", "read", 3, "k")])
    assert lin.check(maybe).to_json()["valid"] is True


def test_every_workload_declares_its_options_and_fills_defaults() -> None:
    from splitbrain.workloads import WORKLOAD_REGISTRY

    for name in WORKLOAD_REGISTRY:
        cls = WORKLOAD_REGISTRY.load(name)
        declared = cls.declared_options()
        assert "run-id" in declared
        for key, o in declared.items():
            assert o.help, f"{name} -w {key} has no help"
        w = cls(WorkloadConfig(options={"run-id": "t"}))
        assert set(w.config.options) == set(declared)   # every default filled in
        assert w.config.options["run-id"] == "t"


def test_final_phase_reads_every_key_once() -> None:
    """Lost acknowledged writes on keys the main phase moved away from still get read."""
    w = make(group_size=2)
    assert w.final_generator() is None          # nothing written yet
    main = take(w.generator(), 100, workers=4)
    keys = sorted({op.key for op in main})
    final = take(w.final_generator(), 1000, workers=4)
    assert sorted(op.key for op in final) == keys
    assert {(op.f, op.value) for op in final} == {("read", None)}


def make_rw(**kw) -> RegisterWorkload:
    return RegisterWorkload(WorkloadConfig(concurrency=4, ops_per_key=10,
                                           options={"run-id": "t", "cas": "false"}, **kw))


def test_cas_false_reads_and_writes_only() -> None:
    """-w cas=false: no cas in the mix or the needs; a plain register model."""
    w = make_rw()
    assert w.requires == frozenset({READ, WRITE})
    assert RegisterWorkload.requires == frozenset({READ, WRITE, CAS})
    assert make().requires == frozenset({READ, WRITE, CAS})
    ops = take(w.generator(), 300, workers=4)
    assert {op.f for op in ops} == {"read", "write"}
    assert w.model() == "register"
    lin = w.checkers()[0]
    assert lin.model == "register" and lin.fs == frozenset({"read", "write"})
    c = FakeClient(capabilities=frozenset({READ, WRITE}))
    assert w.apply(c, OpSpec("write", 2, "k")) == ("ok", 2)
    assert w.apply(c, OpSpec("read", None, "k")) == ("ok", 2)
    with pytest.raises(HarnessError, match="unknown op"):
        w.apply(c, OpSpec("cas", [2, 3], "k"))


def test_cas_false_checker_judges_read_write_histories() -> None:
    lin = make_rw().checkers()[0]
    good = hist([(0, "invoke", "write", 1, "k"), (0, "ok", "write", 1, "k"),
                 (1, "invoke", "read", None, "k"), (1, "ok", "read", 1, "k")])
    assert lin.check(good).to_json()["valid"] is True
    # a value seen, then unseen: the no-write-back quorum anomaly
    bad = hist([(0, "invoke", "write", 1, "k"),
                (1, "invoke", "read", None, "k"), (1, "ok", "read", 1, "k"),
                (2, "invoke", "read", None, "k"), (2, "ok", "read", None, "k")])
    assert lin.check(bad).to_json()["valid"] is False


def test_cas_option_declared_and_checked() -> None:
    o = RegisterWorkload.declared_options()["cas"]
    assert o.default is True and "false" in o.help
    assert make().use_cas is True
    with pytest.raises(HarnessError, match="-w cas=maybe"):
        RegisterWorkload(WorkloadConfig(options={"run-id": "t", "cas": "maybe"}))

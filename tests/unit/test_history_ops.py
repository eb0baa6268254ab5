"""The op model: the fast JSON line equals json.dumps of the op's dict, pairing records
positions, op counts."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.history.ops import Op, op_counts, pair

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10)


@settings(max_examples=400, deadline=None)
@given(typ=st.sampled_from(["invoke", "ok", "fail", "info"]),
       process=st.integers(0, 10**6) | st.just("nemesis"), f=st.text(), value=json_values,
       key=st.none() | st.text() | st.integers(), time=st.integers(0, 10**15),
       index=st.integers(0, 10**9), node=st.none() | st.text(), error=json_values,
       extra=st.dictionaries(st.sampled_from(["x", "y"]), json_values, max_size=1))
def test_fast_json_line_is_exactly_json_dumps(typ, process, f, value, key, time, index, node,
                                              error, extra) -> None:
    op = Op(typ, process, f, value, key, time=time, index=index, node=node, error=error,
            extra=extra)
    want = json.dumps(op.to_dict(), separators=(",", ":"), default=str)
    assert op.to_json() == want
    back = Op.from_dict(json.loads(op.to_json()))
    assert (back.type, back.process, back.f, back.time, back.index) == \
        (typ, process, f, time, index)


def test_pair_records_positions_and_lone_completions() -> None:
    ops = [Op("invoke", 0, "w", 1), Op("invoke", "nemesis", "start"), Op("invoke", 1, "r"),
           Op("ok", 0, "w", 1), Op("info", "nemesis", "start"), Op("ok", 2, "r", 5)]
    ps = pair(ops)
    assert [(p.invoke_pos, p.complete_pos, p.outcome) for p in ps] == \
        [(0, 3, "ok"), (2, None, "info"), (5, 5, "ok")]
    assert len(pair(ops, include_nemesis=True)) == 4
    assert op_counts(ops) == {"r": {"ok": 1, "fail": 0, "info": 1, "count": 2},
                              "w": {"ok": 1, "fail": 0, "info": 0, "count": 1}}

"""Grudge constructions: symmetry, majority/minority sizes, ring and bridge properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from splitbrain.errors import HarnessError
from splitbrain.nemesis import grudge as G
from splitbrain.nemesis.partition import plan_partition


def names_of(n: int) -> list[str]:
    return [f"n{i}" for i in range(1, n + 1)]


sizes = st.integers(min_value=3, max_value=11)
seeds = st.integers(min_value=0, max_value=2**32)


@given(sizes, seeds)
def test_isolate_one_is_symmetric_and_cuts_exactly_one_node(n: int, seed: int) -> None:
    names = names_of(n)
    target = random.Random(seed).choice(names)
    g = G.isolate(names, target)
    assert G.symmetric(g)
    assert g[target] == [x for x in names if x != target]
    for other in names:
        if other != target:
            assert g[other] == [target]
            assert len(G.visible(g, other, names)) == n - 1


@given(sizes, seeds)
def test_halves_split_into_minority_and_majority(n: int, seed: int) -> None:
    names = names_of(n)
    minority, majority = G.halves(names, random.Random(seed))
    assert sorted(minority + majority) == sorted(names)
    assert len(majority) == G.majority(n)
    assert len(minority) == n - G.majority(n) and len(minority) < len(majority)
    g = G.complete([minority, majority], names)
    assert G.symmetric(g)
    for a in minority:
        assert G.visible(g, a, names) == set(minority)
    for b in majority:
        assert G.visible(g, b, names) == set(majority)


@given(sizes, seeds)
def test_ring_every_node_sees_a_distinct_majority(n: int, seed: int) -> None:
    names = names_of(n)
    g, order = G.ring(names, random.Random(seed))
    assert sorted(order) == sorted(names)
    assert G.symmetric(g)
    assert any(g.values()), "a ring partition must cut something"
    views = [frozenset(G.visible(g, a, names)) for a in names]
    for v in views:
        assert len(v) >= G.majority(n)
    assert len(set(views)) == n, "no two nodes may see the same majority"


@given(sizes, seeds)
def test_bridge_has_one_node_seeing_both_halves(n: int, seed: int) -> None:
    names = names_of(n)
    g, bridge, _order = G.bridge(names, random.Random(seed))
    assert G.symmetric(g)
    assert g[bridge] == []
    assert G.visible(g, bridge, names) == set(names)
    left = [a for a in names if a != bridge and g[a]]
    # the others form two halves that cannot hear each other, both nonempty
    comps = {frozenset(G.visible(g, a, names)) for a in left}
    assert len(comps) == 2
    a, b = comps
    assert a & b == {bridge}
    assert a | b == set(names)


@given(sizes, seeds)
def test_one_way_keeps_only_one_direction(n: int, seed: int) -> None:
    names = names_of(n)
    minority, majority = G.halves(names, random.Random(seed))
    g = G.one_way(G.complete([minority, majority], names), minority + majority)
    assert not G.symmetric(g)
    for a in minority:
        assert set(g[a]) == set(majority)
    for b in majority:
        assert g[b] == []


def test_ring_and_bridge_refuse_too_few_nodes() -> None:
    with pytest.raises(HarnessError, match="at least 3 nodes"):
        G.ring(["n1", "n2"], random.Random(1))
    with pytest.raises(HarnessError, match="at least 3 nodes"):
        G.bridge(["n1", "n2"], random.Random(1))


def test_partition_picks_every_kind_and_each_grudge_is_symmetric() -> None:
    names = names_of(5)
    kinds = set()
    for seed in range(200):
        p = plan_partition("partition", random.Random(seed), names)
        kinds.add(p["kind"])
        if "grudge" in p:
            assert G.symmetric(p["grudge"]) and any(p["grudge"].values())
    assert kinds == set(G.PARTITION_KINDS)


def test_grudge_file(tmp_path) -> None:
    f = tmp_path / "g.toml"
    f.write_text('[grudge]\nn1 = ["n2", "n3"]\nn2 = ["n1"]\n')
    g = G.load_grudge_file(f, names_of(3))
    assert g == {"n1": ["n2", "n3"], "n2": ["n1"], "n3": []}
    f.write_text('[grudge]\nn1 = ["n9"]\n')
    with pytest.raises(HarnessError, match="unknown node 'n9'"):
        G.load_grudge_file(f, names_of(3))
    f.write_text('[grudge]\nn1 = "n2"\n')
    with pytest.raises(HarnessError, match="must be a list"):
        G.load_grudge_file(f, names_of(3))
    f.write_text("not toml [")
    with pytest.raises(HarnessError, match="not valid TOML"):
        G.load_grudge_file(f, names_of(3))
    with pytest.raises(HarnessError, match="does not exist"):
        G.load_grudge_file(tmp_path / "missing.toml", names_of(3))

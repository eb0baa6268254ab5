"""Grudges: who drops whose packets during a network partition.

A grudge maps a receiving node's name to the names of the nodes whose packets it
drops. The constructions here are pure functions of a node list and a
``random.Random`` so that a schedule is reproducible from its seed.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

from splitbrain.errors import HarnessError

Grudge = dict[str, list[str]]

#: the partition kinds a plain ``partition`` chooses among
PARTITION_KINDS = ("partition-one", "partition-halves", "partition-leader", "partition-ring",
                   "partition-bridge")


def majority(n: int) -> int:
    """The smallest number of nodes that is more than half of ``n``."""
    return n // 2 + 1


def normalize(grudge: Grudge, names: Sequence[str]) -> Grudge:
    """Every node as a key (in ``names`` order), drop lists sorted by ``names`` order."""
    order = {n: i for i, n in enumerate(names)}
    return {n: sorted(set(grudge.get(n, [])), key=order.__getitem__) for n in names}


def complete(components: Sequence[Iterable[str]], names: Sequence[str]) -> Grudge:
    """A grudge in which every component drops every node outside it."""
    comps = [set(c) for c in components]
    g: Grudge = {}
    for c in comps:
        others = [n for n in names if n not in c]
        for n in c:
            g[n] = others
    return normalize(g, names)


def one_way(grudge: Grudge, rank: Sequence[str]) -> Grudge:
    """Keep only drops where the receiver comes before the sender in ``rank``.

    Used for asymmetric partitions: the first-ranked side (the isolated node, the
    minority) stops hearing the rest while its own packets still get through.
    """
    pos = {n: i for i, n in enumerate(rank)}
    return normalize({a: [b for b in bs if pos[a] < pos[b]] for a, bs in grudge.items()}, rank)


def symmetric(grudge: Grudge) -> bool:
    """True if whenever a drops b, b drops a."""
    return all(a in grudge.get(b, []) for a, bs in grudge.items() for b in bs)


def visible(grudge: Grudge, node: str, names: Sequence[str]) -> set[str]:
    """The nodes whose packets ``node`` receives (itself included)."""
    dropped = set(grudge.get(node, []))
    return {n for n in names if n not in dropped}


def _need(kind: str, names: Sequence[str], at_least: int) -> None:
    if len(names) < at_least:
        raise HarnessError(f"{kind} needs at least {at_least} nodes, the cluster has "
                           f"{len(names)}: use more --nodes or another --nemesis")


def isolate(names: Sequence[str], target: str) -> Grudge:
    """``target`` and the rest cannot hear each other."""
    if target not in names:
        raise HarnessError(f"cannot isolate {target!r}: not one of {', '.join(names)}")
    return complete([[target], [n for n in names if n != target]], names)


def halves(names: Sequence[str], rng: random.Random) -> tuple[list[str], list[str]]:
    """A random minority and majority (the minority first)."""
    _need("partition-halves", names, 2)
    shuffled = list(names)
    rng.shuffle(shuffled)
    k = len(names) - majority(len(names))
    return shuffled[:k], shuffled[k:]


def ring(names: Sequence[str], rng: random.Random) -> tuple[Grudge, list[str]]:
    """Majorities ring: every node sees a majority and no two nodes see the same one.

    Nodes sit on a shuffled ring; each hears the nodes within ``h`` steps of it
    (``2h + 1 >= majority``) and drops the rest, which is symmetric. With three
    nodes every node is within one step, so a single link is cut instead.
    """
    _need("partition-ring", names, 3)
    order = list(names)
    rng.shuffle(order)
    n = len(order)
    if n == 3:
        return normalize({order[0]: [order[1]], order[1]: [order[0]]}, names), order
    h = majority(n) // 2               # = ceil((majority - 1) / 2)
    g: Grudge = {}
    for i, a in enumerate(order):
        g[a] = [b for j, b in enumerate(order) if min((i - j) % n, (j - i) % n) > h]
    return normalize(g, names), order


def bridge(names: Sequence[str], rng: random.Random) -> tuple[Grudge, str, list[str]]:
    """Two halves that cannot hear each other and one bridge node that hears both."""
    _need("partition-bridge", names, 3)
    order = list(names)
    rng.shuffle(order)
    mid = len(order) // 2
    left, bridge_node, right = order[:mid], order[mid], order[mid + 1:]
    g: Grudge = {n: list(right) for n in left}
    g.update({n: list(left) for n in right})
    g[bridge_node] = []
    return normalize(g, names), bridge_node, order


def load_grudge_file(path: str | Path, names: Sequence[str]) -> Grudge:
    """Read an explicit grudge from TOML: ``[grudge]`` then ``n1 = ["n2", "n3"]``."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise HarnessError(f"grudge file {p} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise HarnessError(f"grudge file {p} is not valid TOML: {e}") from None
    table = data.get("grudge")
    if not isinstance(table, dict) or not table:
        raise HarnessError(f"grudge file {p} needs a [grudge] table such as "
                           f"n1 = [\"n2\", \"n3\"]")
    return check_grudge(table, names, str(p))


def check_grudge(table: dict, names: Sequence[str], source: str = "grudge") -> Grudge:
    """Validate an explicit grudge against the cluster's node names."""
    known = set(names)
    for a, bs in table.items():
        if a not in known:
            raise HarnessError(f"{source}: unknown node {a!r} (nodes: {', '.join(names)})")
        if not isinstance(bs, list) or not all(isinstance(b, str) for b in bs):
            raise HarnessError(f"{source}: {a} must be a list of node names")
        for b in bs:
            if b not in known:
                raise HarnessError(f"{source}: unknown node {b!r} in {a}'s list "
                                   f"(nodes: {', '.join(names)})")
            if b == a:
                raise HarnessError(f"{source}: {a} cannot drop its own packets")
    return normalize(table, names)


def describe(grudge: Grudge) -> str:
    """A short text for the live display: the cut links, e.g. ``n1xn2, n1xn3``."""
    cuts = sorted({tuple(sorted((a, b))) for a, bs in grudge.items() for b in bs})
    return ", ".join(f"{a}x{b}" for a, b in cuts) or "no cuts"

"""Network partitions: grudges applied with iptables inside each receiving node.

Every rule we add lives in our own chain ``SPLITBRAIN``, jumped to from INPUT by
a rule commented ``splitbrain``, so healing removes exactly ours and
``splitbrain cluster heal`` can find leftovers. Rules are only ever made on nodes
with their own network stack (containers, namespaces, remote hosts).
"""

from __future__ import annotations

import random
import shlex
from typing import Any

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import System
from splitbrain.errors import HarnessError
from splitbrain.nemesis import grudge as G
from splitbrain.nemesis.fault import Context, Fault, each, require_isolated

CHAIN = "SPLITBRAIN"
COMMENT = "splitbrain"
IPT = "iptables -w"
_JUMP = f"INPUT -m comment --comment {COMMENT} -j {CHAIN}"


def ensure_chain_script() -> str:
    """Shell that creates our chain and its jump from INPUT, once."""
    return (f"{IPT} -N {CHAIN} 2>/dev/null; "
            f"{IPT} -C {_JUMP} 2>/dev/null || {IPT} -I {_JUMP.replace('INPUT', 'INPUT 1', 1)}")


def drop_rule(source: str, probability: float | None = None) -> str:
    """One ``-A`` rule dropping packets from ``source`` (with a probability if given)."""
    stat = (f" -m statistic --mode random --probability {probability:.4f}"
            if probability is not None else "")
    return f"{IPT} -A {CHAIN} -s {shlex.quote(source)}{stat} -m comment --comment {COMMENT} -j DROP"


def clear_script() -> str:
    """Shell that removes our chain and jump if present; prints ``removed`` if it did."""
    return (f"if {IPT} -S {CHAIN} >/dev/null 2>&1; then {IPT} -F {CHAIN}; "
            f"while {IPT} -D {_JUMP} 2>/dev/null; do :; done; {IPT} -X {CHAIN} && echo removed; "
            f"fi")


def apply_drops(node: Node, sources: list[str], probability: float | None = None) -> None:
    """Make ``node`` drop packets from every address in ``sources``."""
    script = "set -e; " + ensure_chain_script() + "; " + "; ".join(
        drop_rule(s, probability) for s in sources)
    node.exec(["sh", "-c", script], timeout=30)


def clear_drops(node: Node) -> bool:
    """Remove every rule of ours from ``node``; True if there was something to remove."""
    r = node.exec(["sh", "-c", clear_script()], check=False, timeout=30)
    if r.rc != 0:
        raise HarnessError(f"could not remove splitbrain's iptables rules on {node.name}: "
                           f"{(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return "removed" in r.stdout


def our_rules(node: Node) -> list[str]:
    """Our rules still on ``node`` (``iptables -S`` lines naming our chain or comment)."""
    r = node.exec(["sh", "-c", f"{IPT} -S"], check=False, timeout=30)
    return [ln for ln in r.stdout.splitlines() if CHAIN in ln or COMMENT in ln]


def check_iptables(nodes: list[Node], fault: str) -> None:
    """Refuse early when a node has no usable iptables."""
    def probe(n: Node) -> None:
        r = n.exec(["sh", "-c", f"{IPT} -S INPUT >/dev/null"], check=False, timeout=30)
        if r.rc != 0:
            why = (r.stderr.strip().splitlines() or [f"exit {r.rc}"])[-1]
            raise HarnessError(f"{fault} needs iptables on the nodes, but on {n.name}: {why}")
    each(nodes, probe)


class Partition(Fault):
    """Cut links between nodes as a grudge. ``name`` is the kind (``partition`` = any)."""

    start_f = "start-partition"
    stop_f = "stop-partition"

    def __init__(self, ctx: Context, name: str | None = "partition") -> None:
        super().__init__(ctx, name or "partition")
        self.symmetric = _bool_option(ctx.options.get("symmetric", "true"), "symmetric")
        self.explicit: G.Grudge | None = None
        if name == "partition-grudge":
            self.options = (*self.options, "grudge_file")
        if name == "partition-grudge" and ctx.options.get("grudge_file"):
            self.explicit = G.load_grudge_file(ctx.options["grudge_file"], ctx.names)

    def _need_grudge(self) -> None:
        if self.name == "partition-grudge" and self.explicit is None:
            raise HarnessError("partition-grudge needs the option grudge_file=PATH (a TOML file "
                               "with [grudge] n1 = [\"n2\", \"n3\"])")

    network = True
    min_nodes = 2
    options = ("symmetric",)

    def check_plan(self, system: type[System], n_nodes: int, isolated: bool) -> None:
        super().check_plan(system, n_nodes, isolated)
        if self.name in ("partition-ring", "partition-bridge") and n_nodes < 3:
            raise HarnessError(f"--nemesis {self.name}: needs at least 3 nodes, the test has "
                               f"{n_nodes}: use partition-one or partition-halves")
        self._need_grudge()

    def check(self) -> None:
        self._need_grudge()
        n = len(self.ctx.nodes)
        if n < 2:
            raise HarnessError(f"{self.name} needs at least 2 nodes, the cluster has {n}")
        if self.name in ("partition-ring", "partition-bridge") and n < 3:
            raise HarnessError(f"{self.name} needs at least 3 nodes, the cluster has {n}: "
                               f"use partition-one or partition-halves")
        require_isolated(self.name, self.ctx.nodes)
        check_iptables(self.ctx.nodes, self.name)

    def choose(self, rng: random.Random, names: list[str]) -> dict[str, Any]:
        self._need_grudge()
        return plan_partition(self.name, rng, names, self.explicit, self.symmetric)

    def resolve(self, choice: dict[str, Any]) -> dict[str, Any]:
        names = self.ctx.names
        detail = {k: v for k, v in choice.items() if k != "fallback"}
        if choice["kind"] in ("partition-leader", "partition-follower"):
            leader = self.ctx.leader()
            if choice["kind"] == "partition-leader":
                target = leader if leader is not None else choice["fallback"]
            else:   # one of the nodes that are not the leader, by the planned draw
                followers = [n for n in names if n != leader]
                target = followers[min(int(choice["pick"] * len(followers)),
                                       len(followers) - 1)]
            g = G.isolate(names, target)
            if not self.symmetric:
                g = G.one_way(g, [target] + [n for n in names if n != target])
            detail.update(grudge=g, leader=leader, nodes=[target])
            detail.pop("pick", None)
        detail["addresses"] = {n.name: n.address for n in self.ctx.nodes}
        return detail

    def apply(self, detail: dict[str, Any]) -> Any:
        addrs = detail["addresses"]
        receivers = [self.ctx.node(a) for a, bs in detail["grudge"].items() if bs]
        each(receivers, lambda n: apply_drops(n, [addrs[b] for b in detail["grudge"][n.name]]))
        return detail["grudge"]

    def heal(self, detail: dict[str, Any]) -> Any:
        nodes = [self.ctx.node(a) for a in detail["grudge"] if a in self.ctx.names]
        cleared = each(nodes, clear_drops)
        return {"healed": [n.name for n, c in zip(nodes, cleared, strict=True) if c]}

    def describe(self, detail: dict[str, Any]) -> str:
        return f"{detail['kind']} {G.describe(detail['grudge'])}"


def plan_partition(name: str, rng: random.Random, names: list[str],
                   explicit: G.Grudge | None = None, symmetric: bool = True) -> dict[str, Any]:
    """Plan one partition of kind ``name`` (``partition`` picks a kind at random)."""
    if name == "partition":
        kinds = [k for k in G.PARTITION_KINDS
                 if len(names) >= 3 or k not in ("partition-ring", "partition-bridge")]
        kind = rng.choice(kinds)
    else:
        kind = name
    if kind == "partition-grudge":
        assert explicit is not None
        return {"kind": kind, "grudge": explicit}
    if kind == "partition-one":
        target = rng.choice(names)
        g = G.isolate(names, target)
        rank = [target] + [n for n in names if n != target]
        out = {"kind": kind, "nodes": [target]}
    elif kind == "partition-leader":
        return {"kind": kind, "fallback": rng.choice(names)}
    elif kind == "partition-follower":
        return {"kind": kind, "fallback": rng.choice(names), "pick": rng.random()}
    elif kind == "partition-halves":
        minority, majority = G.halves(names, rng)
        g = G.complete([minority, majority], names)
        rank = minority + majority
        out = {"kind": kind, "components": [minority, majority]}
    elif kind == "partition-ring":
        g, rank = G.ring(names, rng)
        out = {"kind": kind, "ring": rank}
    elif kind == "partition-bridge":
        g, bridge_node, rank = G.bridge(names, rng)
        out = {"kind": kind, "bridge": bridge_node}
    else:
        raise HarnessError(f"unknown partition kind {kind!r}")
    out["grudge"] = g if symmetric else G.one_way(g, rank)
    return out


def _bool_option(v: str, key: str) -> bool:
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise HarnessError(f"nemesis option {key}={v}: expected true or false")

"""Packet faults: random loss with iptables' statistic match, and netem (delay,
duplication, reordering) with ``tc`` where the kernel has the netem qdisc.

Netem is detected inside a node before a run starts; where the kernel lacks it
the fault is refused with one line, never silently skipped.
"""

from __future__ import annotations

import random
import shlex
from typing import Any

from splitbrain.clusters.node import Node
from splitbrain.errors import HarnessError
from splitbrain.nemesis.fault import (
    Context,
    Fault,
    each,
    isolated_network,
    pick_targets,
    require_isolated,
)
from splitbrain.nemesis.partition import apply_drops, check_iptables, clear_drops

_PROBE_HANDLE = "5b1:"


def _float_option(ctx: Context, key: str, default: float, lo: float, hi: float) -> float:
    raw = ctx.options.get(key)
    if raw is None:
        return default
    try:
        v = float(raw)
    except ValueError:
        raise HarnessError(f"nemesis option {key}={raw}: expected a number") from None
    if not lo <= v <= hi:
        raise HarnessError(f"nemesis option {key}={raw}: expected a value in [{lo:g}, {hi:g}]")
    return v


class PacketLoss(Fault):
    """Each target node drops a random share of the packets it gets from the other nodes."""

    name = "packet-loss"
    network = True
    options = ("loss",)
    start_f = "start-packet-loss"
    stop_f = "stop-packet-loss"

    def __init__(self, ctx: Context, name: str | None = None) -> None:
        super().__init__(ctx, name)
        self.probability = _float_option(ctx, "loss", 0.2, 0.0, 1.0)

    def check(self) -> None:
        require_isolated(self.name, self.ctx.nodes)
        check_iptables(self.ctx.nodes, self.name)

    def choose(self, rng: random.Random, names: list[str]) -> dict[str, Any]:
        return {"targets": pick_targets(rng, names, self.ctx.targets),
                "fallback": rng.choice(names)}

    def resolve(self, choice: dict[str, Any]) -> dict[str, Any]:
        return {"nodes": _resolve(self.ctx, choice), "probability": self.probability,
                "addresses": {n.name: n.address for n in self.ctx.nodes}}

    def apply(self, detail: dict[str, Any]) -> Any:
        addrs = detail["addresses"]
        each([self.ctx.node(n) for n in detail["nodes"]],
             lambda n: apply_drops(n, [a for m, a in addrs.items() if m != n.name],
                                   detail["probability"]))
        return {"nodes": detail["nodes"], "probability": detail["probability"]}

    def heal(self, detail: dict[str, Any]) -> Any:
        nodes = [self.ctx.node(n) for n in detail["nodes"]]
        each(nodes, clear_drops)
        return {"nodes": detail["nodes"]}

    def describe(self, detail: dict[str, Any]) -> str:
        return f"packet-loss {detail['probability']:.0%} {' '.join(detail['nodes'])}"


def _resolve(ctx: Context, choice: dict[str, Any]) -> list[str]:
    if choice["targets"] == "leader":
        ld = ctx.leader()
        return [ld if ld is not None else choice["fallback"]]
    return list(choice["targets"])


# -- netem ------------------------------------------------------------------------

def detect_netem(node: Node) -> tuple[bool, str]:
    """Whether ``node``'s kernel has the netem qdisc: (answer, how we know).

    Tries to add (and at once remove) a netem qdisc on the node's loopback; the
    kernel's "unknown qdisc kind" is a definite no. Anything else we can't
    interpret (no ``tc``, no permission) is a HarnessError, not a guess.
    """
    if not isolated_network(node):
        raise HarnessError(f"netem needs nodes with their own network stack; {node.name} shares "
                           f"this host's network (local backend): use --backend docker or netns")
    if node.exec(["sh", "-c", "test -d /sys/module/sch_netem"], check=False).rc == 0:
        return True, "sch_netem module loaded"
    script = (f"command -v tc >/dev/null || {{ echo 'tc not installed'; exit 4; }}; "
              f"tc qdisc add dev lo root handle {_PROBE_HANDLE} netem delay 0ms 2>&1 || exit 3; "
              f"tc qdisc del dev lo root handle {_PROBE_HANDLE} 2>&1; echo added")
    r = node.exec(["sh", "-c", script], check=False, timeout=30)
    out = (r.stdout + r.stderr).strip()
    if r.rc == 0:
        return True, "a netem qdisc could be added"
    low = out.lower()
    if r.rc == 3 and ("unknown" in low or "no such file" in low or "not supported" in low):
        return False, f"the kernel has no netem qdisc ({out.splitlines()[-1]})"
    last = out.splitlines()[-1] if out else f"exit {r.rc}"
    raise HarnessError(f"could not tell whether {node.name} has netem: {last}")


def interface_of(node: Node) -> str:
    """The network interface carrying ``node.address`` inside the node."""
    script = ("ip -o -4 addr show | awk -v a=" + shlex.quote(node.address)
              + " '{split($4, p, \"/\"); if (p[1] == a) {print $2; exit}}'")
    r = node.exec(["sh", "-c", script], check=False, timeout=30)
    iface = r.stdout.strip().split("@")[0]
    if not iface:
        raise HarnessError(f"no interface with address {node.address} on {node.name}")
    return iface


def clear_netem(node: Node) -> list[str]:
    """Remove every root netem qdisc on ``node``'s interfaces; return the interfaces."""
    script = ("for d in $(ls /sys/class/net); do "
              "if tc qdisc show dev $d 2>/dev/null | grep -q '^qdisc netem .* root'; then "
              "tc qdisc del dev $d root && echo $d; fi; done")
    r = node.exec(["sh", "-c", script], check=False, timeout=30)
    return r.stdout.split()


class Netem(Fault):
    """Delay, duplicate and reorder the packets target nodes send, with ``tc ... netem``."""

    name = "netem"
    network = True
    options = ("netem_delay_ms", "netem_jitter_ms", "netem_duplicate", "netem_reorder")
    start_f = "start-netem"
    stop_f = "stop-netem"

    def __init__(self, ctx: Context, name: str | None = None) -> None:
        super().__init__(ctx, name)
        self.delay_ms = _float_option(ctx, "netem_delay_ms", 50.0, 0.0, 60000.0)
        self.jitter_ms = _float_option(ctx, "netem_jitter_ms", 10.0, 0.0, 60000.0)
        self.duplicate = _float_option(ctx, "netem_duplicate", 1.0, 0.0, 100.0)
        self.reorder = _float_option(ctx, "netem_reorder", 10.0, 0.0, 100.0)

    def check(self) -> None:
        require_isolated(self.name, self.ctx.nodes)
        ok, why = detect_netem(self.ctx.nodes[0])
        if not ok:
            raise HarnessError(f"netem is not available on {self.ctx.nodes[0].name}: {why}; "
                               f"use packet-loss instead, or a host whose kernel has sch_netem")

    def choose(self, rng: random.Random, names: list[str]) -> dict[str, Any]:
        return {"targets": pick_targets(rng, names, self.ctx.targets),
                "fallback": rng.choice(names)}

    def resolve(self, choice: dict[str, Any]) -> dict[str, Any]:
        nodes = _resolve(self.ctx, choice)
        return {"nodes": nodes,
                "interfaces": {n: interface_of(self.ctx.node(n)) for n in nodes},
                "netem": self.netem_args()}

    def netem_args(self) -> str:
        """The ``tc ... netem`` arguments for the configured delay/duplicate/reorder."""
        args = f"delay {self.delay_ms:g}ms"
        if self.jitter_ms:
            args += f" {self.jitter_ms:g}ms distribution normal"
        if self.duplicate:
            args += f" duplicate {self.duplicate:g}%"
        if self.reorder:
            args += f" reorder {self.reorder:g}% 50%"
        return args

    def apply(self, detail: dict[str, Any]) -> Any:
        def go(n: Node) -> None:
            iface = detail["interfaces"][n.name]
            n.exec(["sh", "-c", f"tc qdisc replace dev {shlex.quote(iface)} root netem "
                                f"{detail['netem']}"], timeout=30)
        each([self.ctx.node(n) for n in detail["nodes"]], go)
        return {"nodes": detail["nodes"], "netem": detail["netem"]}

    def heal(self, detail: dict[str, Any]) -> Any:
        each([self.ctx.node(n) for n in detail["nodes"]], clear_netem)
        return {"nodes": detail["nodes"]}

    def describe(self, detail: dict[str, Any]) -> str:
        return f"netem {detail['netem']} {' '.join(detail['nodes'])}"

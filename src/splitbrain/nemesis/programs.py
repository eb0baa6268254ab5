"""Nemesis programs: several faults active at once, on a seeded schedule.

The classic schedule (:mod:`splitbrain.nemesis.schedule`) applies one fault, waits,
heals, waits. Real outages overlap, and the classic Raft hazards need them to:

* ``mixed`` — Jepsen's combined nemesis: partitions, kills and pauses (``-O
  mix=...`` picks the kinds) start and heal on a random schedule, so a follower is
  cut off while the leader is killed or paused, and faults heal in another order
  than they were applied. Each kind has one *lane* (one active fault per lane;
  partitions and packet loss share the network lane); process faults together hit
  at most a minority of the nodes. The gap between two actions is drawn around
  ``--nemesis-interval`` (sub-second intervals are fine).
* ``lagging-leader`` — a minority of followers is cut off long enough to fall
  behind; then the leader (with the up-to-date nodes it does not need) is cut off
  while the laggards rejoin, so a laggard can only win the election if votes skip
  the log up-to-date check; then everything heals.
* ``crash-uncommitted`` — the leader is cut off, keeps appending client writes it
  cannot commit, and is killed while still cut off; the rest elect a new leader;
  the old one comes back later with its uncommitted tail.
* ``leader-churn`` — the leader is paused or killed for half an interval, then
  healed, over and over: many leader changes, each followed at once by reads.

Every action is a normal fault of :mod:`splitbrain.nemesis` (recorded as ops of
process ``nemesis``, journaled, healed at the end, on Ctrl-C and after a crash).
``Mixed.plan`` is a pure function of the seed and the node names; the scenarios
draw their choices per cycle from the seed, and read only the live leader.
"""

from __future__ import annotations

import random
import threading
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from splitbrain.clusters.system import System
from splitbrain.errors import HarnessError
from splitbrain.nemesis import grudge as G
from splitbrain.nemesis.fault import Context, Fault
from splitbrain.nemesis.faults import make_fault

#: ``--nemesis`` names that are programs, with a line of help
PROGRAMS: dict[str, str] = {
    "mixed": "overlapping faults (-O mix=partition,kill,pause by default) on a random "
             "schedule, healed in random order",
    "lagging-leader": "cut off followers until they fall behind, then cut off the leader "
                      "as they rejoin (elections a laggard must not win)",
    "crash-uncommitted": "cut off the leader, kill it while it holds writes it could not "
                         "commit, heal, restart it later",
    "leader-churn": "pause or kill the leader for half an interval, again and again "
                    "(reads right after each leader change)",
}

NET_KINDS = ("partition", "packet-loss")
PROCESS_KINDS = ("kill", "pause")
MIX_KINDS = ("partition", "packet-loss", "kill", "pause", "clock")
DEFAULT_MIX = ("partition", "kill", "pause")
#: the partition kinds ``mixed`` draws from (ring and bridge need 3 nodes)
MIX_PARTITIONS = ("partition-one", "partition-leader", "partition-follower", "partition-halves",
                  "partition-ring", "partition-bridge")


def lane_of(kind: str) -> str:
    """The lane of a fault kind: at most one active fault per lane."""
    return "net" if kind in NET_KINDS else kind


def program_rng(name: str, seed: int, i: int) -> random.Random:
    """The random stream of step (or cycle) ``i`` of program ``name``."""
    return random.Random(f"splitbrain-nemesis:{name}:{seed}:{i}")


def parse_mix(raw: str | None) -> tuple[str, ...]:
    """``-O mix=partition,kill`` -> the fault kinds of ``mixed`` (one-line error if unknown)."""
    if raw is None or not str(raw).strip():
        return DEFAULT_MIX
    kinds: list[str] = []
    for k in str(raw).replace("+", ",").split(","):
        k = k.strip()
        if not k:
            continue
        if k not in MIX_KINDS:
            raise HarnessError(f"nemesis option mix={raw}: unknown kind {k!r} (choose from "
                               f"{', '.join(MIX_KINDS)})")
        if k not in kinds:
            kinds.append(k)
    if not kinds:
        raise HarnessError(f"nemesis option mix={raw}: name at least one kind")
    return tuple(kinds)


def needs_leader(system: System | None, program: str) -> None:
    """Refuse a leader-targeting scenario for a system that cannot name its leader."""
    if system is not None and type(system).leader is System.leader:
        raise HarnessError(f"--nemesis {program} targets the leader, but system "
                           f"{system.name!r} does not report one (System.leader)")


class Program(ABC):
    """A schedule that drives the nemesis's apply / heal_fault primitives itself."""

    name: ClassVar[str]

    def __init__(self, ctx: Context, *, interval: float, seed: int) -> None:
        self.ctx = ctx
        self.interval = interval
        self.seed = seed

    @abstractmethod
    def fault_names(self) -> list[str]:
        """The faults this program applies (built, checked and prepared by the nemesis)."""

    def check(self) -> None:
        """Refuse (one line) what the program cannot do on this cluster."""

    @abstractmethod
    def plan(self, names: list[str], n: int) -> list[dict[str, Any]]:
        """The first ``n`` steps or cycles, as far as they don't depend on the live cluster."""

    @abstractmethod
    def run(self, nem: Any, stop: threading.Event) -> None:
        """Apply and heal faults through ``nem`` until ``stop`` is set."""

    def _leader(self, fallback: str) -> str:
        return self.ctx.leader() or fallback


class Mixed(Program):
    """Overlapping faults of several kinds, started and healed in a seeded random order."""

    name = "mixed"

    def __init__(self, ctx: Context, *, interval: float, seed: int) -> None:
        super().__init__(ctx, interval=interval, seed=seed)
        self.kinds = parse_mix(ctx.options.get("mix"))
        self.symmetric = str(ctx.options.get("symmetric", "true")).lower() not in (
            "0", "false", "no", "off")

    def fault_names(self) -> list[str]:
        return list(self.kinds)

    def step(self, i: int, names: list[str], active: list[str], processes: int
             ) -> dict[str, Any]:
        """Plan step ``i`` given the active lanes (in order of application)."""
        rng = program_rng(self.name, self.seed, i)
        wait = round(self.interval * rng.uniform(0.5, 1.5), 3)
        budget = max(1, (len(names) - 1) // 2)   # nodes under process faults at once
        idle = [k for k in self.kinds if lane_of(k) not in active
                and not (k in PROCESS_KINDS and processes >= budget)]
        if active and (not idle or rng.random() < 0.5):
            return {"step": i, "action": "heal", "lane": rng.choice(active), "wait": wait}
        kind = rng.choice(idle)
        return {"step": i, "action": "start", "fault": kind, "lane": lane_of(kind),
                "choice": self.choose(kind, rng, names), "wait": wait}

    def choose(self, kind: str, rng: random.Random, names: list[str]) -> dict[str, Any]:
        """One occurrence of ``kind``: process faults go for the leader half of the time."""
        if kind == "partition":
            from splitbrain.nemesis.partition import plan_partition

            kinds = [k for k in MIX_PARTITIONS
                     if len(names) >= 3 or k not in ("partition-ring", "partition-bridge")]
            return plan_partition(rng.choice(kinds), rng, names, None, self.symmetric)
        if kind in PROCESS_KINDS:
            target: Any = "leader" if rng.random() < 0.5 else [rng.choice(names)]
            return {"targets": target, "fallback": rng.choice(names)}

        return make_fault(kind, Context(None, [], "one", dict(self.ctx.options))).choose(
            rng, names)

    def plan(self, names: list[str], n: int) -> list[dict[str, Any]]:
        active: list[str] = []
        processes = 0
        out = []
        for i in range(n):
            s = self.step(i, names, active, processes)
            if s["action"] == "heal":
                active.remove(s["lane"])
                processes -= s["lane"] in PROCESS_KINDS
            else:
                active.append(s["lane"])
                processes += s["lane"] in PROCESS_KINDS
            out.append(s)
        return out

    def run(self, nem: Any, stop: threading.Event) -> None:
        names = self.ctx.names
        lanes: dict[str, int | None] = {}      # lane -> nemesis key (None: not applied)
        order: list[str] = []                  # active lanes, oldest first
        i = 0
        while not stop.is_set():
            processes = sum(1 for ln in order if ln in PROCESS_KINDS)
            s = self.step(i, names, order, processes)
            i += 1
            if s["action"] == "heal":
                order.remove(s["lane"])
                key = lanes.pop(s["lane"])
                if key is not None:
                    nem.heal_fault(key)
            else:
                order.append(s["lane"])
                lanes[s["lane"]] = self._start(nem, s, lanes)
            if stop.wait(s["wait"]):
                break

    def _start(self, nem: Any, s: dict[str, Any], lanes: dict[str, int | None]) -> int | None:
        fault: Fault = nem.faults[s["fault"]]
        detail = nem.resolve(fault, s["choice"])
        if detail is None:
            return None
        if s["fault"] in PROCESS_KINDS:
            # one process fault per node: a paused node is not also killed, and back
            busy = {x for _k, name, d in nem.active() if name in PROCESS_KINDS
                    for x in d.get("nodes", [])}
            nodes = [x for x in detail["nodes"] if x not in busy]
            if not nodes:
                free = [x for x in self.ctx.names if x not in busy]
                if not free:
                    return None
                nodes = [program_rng(self.name, self.seed, s["step"]).choice(free)]
            detail = dict(detail, nodes=nodes)
        return nem.apply(fault, detail=detail)


class LaggingLeader(Program):
    """Followers fall behind, then rejoin just as the leader is cut off."""

    name = "lagging-leader"

    def fault_names(self) -> list[str]:
        return ["partition"]

    def check(self) -> None:
        needs_leader(self.ctx.system, self.name)
        if len(self.ctx.names) < 3:
            raise HarnessError(f"--nemesis {self.name} needs at least 3 nodes, the cluster "
                               f"has {len(self.ctx.names)}")

    def cycle(self, i: int, names: list[str]) -> dict[str, Any]:
        """Cycle ``i``'s random order of the nodes and how many fall behind."""
        rng = program_rng(self.name, self.seed, i)
        order = list(names)
        rng.shuffle(order)
        return {"cycle": i, "order": order, "laggards": max(1, (len(names) - 1) // 2)}

    @staticmethod
    def sides(order: list[str], lag: int, leader: str | None
              ) -> tuple[list[str], list[str], list[str]]:
        """(laggards, kept up-to-date nodes, cut-off nodes incl. the leader) for a cycle.

        The laggards plus the kept nodes are exactly a majority, with as few
        up-to-date nodes as possible, so a laggard has the best chance to win.
        """
        n = len(order)
        laggards = [x for x in order if x != leader][:lag]
        up = [x for x in order if x not in laggards]
        keep = [x for x in up if x != leader][:G.majority(n) - len(laggards)]
        cut = [x for x in up if x not in keep]
        return laggards, keep, cut

    def plan(self, names: list[str], n: int) -> list[dict[str, Any]]:
        return [self.cycle(i, names) for i in range(n)]

    def run(self, nem: Any, stop: threading.Event) -> None:
        part = nem.faults["partition"]
        names = self.ctx.names
        i = 0
        while not stop.is_set():
            c = self.cycle(i, names)
            i += 1
            laggards, _keep, _cut = self.sides(c["order"], c["laggards"], self.ctx.leader())
            rest = [x for x in names if x not in laggards]
            k1 = nem.apply(part, {"kind": "lagging-leader:fall-behind", "nodes": laggards,
                                  "grudge": G.complete([laggards, rest], names)})
            if stop.wait(self.interval):
                break
            laggards, keep, cut = self.sides(c["order"], c["laggards"], self.ctx.leader())
            if k1 is not None:
                nem.heal_fault(k1)
            k2 = nem.apply(part, {"kind": "lagging-leader:cut-leader", "nodes": cut,
                                  "grudge": G.complete([cut, laggards + keep], names)})
            if stop.wait(self.interval):
                break
            if k2 is not None:
                nem.heal_fault(k2)
            if stop.wait(self.interval):
                break


class CrashUncommitted(Program):
    """The leader is cut off, takes writes it cannot commit, and is killed."""

    name = "crash-uncommitted"

    def fault_names(self) -> list[str]:
        return ["partition", "kill"]

    def check(self) -> None:
        needs_leader(self.ctx.system, self.name)

    def cycle(self, i: int, names: list[str]) -> dict[str, Any]:
        rng = program_rng(self.name, self.seed, i)
        # how long the cut-off leader takes writes before it dies: up to half an
        # interval, at most 1 s (a leader steps down within an election timeout)
        return {"cycle": i, "fallback": rng.choice(names),
                "cut_s": round(rng.uniform(0.05, min(1.0, self.interval / 2)), 3)}

    def plan(self, names: list[str], n: int) -> list[dict[str, Any]]:
        return [self.cycle(i, names) for i in range(n)]

    def run(self, nem: Any, stop: threading.Event) -> None:
        part, kill = nem.faults["partition"], nem.faults["kill"]
        names = self.ctx.names
        i = 0
        while not stop.is_set():
            c = self.cycle(i, names)
            i += 1
            leader = self._leader(c["fallback"])
            k1 = nem.apply(part, {"kind": "crash-uncommitted:cut-leader", "nodes": [leader],
                                  "grudge": G.isolate(names, leader)})
            if stop.wait(c["cut_s"]):
                break
            k2 = nem.apply(kill, {"targets": [leader], "fallback": leader})
            if k1 is not None:
                nem.heal_fault(k1)
            if stop.wait(self.interval):
                break
            if k2 is not None:
                nem.heal_fault(k2)
            if stop.wait(self.interval):
                break


class LeaderChurn(Program):
    """Pause or kill the leader, heal, again: a leader change every interval."""

    name = "leader-churn"

    def fault_names(self) -> list[str]:
        supports = getattr(self.ctx.system, "supports", PROCESS_KINDS)
        kinds = [k for k in PROCESS_KINDS if k in supports]
        return kinds or ["kill"]

    def check(self) -> None:
        needs_leader(self.ctx.system, self.name)

    def cycle(self, i: int, names: list[str]) -> dict[str, Any]:
        rng = program_rng(self.name, self.seed, i)
        return {"cycle": i, "fault": rng.choice(self.fault_names()),
                "fallback": rng.choice(names)}

    def plan(self, names: list[str], n: int) -> list[dict[str, Any]]:
        return [self.cycle(i, names) for i in range(n)]

    def run(self, nem: Any, stop: threading.Event) -> None:
        names = self.ctx.names
        half = self.interval / 2
        i = 0
        while not stop.is_set():
            c = self.cycle(i, names)
            i += 1
            leader = self.ctx.leader()
            if leader is None:            # mid-election: no leader to hit yet
                if stop.wait(min(half, 0.5)):
                    break
                continue
            k = nem.apply(nem.faults[c["fault"]], {"targets": [leader], "fallback": leader})
            if stop.wait(half):
                break
            if k is not None:
                nem.heal_fault(k)
            if stop.wait(half):
                break


PROGRAM_CLASSES: dict[str, type[Program]] = {
    c.name: c for c in (Mixed, LaggingLeader, CrashUncommitted, LeaderChurn)}


def make_program(name: str, ctx: Context, *, interval: float, seed: int) -> Program:
    """The program for a ``--nemesis`` name in :data:`PROGRAMS`."""
    return PROGRAM_CLASSES[name](ctx, interval=interval, seed=seed)

"""The faults a ``--nemesis`` value names: one registry, and the factory every part of
the nemesis (the schedule, the programs, healing a journal entry) builds them with."""

from __future__ import annotations

from splitbrain.nemesis.fault import Context, Fault
from splitbrain.registry import Entry, Registry

_PARTITION = "splitbrain.nemesis.partition:Partition"

#: every fault (a ``--nemesis`` value that is not a program): its class and a line of help
FAULT_REGISTRY: Registry[Fault] = Registry("fault", {
    "partition": Entry(_PARTITION, "a random partition kind each time (one, halves, leader, "
                                   "ring, bridge)"),
    "partition-one": Entry(_PARTITION, "isolate one random node from the rest"),
    "partition-halves": Entry(_PARTITION, "split the nodes into a random minority and majority"),
    "partition-leader": Entry(_PARTITION, "isolate the current leader"),
    "partition-follower": Entry(_PARTITION, "isolate a node that is not the current leader"),
    "partition-ring": Entry(_PARTITION, "majorities ring: every node sees a majority, no two "
                                        "the same"),
    "partition-bridge": Entry(_PARTITION, "two halves joined only through one bridge node"),
    "partition-grudge": Entry(_PARTITION, "an explicit grudge from the TOML file given as "
                                          "grudge_file=PATH"),
    "kill": Entry("splitbrain.nemesis.process:Kill",
                  "SIGKILL the daemon on the targets, restart it at heal"),
    "pause": Entry("splitbrain.nemesis.process:Pause",
                   "SIGSTOP the daemon on the targets, SIGCONT at heal"),
    "packet-loss": Entry("splitbrain.nemesis.packet:PacketLoss",
                         "the targets drop a share (loss=0.2) of the packets from other nodes"),
    "netem": Entry("splitbrain.nemesis.packet:Netem",
                   "delay, duplicate and reorder the targets' packets (kernels with sch_netem)"),
    "clock": Entry("splitbrain.nemesis.clock:Clock",
                   "bump or strobe the targets' wall clock with libfaketime"),
    "member": Entry("splitbrain.nemesis.membership:Member",
                    "remove a node from the cluster, wipe it, add it back at heal"),
}, base=Fault, plugins=False, flag="--nemesis")


def make_fault(name: str, ctx: Context) -> Fault:
    """The Fault object for a ``--nemesis`` value."""
    return FAULT_REGISTRY.load(name)(ctx, name)

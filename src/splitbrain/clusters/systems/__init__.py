"""Systems under test, by name, plus user plugins given as ``package.module:Class``."""

from __future__ import annotations

from splitbrain.clusters.system import System
from splitbrain.registry import Entry, Registry

SYSTEMS: Registry[System] = Registry("system", {
    "etcd": Entry("splitbrain.clusters.systems.etcd:EtcdSystem",
                  "etcd 3.4 from Debian's etcd-server, v3 JSON gateway"),
    "zookeeper": Entry("splitbrain.clusters.systems.zookeeper:ZooKeeperSystem",
                       "Apache ZooKeeper 3.8 from Debian, kazoo client"),
    "raft": Entry("splitbrain.clusters.systems.raft:RaftSystem",
                  "splitbrain's own Raft KV store, with switchable known bugs"),
    "consul": Entry("splitbrain.clusters.systems.consul:ConsulSystem",
                    "HashiCorp Consul (bring your own binary: -o consul_binary=PATH)"),
    "paxos": Entry("splitbrain.clusters.systems.paxos:PaxosSystem",
                   "textbook Multi-Paxos KV log, with switchable acceptor/proposer bugs"),
    "2pc": Entry("splitbrain.clusters.systems.commit:TwoPCSystem",
                 "splitbrain's two-phase commit over sharded keys (txn), switchable bugs"),
    "3pc": Entry("splitbrain.clusters.systems.commit:ThreePCSystem",
                 "splitbrain's three-phase commit over sharded keys (txn): splits under "
                 "partitions"),
    "quorum": Entry("splitbrain.clusters.systems.quorum:QuorumSystem",
                    "splitbrain's leaderless quorum KV (Dynamo-style ABD registers), "
                    "switchable W/R, write-back, LWW"),
}, base=System)

def get_system(name: str) -> type[System]:
    """The System class for a built-in name or a ``package.module:Class`` plugin."""
    return SYSTEMS.load(name)


__all__ = ["SYSTEMS", "get_system"]

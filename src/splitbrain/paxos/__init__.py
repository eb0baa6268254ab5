"""splitbrain's textbook Multi-Paxos key-value log (standard library + nodekit only).

Every node is proposer, acceptor and learner (:mod:`splitbrain.paxos.core`); run one
with ``python3 -m splitbrain.paxos --id n1 --peers n1=H:P,... --data-dir D
[--opt leader=true|false] [--opt bug=acceptor-forgets,no-adopt] [--opt request_s=2]``
(:mod:`splitbrain.paxos.__main__` lists the HTTP routes). The harness side is
:mod:`splitbrain.clusters.systems.paxos`.
"""

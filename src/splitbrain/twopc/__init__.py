"""Two-phase commit over sharded keys (run as ``python3 -m splitbrain.twopc``).

See :mod:`splitbrain.twopc.node` for the protocol and its failure switches and
:mod:`splitbrain.twopc.shard` for the participant's locks and log (shared with 3PC).
"""

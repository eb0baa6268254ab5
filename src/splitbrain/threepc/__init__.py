"""Three-phase commit over sharded keys (run as ``python3 -m splitbrain.threepc``).

See :mod:`splitbrain.threepc.node`; it reuses 2PC's participant (``splitbrain.twopc``),
which the harness copies onto the node alongside.
"""

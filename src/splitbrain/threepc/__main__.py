"""``python3 -m splitbrain.threepc --id n1 --peers n1=H:P,... --data-dir D [--opt k=v]``."""

from __future__ import annotations

from splitbrain.threepc.node import ThreePCNode
from splitbrain.twopc.__main__ import main

if __name__ == "__main__":
    main(ThreePCNode, "splitbrain.threepc", "a three-phase commit node")

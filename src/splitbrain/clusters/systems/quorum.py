"""splitbrain's leaderless quorum KV store (Dynamo-style, ABD registers) as a system.

Every node is a replica and coordinates the requests of the clients pinned to it
(see :mod:`splitbrain.quorum` for the protocol). Correct mode (the defaults) is a
linearizable register per key. The ``-o`` switches that break it:

* ``w=1 r=1`` (any ``W + R <= N``): stale reads under a partition
  (``--nemesis partition``);
* ``write_back=false``: reads do not write back — a value seen, then unseen. It
  needs writes that reach fewer than W replicas and time out: ``--nemesis
  packet-loss -O loss=0.3 --nemesis-targets all --nemesis-interval 20
  --concurrency 5 -o peer_timeout=0.2`` makes many; the set workload
  (``-w set-mode=add``) then shows it every run, the register workload in some;
* ``lww=true``: last-writer-wins by wall clock — acknowledged writes lost under the
  ``clock`` fault (libfaketime reaches ``python3``; ``/status`` shows the node's clock).
  libfaketime also fakes the pthread timed waits Python's threads hand off through,
  which makes this threaded node several times slower under that fault: give it
  ``-o peer_timeout=3 -o timeout=10`` so writes are acknowledged, not timed out.

The client offers ``read``, ``write`` and ``add`` (a grow-only set merged by union:
``-w set-mode=add``), no ``cas``: ABD registers cannot offer a correct one. Use the
register workload with ``-w cas=false``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import ADD, READ, WRITE, SystemOption, parse_bool
from splitbrain.clusters.systems.pynode import COMMON_OPTIONS, PyNodeClient, PyNodeSystem
from splitbrain.errors import HarnessError


class QuorumClient(PyNodeClient):
    """A client of one quorum node (which coordinates: any node can)."""

    capabilities: ClassVar[frozenset[str]] = frozenset({READ, WRITE, ADD})

    def read(self, key: str) -> Any:
        return self.call("/read", {"key": key}).get("value")

    def write(self, key: str, value: Any) -> None:
        self.call("/write", {"key": key, "value": value})

    def add(self, key: str, element: Any) -> None:
        self.call("/add", {"key": key, "element": element})


class QuorumSystem(PyNodeSystem):
    """N = all nodes, each one ``python3 -m splitbrain.quorum``."""

    name: ClassVar[str] = "quorum"
    daemon: ClassVar[str] = "quorum"
    package: ClassVar[str] = "quorum"
    client_class: ClassVar[type[PyNodeClient]] = QuorumClient
    capabilities: ClassVar[frozenset[str] | None] = QuorumClient.capabilities
    options: ClassVar[dict[str, SystemOption]] = {
        **COMMON_OPTIONS,
        "timeout": SystemOption(5.0, "client request timeout in seconds (above two "
                                "peer_timeout: a write has two rounds)", float),
        "w": SystemOption(0, "write quorum W (0: a majority of the nodes)", int),
        "r": SystemOption(0, "read quorum R (0: a majority); W + R <= N gives stale reads", int),
        "write_back": SystemOption(True, "a read writes the value it returns back to W "
                                   "replicas first (ABD); false: a value seen, then unseen",
                                   parse_bool),
        "lww": SystemOption(False, "last-writer-wins: versions from the wall clock, no read "
                            "phase; loses acknowledged writes under clock skew", parse_bool),
        "fsync": SystemOption(True, "fsync each replica record before acknowledging",
                              parse_bool),
        "peer_timeout": SystemOption(1.0, "seconds a coordinator waits for replica answers",
                                     float),
    }

    def __init__(self, nodes: list[Node], opts: dict[str, Any], test_name: str = "test") -> None:
        super().__init__(nodes, opts, test_name)
        n = len(nodes)
        for k in ("w", "r"):
            v = int(self._opt(k))
            if not 0 <= v <= n:
                raise HarnessError(f"-o {k}={v}: want 0 (a majority) up to the {n} nodes")

"""Multi-Paxos (``splitbrain.paxos``) as a system under test: read, write and cas.

Every command — reads included — is a slot in the replicated log, so the register
workload's linearizability checker applies. ``-o leader=false`` runs both Paxos
phases for every command. Failure switches, and what shows them (measured on netns,
3 nodes, 25 s runs):

* ``-o bug=acceptor-forgets`` keeps acceptor state in memory only: ``--workload set
  --nemesis kill --nemesis-targets all`` loses acknowledged elements in 5 runs of 5
  (the register workload with ``--ops-per-key 1000``: 3 of 5, as a key must be read
  before it is written again). ``--nemesis-targets majority``: 4 of 5 with the set
  workload, 1 of 5 with register (the surviving node's log often stays the reference).
* ``-o bug=no-adopt`` makes a proposer ignore the values phase 1 reported: with
  ``-o leader=false`` (every command runs phase 1) the register workload is
  non-linearizable in 5 runs of 5 with no fault at all; with the leader, under
  ``--nemesis partition``, also 5 of 5.

The client stamps each command with its id and a sequence number. An answer that
is lost (indeterminate) is resent with the same stamp to the other nodes for
``-o retry_s`` seconds; the nodes apply a stamp once, so a retry that finds the
command already applied returns its first result.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any, ClassVar

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import (
    CAS,
    READ,
    WRITE,
    SystemOption,
    answers,
    name_list,
    parse_bool,
)
from splitbrain.clusters.systems.pynode import COMMON_OPTIONS, PyNodeClient, PyNodeSystem
from splitbrain.errors import ClientError

BUGS = ("acceptor-forgets", "no-adopt")


parse_bugs = name_list(BUGS)


class PaxosClient(PyNodeClient):
    """Read / write / cas through one node's log; indeterminate answers are retried
    with the same (client id, seq) on the other nodes for ``retry_s`` seconds."""

    capabilities: ClassVar[frozenset[str]] = frozenset({READ, WRITE, CAS})

    def __init__(self, node: Node, *, timeout: float = 3.0, others: list[Node] | None = None,
                 retry_s: float = 0.0) -> None:
        super().__init__(node, timeout=timeout)
        self.client_id = uuid.uuid4().hex
        self._seq = itertools.count(1)
        self.others = [n for n in others or [] if n.name != node.name]
        self.retry_s = retry_s
        self._spares: dict[str, PyNodeClient] = {}

    def _submit(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "client": self.client_id, "seq": next(self._seq)}
        try:
            return self.call(route, body)
        except ClientError as e:
            if e.definite or self.retry_s <= 0 or not self.others:
                raise
            first = e
        # the first try may have been applied: only the same stamp may be sent again
        deadline = time.monotonic() + self.retry_s
        for n in itertools.cycle(self.others):
            if time.monotonic() >= deadline:
                break
            spare = self._spares.get(n.name)
            if spare is None:
                spare = self._spares[n.name] = PyNodeClient(n, timeout=self.timeout)
            try:
                return spare.call(route, body)
            except ClientError:
                time.sleep(0.05)
        raise ClientError(f"{first} (and resent for {self.retry_s:g}s without an answer)",
                          definite=False)

    def read(self, key: str) -> Any:
        return self._submit("/read", {"key": key}).get("value")

    def write(self, key: str, value: Any) -> None:
        self._submit("/write", {"key": key, "value": value})

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        return bool(self._submit("/cas", {"key": key, "expected": expected, "new": new})["ok"])

    def close(self) -> None:
        super().close()
        for c in self._spares.values():
            c.close()
        self._spares.clear()


class PaxosSystem(PyNodeSystem):
    """A cluster of ``python3 -m splitbrain.paxos`` nodes (Multi-Paxos KV log)."""

    name: ClassVar[str] = "paxos"
    daemon: ClassVar[str] = "paxos"
    package: ClassVar[str] = "paxos"
    client_class: ClassVar[type[PyNodeClient]] = PaxosClient
    capabilities: ClassVar[frozenset[str] | None] = PaxosClient.capabilities
    options: ClassVar[dict[str, SystemOption]] = {
        **COMMON_OPTIONS,
        "leader": SystemOption(True, "distinguished leader: a proposer that won phase 1 "
                               "skips it for later slots until rejected, and the other "
                               "nodes forward to it (false: both phases per command)", parse_bool),
        "bug": SystemOption((), "failure switches, comma-separated: acceptor-forgets (no "
                            "fsync: a killed acceptor forgets its promises and accepts), "
                            "no-adopt (phase 2 ignores the values phase 1 reported)",
                            parse_bugs),
        "request_s": SystemOption(2.0, "seconds a node works on one command before it "
                                  "answers unavailable (keep below timeout)", float),
        "retry_s": SystemOption(3.0, "seconds the client resends an indeterminate command "
                                "(same client id and seq) to the other nodes; 0: never",
                                float),
    }

    def node_opts(self) -> dict[str, Any]:
        return {k: v for k, v in super().node_opts().items() if k != "retry_s"}

    def client(self, node: Node) -> PaxosClient:
        return PaxosClient(node, timeout=float(self._opt("timeout")), others=self.nodes,
                           retry_s=float(self._opt("retry_s")))

    def leader(self) -> Node | None:
        """The node holding the highest ballot that won phase 1 (None if nobody holds one)."""
        best: tuple[list[int], Node] | None = None
        for n, st in answers(self.nodes, lambda n: PyNodeClient(n, timeout=1.0),
                             lambda c: c.call("/status", {})):
            b = st.get("ballot")
            if b and (best is None or list(b) > best[0]):
                best = (list(b), n)
        return best[1] if best else None

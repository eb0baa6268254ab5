"""Three-phase commit: 2PC with a pre-commit round, so participants never block.

Keys, locks, the participant log and the routes are 2PC's
(:class:`splitbrain.twopc.node.CommitNode`); the node a client talks to coordinates:

1. **prepare** (can-commit): owners lock their keys and log a yes vote, or vote no.
   Any no or silence: abort, delivered in the background; the client hears a
   definite failure (nobody was pre-committed, so nobody can commit).
2. **pre-commit**: all voted yes, so the coordinator tells the participants, in turn,
   that the txn *will* commit; each logs it and acknowledges.
3. **commit**: with every acknowledgement the coordinator answers the client and
   delivers commit. A refusal (a participant that already terminated with abort)
   makes it abort; a silent participant leaves the outcome to the participants.

No participant waits forever for the coordinator. One that hears nothing for
``decision_timeout`` seconds runs the *termination protocol* with the other
participants it can reach: if any is committed or pre-committed the txn commits,
if any aborted (or never prepared, which it then records as aborted) it aborts,
and if all it reached are only prepared it aborts. It tells the ones it reached.
A participant recovering from a crash never decides alone (unless it is the txn's
only participant): it adopts an outcome another participant already reached.

This is safe when failures are crashes and messages arrive in time — the model
3PC was made for. Under a network partition it is not: a pre-committed participant
on one side commits while a merely prepared one on the other side aborts, and the
transaction is half applied. That split brain is the textbook result this node
exists to show (no switch needed: ``--nemesis partition``; a short
``-o decision_timeout=0.3`` makes participants give up sooner and split more often).

The splits need a cut to fall while a txn is between its votes and its last
pre-commit acknowledgement, or while a participant that timed out early has aborted
a txn the coordinator goes on pre-committing — milliseconds per txn — so how often a
run catches one depends on how many txns are in flight when the partitions start.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from splitbrain.nodekit import NodeError, PeerDown
from splitbrain.twopc.node import CommitNode, Parts
from splitbrain.twopc.shard import ABORTED, COMMITTED, PRECOMMIT, PREPARED, Txn

log = logging.getLogger("splitbrain.threepc")


class ThreePCNode(CommitNode):
    """A 3PC node: a participant for its keys, a coordinator for its clients' txns."""

    known_bugs: tuple[str, ...] = ()

    def routes(self) -> dict[str, Any]:
        return {**super().routes(), "/precommit": self.h_precommit, "/state": self.h_state}

    def h_precommit(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ack": self.shard.precommit(body["tid"])}

    def h_state(self, body: dict[str, Any]) -> dict[str, Any]:
        """Termination: my state of the txn; one I never prepared is now aborted here."""
        return {"state": self.shard.state(body["tid"], unknown_aborts=True)}

    def attempt(self, tid: str, parts: Parts) -> list[list[Any]]:
        nodes = sorted(parts, key=lambda n: (n != self.me, n))   # my own share first
        done: list[list[Any]] | None = None
        try:
            done = self.prepare_all(tid, parts)
        finally:
            if done is None:
                self.deliver(tid, nodes, ABORTED)
        if done is None:
            raise NodeError(f"txn {tid} aborted (a participant voted no or did not answer)",
                            True, 409)
        acks: list[bool | None] = []
        for n in nodes:                       # pre-commit, one participant after another
            try:
                acks.append(bool(self.send(n, "/precommit", {"tid": tid})["ack"]))
            except (PeerDown, NodeError):
                acks.append(None)
        if all(a is True for a in acks):
            self.deliver(tid, nodes, COMMITTED)
            return done
        if False in acks and None not in acks:
            self.deliver(tid, nodes, ABORTED)
            raise NodeError(f"txn {tid} aborted (a participant had terminated it)", True, 409)
        raise NodeError(f"txn {tid}: a participant did not acknowledge pre-commit; the "
                        f"participants decide", False, 503)

    def resolve(self, txn: Txn) -> None:
        """The termination protocol, run by an in-doubt participant that timed out."""
        if time.monotonic() - txn.since < self.decision_timeout:
            return
        others = [n for n in txn.meta["parts"] if n != self.me]
        states = self.to_each({n: {"tid": txn.tid} for n in others}, "/state")
        seen = {s["state"] for s in states.values() if s is not None}
        if COMMITTED in seen:
            outcome = COMMITTED
        elif ABORTED in seen or None in seen:
            outcome = ABORTED
        elif txn.recovered and others:
            return                  # back from a crash: adopt an outcome, never make one
        elif PRECOMMIT in seen or txn.state == PRECOMMIT:
            outcome = COMMITTED
        else:                       # everyone I reached is only prepared
            outcome = ABORTED
        if txn.state == PREPARED and outcome == COMMITTED:
            self.shard.precommit(txn.tid)
        if self.shard.finish(txn.tid, outcome) != outcome:
            return
        log.info("txn %s: terminated %s (coordinator silent; peers said %s)",
                 txn.tid, outcome, sorted(str(s) for s in seen))
        reached = [n for n, s in states.items() if s is not None]
        if reached:
            self.deliver(txn.tid, reached, outcome)

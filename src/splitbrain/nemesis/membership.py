"""Membership faults: remove a node from the cluster, wipe it, and add it back.

Acts only through the system's own API (``member_remove``, ``stop``, ``wipe``,
``member_add``, ``start``); systems that can't change membership don't list
``member`` in ``supports`` and the fault is refused.
"""

from __future__ import annotations

import random
from typing import Any

from splitbrain.errors import HarnessError
from splitbrain.nemesis.fault import Fault


class Member(Fault):
    """Remove one node (wiping its data) at the fault; add it back empty at the heal."""

    name = "member"
    needs = "member"
    min_nodes = 3
    start_f = "start-member"       # remove (and wipe) a node
    stop_f = "stop-member"         # add it back

    def check(self) -> None:
        sys_ = self.ctx.system
        if sys_ is not None and "member" not in sys_.supports:
            raise HarnessError(f"system {sys_.name!r} does not support membership changes: "
                               f"drop the member fault")
        if len(self.ctx.nodes) < 3:
            raise HarnessError(f"the member fault needs at least 3 nodes, the cluster has "
                               f"{len(self.ctx.nodes)}")

    def choose(self, rng: random.Random, names: list[str]) -> dict[str, Any]:
        leader = self.ctx.targets == "leader"
        return {"target": "leader" if leader else rng.choice(names),
                "fallback": rng.choice(names)}

    def resolve(self, choice: dict[str, Any]) -> dict[str, Any]:
        target = choice["target"]
        if target == "leader":
            target = self.ctx.leader() or choice["fallback"]
        return {"nodes": [target]}

    def apply(self, detail: dict[str, Any]) -> Any:
        sys_ = self.ctx.system
        assert sys_ is not None
        node = self.ctx.node(detail["nodes"][0])
        before = sys_.members()
        if node.name not in before:
            return {"nodes": [], "skipped": f"{node.name} is not a member", "members": before}
        sys_.member_remove(node)
        sys_.stop(node)
        sys_.wipe(node)
        return {"nodes": [node.name], "removed": node.name, "wiped": True}

    def heal(self, detail: dict[str, Any]) -> Any:
        sys_ = self.ctx.system
        node = self.ctx.node(detail["nodes"][0])
        if sys_ is None:
            return {"nodes": [], "not_added": node.name}
        if node.name in sys_.members() and sys_.is_running(node):
            return {"nodes": []}
        if node.name not in sys_.members():
            sys_.member_add(node)
        if not sys_.is_running(node):
            sys_.start(node)
        return {"nodes": [node.name], "added": node.name}

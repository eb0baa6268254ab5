"""Membership for :class:`~splitbrain.raft.core.RaftCore`: the configuration in force,
and single-server changes (dissertation ch. 4).

A configuration entry takes effect as soon as it is in the log, committed or not; only
one may be uncommitted at a time, and a leader makes none before it has committed an
entry of its own term. A new server first catches up as a non-voting learner, in
rounds (§4.2.1), and is proposed as a voter only when a round finishes within an
election timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .state import LEADER, NotLeader, Progress

if TYPE_CHECKING:
    from .log import RaftLog

CATCHUP_ROUNDS = 10      # dissertation §4.2.1


class Membership:
    """Mixin: configuration tracking and membership changes (needs RaftCore's state)."""

    log: RaftLog
    voters: dict[str, str]
    base_config: dict[str, str]
    config_index: int
    learners: dict[str, dict]
    progress: dict[str, Progress]
    election_ticks: int
    commit: int
    state: str

    def _recompute_config(self) -> None:
        """Latest config entry in the log wins, whether committed or not (§4.1)."""
        for e in reversed(self.log.entries):
            if isinstance(e[2], dict) and e[2].get("op") == "config":
                self.voters = dict(e[2]["voters"])
                self.config_index = e[0]
                return
        self.voters = dict(self.base_config)
        self.config_index = self.log.snapshot_index

    def config_at(self, index: int) -> dict[str, str]:
        """The membership in force at ``index`` (used when taking a snapshot)."""
        if self.config_index <= index:
            return dict(self.voters)  # the latest configuration entry is at or before it
        for e in reversed(self.log.slice(self.log.snapshot_index + 1, index)):
            if isinstance(e[2], dict) and e[2].get("op") == "config":
                return dict(e[2]["voters"])
        return dict(self.base_config)

    def address_of(self, node: str) -> str | None:
        if node in self.voters:
            return self.voters[node]
        if node in self.learners:
            return self.learners[node]["addr"]
        return None

    def _tick_learners(self) -> None:
        for lid, info in self.learners.items():
            if info.get("result") is not None:
                continue
            info["round_ticks"] += 1
            pr = self.progress.get(lid)
            if pr is None or pr.match < info["round_end"]:
                if info["round_ticks"] > self.election_ticks * CATCHUP_ROUNDS:
                    info["result"] = ("failed", "new member did not catch up")
                    self.progress.pop(lid, None)
                continue
            if info["round_ticks"] <= self.election_ticks or info["rounds"] >= CATCHUP_ROUNDS:
                self._propose_config_add(lid, info)
            else:
                info["rounds"] += 1
                info["round_ticks"] = 0
                info["round_end"] = self.log.last_index

    def add_member(self, node: str, addr: str) -> None:
        """Start catching up a new server; it is proposed as a voter once caught up."""
        if self.state != LEADER:
            raise NotLeader("not the leader")
        if node in self.voters:
            raise ValueError(f"{node} is already a member")
        self._check_config_change()
        self.learners[node] = {"addr": addr, "round_end": self.log.last_index, "round_ticks": 0,
                               "rounds": 1, "result": None}
        self.progress[node] = Progress(match=0, next=self.log.last_index + 1)
        self._send_append(node)

    def learner_result(self, node: str) -> tuple | None:
        info = self.learners.get(node)
        return None if info is None else info["result"]

    def _check_config_change(self) -> None:
        if self.config_index > self.commit:
            raise NotLeader("a membership change is already in progress")
        if not self._committed_in_term():
            raise NotLeader("leader has not committed an entry in its term yet")

    def _propose_config_add(self, node: str, info: dict) -> None:
        try:
            self._check_config_change()
        except NotLeader:
            return  # try again next tick
        voters = dict(self.voters)
        voters[node] = info["addr"]
        idx, term = self.propose({"op": "config", "voters": voters})
        self.voters, self.config_index = voters, idx
        info["result"] = ("proposed", idx, term)

    def remove_member(self, node: str) -> tuple[int, int]:
        if self.state != LEADER:
            raise NotLeader("not the leader")
        if node not in self.voters:
            raise ValueError(f"{node} is not a member")
        if len(self.voters) == 1:
            raise ValueError("cannot remove the last member")
        self._check_config_change()
        voters = {k: v for k, v in self.voters.items() if k != node}
        idx, term = self.propose({"op": "config", "voters": voters})
        self.voters, self.config_index = voters, idx
        # The removed server keeps getting appends until the change commits, so it
        # learns it was removed and stops campaigning.
        self._maybe_commit()
        return idx, term


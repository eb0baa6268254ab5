"""Deterministic Raft state machine: driven by ``step(msg)``, ``tick()`` and proposals.

No I/O here. The node (``server.py``) feeds messages and ticks in, then calls
:meth:`RaftCore.take_ready` to get what must be persisted (hard state, log suffix,
snapshot), sent (messages) and applied (committed entries, read states), in that order.
Persist-before-send is what makes votes and acks durable (Raft Figure 2).

Implements: elections with the up-to-date check, PreVote, CheckQuorum, leader lease on
votes, replication with conflict-only truncation and fast backup (conflict term/index),
pipelined appends with an in-flight window, commit by counting current-term replicas,
a no-op per term, ReadIndex, InstallSnapshot, single-server membership changes with
catch-up rounds, and leadership transfer (TimeoutNow).
"""

from __future__ import annotations

import random
from typing import Any

from .log import RaftLog
from .membership import Membership
from .state import CANDIDATE, FOLLOWER, LEADER, PRE_CANDIDATE, NotLeader, Progress, Ready

__all__ = ["BUGS", "CANDIDATE", "FOLLOWER", "LEADER", "PRE_CANDIDATE", "NotLeader",
           "Progress", "RaftCore", "Ready"]

MAX_BATCH = 256          # entries per AppendEntries
MAX_INFLIGHT = 128       # pipelined AppendEntries per follower
BUGS = ("stale-read", "no-log-check", "commit-old-term", "no-fsync", "no-dedup")


class RaftCore(Membership):
    """One Raft peer's protocol state. ``voters`` maps id -> address string."""

    def __init__(self, node_id: str, voters: dict[str, str], log: RaftLog | None = None,
                 term: int = 0, voted_for: str | None = None, *, snapshot_config:
                 dict[str, str] | None = None, election_ticks: int = 12,
                 heartbeat_ticks: int = 3, bugs: set[str] | frozenset = frozenset(),
                 seed: int | None = None) -> None:
        self.id = node_id
        self.log = log or RaftLog()
        self.term = term
        self.voted_for = voted_for
        self.bugs = set(bugs)
        self.election_ticks = election_ticks
        self.heartbeat_ticks = heartbeat_ticks
        self.rng = random.Random(seed)
        self.state = FOLLOWER
        self.leader: str | None = None
        self.commit = self.log.snapshot_index
        self.stable_index = self.log.last_index  # durable on our own disk (set by the node)
        self.applied = self.log.snapshot_index
        self.base_config = dict(snapshot_config if snapshot_config is not None else voters)
        self.voters: dict[str, str] = {}
        self.config_index = 0
        self._recompute_config()
        self.elapsed = 0
        self.hb_elapsed = 0
        self.timeout = self._random_timeout()
        self.votes: dict[str, bool] = {}
        self.progress: dict[str, Progress] = {}
        self.learners: dict[str, dict] = {}   # id -> {addr, round_end, round_ticks, rounds, result}
        self.transferee: str | None = None
        self.transfer_ticks = 0
        self.read_seq = 0
        self.reads_waiting: list[Any] = []           # ctx waiting for a heartbeat round
        self.reads_pending: list[tuple[int, int, list[Any]]] = []  # (seq, index, ctxs)
        self.reads_need_commit: list[Any] = []        # before the first current-term commit
        self.need_bcast = False
        self._ready = Ready()
        self._hs = (term, voted_for)

    # ---------------------------------------------------------------- helpers
    def _random_timeout(self) -> int:
        return self.election_ticks + self.rng.randrange(self.election_ticks)

    def _quorum(self) -> int:
        return len(self.voters) // 2 + 1

    @property
    def promotable(self) -> bool:
        return self.id in self.voters

    def _send(self, to: str, msg: dict) -> None:
        msg["from"] = self.id
        if "term" not in msg:
            msg["term"] = self.term
        self._ready.messages.append((to, msg))

    def _committed_in_term(self) -> bool:
        return self.log.term(self.commit) == self.term or "commit-old-term" in self.bugs

    # ------------------------------------------------------------ role changes
    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.voted_for = None
        self.leader = None
        self.elapsed = 0
        self.hb_elapsed = 0
        self.timeout = self._random_timeout()
        self.votes = {}
        self.transferee = None
        self._drop_reads()

    def _drop_reads(self) -> None:
        for _seq, _idx, ctxs in self.reads_pending:
            self._ready.dropped_reads.extend(ctxs)
        self._ready.dropped_reads.extend(self.reads_waiting)
        self._ready.dropped_reads.extend(self.reads_need_commit)
        self.reads_pending, self.reads_waiting, self.reads_need_commit = [], [], []

    def become_follower(self, term: int, leader: str | None) -> None:
        self._reset(term)
        self.state = FOLLOWER
        self.leader = leader
        self.progress = {}
        for info in self.learners.values():
            if info.get("result") is None:
                info["result"] = ("failed", "leadership lost")

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.state = LEADER
        self.leader = self.id
        last = self.log.last_index
        self.progress = {p: Progress(match=0, next=last + 1) for p in self.voters if p != self.id}
        if "commit-old-term" not in self.bugs:
            self.log.append(self.term, {"op": "noop"})  # §8: commit something in our term
        self.need_bcast = True
        self._maybe_commit()

    def _campaign(self, pre: bool, transfer: bool = False) -> None:
        if pre:
            self.state = PRE_CANDIDATE
            self.leader = None
            msg_term = self.term + 1
        else:
            self._reset(self.term + 1)
            self.state = CANDIDATE
            self.voted_for = self.id
            msg_term = self.term
        self.elapsed = 0
        self.timeout = self._random_timeout()
        self.votes = {self.id: True}
        if self._tally() >= self._quorum():
            if pre:
                self._campaign(False)
            else:
                self._become_leader()
            return
        kind = "prevote" if pre else "vote"
        for p in self.voters:
            if p != self.id:
                self._send(p, {"type": kind, "term": msg_term, "last_index": self.log.last_index,
                               "last_term": self.log.last_term, "transfer": transfer})

    def _tally(self) -> int:
        return sum(1 for p, g in self.votes.items() if g and p in self.voters)

    # ------------------------------------------------------------------ ticks
    def tick(self) -> None:
        self.elapsed += 1
        if self.state == LEADER:
            self._tick_leader()
        elif self.elapsed >= self.timeout and self.promotable:
            self._campaign(pre=True)
        elif self.elapsed >= self.timeout:
            self.elapsed = 0
            self.leader = None  # not a member: forget a leader we no longer hear from

    def _tick_leader(self) -> None:
        self.hb_elapsed += 1
        if self.hb_elapsed >= self.heartbeat_ticks:
            self.hb_elapsed = 0
            self._bcast_heartbeat()
        for p, pr in self.progress.items():
            if pr.state == "replicate" and pr.inflight:
                pr.stall_ticks += 1
                if pr.stall_ticks > self.election_ticks:  # appends lost: fall back to probing
                    self.report_unreachable(p)
            if pr.state == "snapshot":
                pr.snap_ticks += 1
                if pr.snap_ticks > self.election_ticks:
                    pr.state, pr.paused = "probe", False
                    self._send_append(p)
        self._tick_learners()
        if self.transferee is not None:
            self.transfer_ticks += 1
            if self.transfer_ticks >= self.election_ticks:
                self.transferee = None
        if self.elapsed >= self.election_ticks:
            self.elapsed = 0
            active = 1 if self.id in self.voters else 0
            for p, pr in self.progress.items():
                if p in self.voters and pr.active:
                    active += 1
                pr.active = False
            if active < self._quorum():  # CheckQuorum (§6.2)
                self.become_follower(self.term, None)

    # -------------------------------------------------------------- messages
    def step(self, m: dict) -> None:
        t = m["type"]
        if m["term"] > self.term:
            if t in ("prevote", "vote"):
                in_lease = (self.leader is not None and self.elapsed < self.election_ticks)
                if in_lease and not m.get("transfer"):
                    return  # §4.2.3: ignore disruptive candidates while a leader is live
                if t == "vote":
                    self.become_follower(m["term"], None)
            elif t == "prevote_resp" and m.get("granted"):
                pass  # a granted prevote carries the future term; not a reason to step down
            else:
                lead = m["from"] if t in ("append", "heartbeat", "snap") else None
                self.become_follower(m["term"], lead)
        elif m["term"] < self.term:
            if t in ("append", "heartbeat", "snap"):
                # Tell a stale leader about the newer term so it steps down.
                self._send(m["from"], {"type": "append_resp", "success": False,
                                       "stale": True, "match": 0, "reject_index": 0})
            elif t == "prevote":
                self._send(m["from"], {"type": "prevote_resp", "granted": False})
            return
        handler = getattr(self, "_on_" + t, None)
        if handler is not None:
            handler(m)

    def _on_prevote(self, m: dict) -> None:
        self._on_vote(m)

    def _on_vote(self, m: dict) -> None:
        pre = m["type"] == "prevote"
        can_vote = (self.voted_for == m["from"]
                    or (self.voted_for is None and self.leader is None)
                    or (pre and m["term"] > self.term))
        log_ok = ("no-log-check" in self.bugs
                  or self.log.is_up_to_date(m["last_index"], m["last_term"]))
        granted = can_vote and log_ok
        resp = {"type": m["type"] + "_resp", "granted": granted}
        if granted:
            resp["term"] = m["term"]
            if not pre:
                self.voted_for = m["from"]
                self.elapsed = 0
        self._send(m["from"], resp)

    def _on_prevote_resp(self, m: dict) -> None:
        if self.state == PRE_CANDIDATE:
            self._count_vote(m, pre=True)

    def _on_vote_resp(self, m: dict) -> None:
        if self.state == CANDIDATE:
            self._count_vote(m, pre=False)

    def _count_vote(self, m: dict, pre: bool) -> None:
        self.votes[m["from"]] = bool(m["granted"])
        if self._tally() >= self._quorum():
            if pre:
                self._campaign(False)
            else:
                self._become_leader()
        elif sum(1 for p, g in self.votes.items() if not g and p in self.voters) >= self._quorum():
            self.become_follower(self.term, None)

    def _follow(self, m: dict) -> None:
        if self.state != FOLLOWER:
            self.become_follower(self.term, m["from"])
        self.leader = m["from"]
        self.elapsed = 0

    def _on_heartbeat(self, m: dict) -> None:
        self._follow(m)
        if m["commit"] > self.commit:
            self.commit = min(m["commit"], self.log.last_index)
        self._send(m["from"], {"type": "heartbeat_resp", "read_seq": m.get("read_seq", 0)})

    def _on_append(self, m: dict) -> None:
        self._follow(m)
        prev, prev_term = m["prev_index"], m["prev_term"]
        if prev < self.commit:
            # Everything up to our commit index is known to match; skip that part.
            ents = [e for e in m["entries"] if e[0] > self.commit]
            if not ents and prev + len(m["entries"]) <= self.commit:
                self._send(m["from"], {"type": "append_resp", "success": True,
                                       "match": self.commit})
                return
            if ents:
                prev, prev_term = ents[0][0] - 1, self.log.term(ents[0][0] - 1)
            m = dict(m, entries=ents)
        if not self.log.matches(prev, prev_term):
            resp = {"type": "append_resp", "success": False, "reject_index": m["prev_index"],
                    "match": 0}
            if prev > self.log.last_index:
                resp["conflict_index"], resp["conflict_term"] = self.log.last_index + 1, None
            else:
                ct = self.log.term(prev)
                resp["conflict_term"] = ct
                resp["conflict_index"] = self.log.first_index_of_term(prev)
            self._send(m["from"], resp)
            return
        if m["entries"]:
            changed = self.log.append_from_leader(m["entries"])
            if changed is not None:
                self.stable_index = min(self.stable_index, changed - 1)
            if changed is not None and changed <= self.config_index:
                self._recompute_config()
            elif changed is not None:
                for e in m["entries"]:
                    if e[0] >= changed and isinstance(e[2], dict) and e[2].get("op") == "config":
                        self.voters, self.config_index = dict(e[2]["voters"]), e[0]
        last_new = prev + len(m["entries"])
        if m["commit"] > self.commit:
            self.commit = max(self.commit, min(m["commit"], last_new))
        self._send(m["from"], {"type": "append_resp", "success": True, "match": last_new})

    def _on_snap(self, m: dict) -> None:
        self._follow(m)
        snap = m["snapshot"]
        if snap["index"] <= self.commit:
            self._send(m["from"], {"type": "snap_resp", "match": self.commit})
            return
        self.log.compact(snap["index"], snap["term"])
        self.stable_index = 0  # until the node has written the snapshot
        self.base_config = dict(snap["config"])
        self._recompute_config()
        self.commit = self.applied = snap["index"]
        self._ready.snapshot = snap
        self._send(m["from"], {"type": "snap_resp", "match": snap["index"]})

    def _on_timeout_now(self, m: dict) -> None:
        if self.promotable:
            self._campaign(pre=False, transfer=True)

    # ----------------------------------------------------------- leader side
    def _on_append_resp(self, m: dict) -> None:
        pr = self.progress.get(m["from"])
        if self.state != LEADER or pr is None or m.get("stale"):
            return
        pr.active = True
        if m["success"]:
            self._acked(m["from"], pr, m["match"])
            return
        ri = m["reject_index"]
        if pr.state == "replicate" and ri <= pr.match:
            return  # stale rejection
        if pr.state == "probe" and ri != pr.next - 1:
            return
        nxt = m["conflict_index"]
        if m.get("conflict_term") is not None:
            li = self.log.last_index_of_term(m["conflict_term"])
            if li is not None:
                nxt = li + 1
        pr.next = max(min(nxt, ri), pr.match + 1)
        pr.state, pr.paused, pr.inflight = "probe", False, []
        self._send_append(m["from"])

    def _on_snap_resp(self, m: dict) -> None:
        pr = self.progress.get(m["from"])
        if self.state != LEADER or pr is None:
            return
        pr.active = True
        pr.state, pr.paused = "probe", False
        self._acked(m["from"], pr, m["match"])

    def _acked(self, peer: str, pr: Progress, match: int) -> None:
        pr.stall_ticks = 0
        if match > pr.match:
            pr.match = match
            pr.next = max(pr.next, match + 1)
            if pr.state == "probe":
                pr.state, pr.inflight = "replicate", []
            self._maybe_commit()
        pr.inflight = [i for i in pr.inflight if i > pr.match]
        pr.paused = False
        if self.transferee == peer and pr.match == self.log.last_index:
            self._send(peer, {"type": "timeout_now"})
        while pr.next <= self.log.last_index and self._send_append(peer):
            pass

    def _on_heartbeat_resp(self, m: dict) -> None:
        pr = self.progress.get(m["from"])
        if self.state != LEADER or pr is None:
            return
        pr.active = True
        pr.paused = False
        if pr.match < self.log.last_index:
            self._send_append(m["from"])
        if m.get("read_seq", 0) > pr.read_ack:
            pr.read_ack = m["read_seq"]
            self._release_reads()

    def _send_append(self, peer: str) -> bool:
        """Send one AppendEntries (or a snapshot); False if the window is closed."""
        pr = self.progress[peer]
        if pr.state == "snapshot" or (pr.state == "probe" and pr.paused):
            return False
        if pr.state == "replicate" and len(pr.inflight) >= MAX_INFLIGHT:
            return False
        prev = pr.next - 1
        prev_term = self.log.term(prev)
        if prev_term is None:
            self._ready.messages.append((peer, {"type": "snap", "need_snapshot": True,
                                                "term": self.term, "from": self.id}))
            pr.state, pr.snap_ticks = "snapshot", 0
            return False
        last = min(self.log.last_index, pr.next + MAX_BATCH - 1)
        ents = self.log.slice(pr.next, last)
        self._send(peer, {"type": "append", "prev_index": prev, "prev_term": prev_term,
                          "entries": ents, "commit": self.commit})
        if pr.state == "replicate":
            pr.inflight.append(last)
            pr.next = last + 1
        else:
            pr.paused = True
        return pr.state == "replicate"

    def _bcast_append(self) -> None:
        for p in self.progress:
            while self.progress[p].next <= self.log.last_index and self._send_append(p):
                pass

    def _bcast_heartbeat(self, read_seq: int | None = None) -> None:
        seq = self.read_seq if read_seq is None else read_seq
        for p, pr in self.progress.items():
            self._send(p, {"type": "heartbeat", "commit": min(self.commit, pr.match),
                           "read_seq": seq})
            if pr.state == "probe":
                pr.paused = False

    def _maybe_commit(self) -> None:
        if self.state != LEADER:
            return
        matches = [pr.match for p, pr in self.progress.items() if p in self.voters]
        if self.id in self.voters:
            # The leader counts only what it has fsync'd itself (§10.2.1: it may send
            # appends before its own write completes).
            matches.append(min(self.stable_index, self.log.last_index))
        if not matches:
            return
        matches.sort(reverse=True)
        n = matches[self._quorum() - 1]
        if n <= self.commit:
            return
        # §5.4.2: only entries of the current term are committed by counting replicas.
        if self.log.term(n) != self.term and "commit-old-term" not in self.bugs:
            return
        self.commit = n
        if self.reads_need_commit and self._committed_in_term():
            self.reads_waiting.extend(self.reads_need_commit)
            self.reads_need_commit = []
        if self.commit >= self.config_index:
            for p in [p for p in self.progress if p not in self.voters and p not in self.learners]:
                del self.progress[p]
            if self.id not in self.voters:
                self.become_follower(self.term, None)  # §4.2.2: removed leader steps down

    def _release_reads(self) -> None:
        while self.reads_pending:
            seq, idx, ctxs = self.reads_pending[0]
            acks = 1 if self.id in self.voters else 0
            acks += sum(1 for p, pr in self.progress.items() if p in self.voters and pr.read_ack >= seq)
            if acks < self._quorum():
                return
            self.reads_pending.pop(0)
            self._ready.read_states.extend((c, idx) for c in ctxs)

    # ------------------------------------------------------------ client API
    def propose(self, data: Any) -> tuple[int, int]:
        """Append a command on the leader; returns (index, term)."""
        if self.state != LEADER:
            raise NotLeader("not the leader")
        if self.transferee is not None:
            raise NotLeader("leadership transfer in progress")
        idx = self.log.append(self.term, data)
        self.need_bcast = True
        self._maybe_commit()
        return idx, self.term

    def read_index(self, ctx: Any) -> None:
        """Start a ReadIndex read (§6.4); answered via ``Ready.read_states``."""
        if self.state != LEADER:
            raise NotLeader("not the leader")
        if not self._committed_in_term():
            self.reads_need_commit.append(ctx)
        else:
            self.reads_waiting.append(ctx)

    def transfer_leadership(self, target: str) -> None:
        if self.state != LEADER:
            raise NotLeader("not the leader")
        if target not in self.voters or target == self.id:
            raise ValueError(f"{target} is not another voting member")
        self.transferee, self.transfer_ticks = target, 0
        pr = self.progress[target]
        if pr.match == self.log.last_index:
            self._send(target, {"type": "timeout_now"})
        else:
            self._send_append(target)

    def mark_stable(self, index: int, term: int) -> None:
        """The node made the log durable up to ``(index, term)``; may advance the commit.

        Ignored if that entry has since been replaced (a truncation raced the write).
        """
        if self.log.term(index) == term and index > self.stable_index:
            self.stable_index = index
            self._maybe_commit()

    def report_unreachable(self, peer: str) -> None:
        """The transport lost its connection: in-flight appends may be lost, so re-probe."""
        pr = self.progress.get(peer)
        if self.state == LEADER and pr is not None and pr.state == "replicate":
            pr.state, pr.paused, pr.inflight, pr.next = "probe", False, [], pr.match + 1

    def compact(self, index: int) -> None:
        """Drop log entries up to ``index`` after the node saved a snapshot there."""
        self.base_config = self.config_at(index)
        self.log.compact(index, self.log.term(index))

    # ------------------------------------------------------------------ ready
    def take_ready(self) -> Ready:
        if self.state == LEADER:
            if self.need_bcast:
                self.need_bcast = False
                self._bcast_append()
            if self.reads_waiting:
                if len(self.voters) == 1 and self.id in self.voters:
                    self._ready.read_states.extend((c, self.commit) for c in self.reads_waiting)
                else:
                    self.read_seq += 1
                    self.reads_pending.append((self.read_seq, self.commit, self.reads_waiting))
                    self._bcast_heartbeat(self.read_seq)
                self.reads_waiting = []
        rd = self._ready
        self._ready = Ready()
        if (self.term, self.voted_for) != self._hs:
            self._hs = (self.term, self.voted_for)
            rd.hard_state = self._hs
        if self.log.dirty_from is not None:
            rd.log_dirty_from = self.log.dirty_from
            rd.entries = self.log.slice(self.log.dirty_from, self.log.last_index)
            self.log.mark_persisted()  # handed over to the node's persister
        rd.last = (self.log.last_index, self.log.last_term)
        if self.commit > self.applied:
            rd.committed = self.log.slice(self.applied + 1, self.commit)
            self.applied = self.commit
        return rd

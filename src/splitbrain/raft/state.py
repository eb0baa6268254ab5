"""Plain data the protocol core keeps and hands out: Progress, Ready, NotLeader."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .log import Entry

FOLLOWER, PRE_CANDIDATE, CANDIDATE, LEADER = "follower", "pre-candidate", "candidate", "leader"


class NotLeader(Exception):
    """Rejected before anything was proposed (always a definite failure)."""


@dataclass
class Progress:
    """Leader's view of one follower (or catching-up learner)."""
    match: int = 0
    next: int = 1
    state: str = "probe"          # probe | replicate | snapshot
    paused: bool = False          # probe: one message outstanding
    inflight: list[int] = field(default_factory=list)
    active: bool = False          # heard from since the last CheckQuorum
    read_ack: int = 0             # highest ReadIndex heartbeat sequence acked
    snap_ticks: int = 0
    stall_ticks: int = 0          # replicate: ticks without an ack while appends are in flight


@dataclass
class Ready:
    """Work for the node: persist hard state / log / snapshot, send, then apply."""
    hard_state: tuple[int, str | None] | None = None
    log_dirty_from: int | None = None
    entries: list[Entry] = field(default_factory=list)  # log entries from log_dirty_from on
    last: tuple[int, int] = (0, 0)                       # (last index, last term) to persist
    snapshot: dict | None = None
    messages: list[tuple[str, dict]] = field(default_factory=list)
    committed: list[Entry] = field(default_factory=list)
    read_states: list[tuple[Any, int]] = field(default_factory=list)
    dropped_reads: list[Any] = field(default_factory=list)

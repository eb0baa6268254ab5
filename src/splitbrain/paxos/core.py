"""Multi-Paxos, the textbook roles: acceptor, learner (with the KV state machine), proposer.

Every node plays all three. The log is a sequence of slots; each slot is decided by
one instance of Paxos, and the decided commands are applied in slot order to a
key-value map. Reads go through the log too, so every answer is linearizable.

Ballots are ``[round, node index]`` lists, compared lexicographically, so two
proposers never share one. A promise covers every slot at once (Multi-Paxos): a
``prepare(b, from)`` asks the acceptor to refuse anything below ``b`` from now on and
to report what it has accepted in slots ``>= from``.

This module holds no sockets: the proposer talks to the acceptors through an
``ask`` function (:data:`Ask`), so the unit tests drive it against in-process
acceptors. :mod:`splitbrain.paxos.__main__` wires it to :mod:`splitbrain.nodekit`.

Failure switches (``--opt bug=NAME,...``):

* ``acceptor-forgets``: promises and accepts are kept in memory only (no fsync), so
  an acceptor that is killed comes back having promised and accepted nothing. Two
  such restarts in a majority let a later proposer choose a second value for a slot
  that was already decided.
* ``no-adopt``: in phase 2 a proposer proposes its own command even when phase 1
  reported a value already accepted in that slot (it skips "adopt the value of the
  highest ballot"), so a decided slot is decided again with a different value.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

BUGS = ("acceptor-forgets", "no-adopt")

#: the command a proposer puts into a slot nobody has accepted anything in
NOOP: dict[str, Any] = {"op": "noop"}

#: lower than every real ballot
ZERO: list[int] = [0, -1]

#: ``ask(route, body, timeout, enough)``: send ``body`` to every acceptor (this node's
#: own included) and return the replies that came back before ``timeout`` or before
#: ``enough(replies_so_far)`` said there are enough. A silent acceptor is just absent.
Ask = Callable[[str, dict[str, Any], float, Callable[[list[dict[str, Any]]], bool]],
               list[dict[str, Any]]]


class Unavailable(Exception):
    """No majority in time. ``definite``: the command was never sent in a phase 2."""

    def __init__(self, message: str, definite: bool) -> None:
        super().__init__(message)
        self.definite = definite


class Superseded(Unavailable):
    """The client's later command was applied already: nobody waits for this one."""

    def __init__(self, message: str) -> None:
        super().__init__(message, definite=False)


# ---------------------------------------------------------------------- acceptor
class Acceptor:
    """Promised ballot and accepted ``(ballot, value)`` per slot, on disk before it answers.

    ``store`` is an append-only log (``append(record)``, ``replay()``) — nodekit's
    :class:`~splitbrain.nodekit.AppendLog`, with fsync or (bug ``acceptor-forgets``)
    without. ``None`` keeps everything in memory (unit tests).
    """

    def __init__(self, store: Any = None) -> None:
        self.promised: list[int] = list(ZERO)
        self.accepted: dict[int, tuple[list[int], Any]] = {}
        self.store = store
        self._lock = threading.Lock()
        if store is not None:
            for rec in store.replay():
                if "p" in rec:
                    self.promised = max(self.promised, list(rec["p"]))
                else:
                    b = list(rec["a"])
                    self.promised = max(self.promised, b)
                    for s, v in rec["e"].items():
                        self.accepted[int(s)] = (b, v)

    def _persist(self, record: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.append(record)

    def prepare(self, ballot: list[int], from_slot: int) -> dict[str, Any]:
        """Phase 1b: promise ``ballot`` (if no higher one was promised) and report accepts."""
        ballot = list(ballot)
        with self._lock:
            if ballot < self.promised:
                return {"ok": False, "promised": self.promised}
            if ballot > self.promised:
                self._persist({"p": ballot})
                self.promised = ballot
            return {"ok": True, "accepted": {str(s): [b, v] for s, (b, v)
                                             in self.accepted.items() if s >= from_slot}}

    def accept(self, ballot: list[int], entries: dict[str, Any]) -> dict[str, Any]:
        """Phase 2b: accept ``entries`` (slot -> value) unless a higher ballot was promised."""
        ballot = list(ballot)
        with self._lock:
            if ballot < self.promised:
                return {"ok": False, "promised": self.promised}
            self._persist({"a": ballot, "e": entries})
            self.promised = ballot
            for s, v in entries.items():
                self.accepted[int(s)] = (ballot, v)
            return {"ok": True}


# ---------------------------------------------------------------------- learner
class Learner:
    """The chosen values per slot and the KV map they build, applied in slot order.

    A command is ``{"op": "read"|"write"|"cas"|"noop", "key", ..., "client", "seq"}``.
    A ``(client, seq)`` is applied at most once: a command whose seq is not above the
    client's last applied one is skipped, and the result of the last one is kept, so
    the same command chosen in two slots (a retry, or a re-proposal) acts once.
    """

    def __init__(self) -> None:
        self.chosen: dict[int, Any] = {}
        self.applied = 0                      # the next slot to apply
        self.kv: dict[str, Any] = {}
        self.sessions: dict[str, tuple[int, Any]] = {}
        self.conflicts = 0                    # a slot told two different values (a bug)
        self._lock = threading.Lock()

    def learn(self, entries: dict[int, Any]) -> list[int]:
        """Record chosen values; return the slots that had a *different* value already."""
        clash: list[int] = []
        with self._lock:
            for s, v in entries.items():
                s = int(s)
                old = self.chosen.get(s)
                if old is None and s >= self.applied:
                    self.chosen[s] = v
                elif old is not None and old != v:
                    clash.append(s)
            self.conflicts += len(clash)
            while self.applied in self.chosen:
                self._apply(self.chosen[self.applied])
                self.applied += 1
        return clash

    def first_unlearned(self) -> int:
        with self._lock:
            return self.applied

    def result_of(self, client: str, seq: int) -> tuple[bool, Any]:
        """``(True, result)`` once ``(client, seq)`` has been applied.

        Raises :class:`Superseded` if the client has since had a later command applied:
        this one is then a stale copy (a retry went elsewhere) and its result is gone.
        """
        with self._lock:
            sess = self.sessions.get(client)
            if sess is not None and sess[0] == seq:
                return True, sess[1]
            if sess is not None and sess[0] > seq:
                raise Superseded(f"client {client} is past seq {seq}")
            return False, None

    def _apply(self, cmd: dict[str, Any]) -> None:
        op = cmd.get("op")
        if op == "noop":
            return
        client, seq = cmd.get("client"), cmd.get("seq")
        if client is not None:
            sess = self.sessions.get(client)
            if sess is not None and seq <= sess[0]:
                return                       # a duplicate: applied once already
        key = cmd["key"]
        if op == "read":
            result: Any = {"value": self.kv.get(key)}
        elif op == "write":
            self.kv[key] = cmd["value"]
            result = {}
        elif op == "cas":
            ok = self.kv.get(key) == cmd["expected"]
            if ok:
                self.kv[key] = cmd["new"]
            result = {"ok": ok}
        else:
            result = {"error": f"unknown op {op!r}"}
        if client is not None:
            self.sessions[client] = (seq, result)


# ---------------------------------------------------------------------- proposer
class Proposer:
    """Gets client commands chosen: phase 1 (prepare/promise), phase 2 (accept/accepted).

    ``leader=True`` is classic Multi-Paxos: once phase 1 succeeded (for every slot from
    the first one this node has not learned), the proposer keeps its ballot and runs
    only phase 2 for each new command until an acceptor rejects it. ``leader=False``
    runs both phases for every command.

    One command at a time per node (``submit`` holds a lock): simple, and enough here.
    """

    def __init__(self, index: int, n: int, ask: Ask, learner: Learner, *, leader: bool = True,
                 no_adopt: bool = False,
                 on_chosen: Callable[[dict[int, Any]], None] = lambda e: None,
                 rpc_timeout: float = 1.0) -> None:
        self.index = index
        self.majority = n // 2 + 1
        self.n = n
        self.ask = ask
        self.learner = learner
        self.leader = leader
        self.no_adopt = no_adopt
        self.on_chosen = on_chosen
        self.rpc_timeout = rpc_timeout
        self.ballot: list[int] | None = None   # held after a phase 1 won, until rejected
        self.max_seen: list[int] = list(ZERO)  # highest ballot any acceptor reported
        self.pending: dict[int, Any] = {}      # adopted values still to get chosen
        self.next_slot = 0
        self.lock = threading.Lock()

    def _enough(self, replies: list[dict[str, Any]]) -> bool:
        oks = sum(1 for r in replies if r.get("ok"))
        return oks >= self.majority or len(replies) - oks > self.n - self.majority

    def _note_rejects(self, replies: list[dict[str, Any]]) -> None:
        for r in replies:
            if not r.get("ok") and "promised" in r:
                self.max_seen = max(self.max_seen, list(r["promised"]))

    def phase1(self, deadline: float) -> bool:
        """Prepare a fresh ballot above everything seen; on a majority of promises,
        adopt for every open slot the value accepted with the highest ballot."""
        rnd = max(self.max_seen[0], self.ballot[0] if self.ballot else 0) + 1
        ballot = [rnd, self.index]
        from_slot = self.learner.first_unlearned()
        timeout = max(0.05, min(self.rpc_timeout, deadline - time.monotonic()))
        replies = self.ask("/prepare", {"ballot": ballot, "from": from_slot}, timeout,
                           self._enough)
        self._note_rejects(replies)
        self.max_seen = max(self.max_seen, ballot)
        oks = [r for r in replies if r.get("ok")]
        if len(oks) < self.majority:
            self.ballot = None
            return False
        best: dict[int, tuple[list[int], Any]] = {}
        for r in oks:
            for s, (b, v) in r["accepted"].items():
                s = int(s)
                if s >= from_slot and (s not in best or list(b) > best[s][0]):
                    best[s] = (list(b), v)
        self.ballot = ballot
        if self.no_adopt:
            # THE BUG: ignore what the acceptors reported; the open slots look empty
            self.pending = {}
            self.next_slot = from_slot
            return True
        top = max(best, default=from_slot - 1)
        self.pending = {s: best[s][1] if s in best else NOOP for s in range(from_slot, top + 1)}
        self.next_slot = top + 1
        return True

    def phase2(self, entries: dict[int, Any], deadline: float) -> bool:
        """Ask the acceptors to accept ``entries`` under our ballot; True on a majority."""
        assert self.ballot is not None
        timeout = max(0.05, min(self.rpc_timeout, deadline - time.monotonic()))
        replies = self.ask("/accept", {"ballot": self.ballot,
                                       "entries": {str(s): v for s, v in entries.items()}},
                           timeout, self._enough)
        self._note_rejects(replies)
        if sum(1 for r in replies if r.get("ok")) < self.majority:
            self.ballot = None
            return False
        return True

    def submit(self, cmd: dict[str, Any], deadline: float) -> Any:
        """Get ``cmd`` chosen and applied; its result. :class:`Unavailable` if no majority
        before ``deadline`` (definite only if ``cmd`` was never sent to an acceptor)."""
        client, seq = cmd["client"], cmd["seq"]
        proposed = False
        if not self.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise Unavailable("proposer busy until the deadline", definite=True)
        try:
            attempt = 0
            while True:
                found, result = self.learner.result_of(client, seq)
                if found:
                    return result
                if time.monotonic() >= deadline:
                    raise Unavailable("no majority before the deadline", definite=not proposed)
                if attempt:
                    time.sleep(random.uniform(0, min(0.1, 0.01 * attempt)))
                attempt += 1
                if self.ballot is None or not self.leader:
                    if not self.phase1(deadline):
                        continue
                entries = dict(self.pending)
                if cmd not in entries.values():
                    entries[self.next_slot] = cmd
                proposed = True
                if not self.phase2(entries, deadline):
                    continue
                self.pending = {}
                self.next_slot = max(self.next_slot, max(entries) + 1)
                self.learner.learn(entries)
                self.on_chosen(entries)
                if not self.leader:
                    self.ballot = None
                found, result = self.learner.result_of(client, seq)
                if found:
                    return result
                # chosen, yet not applied here: a gap below it (or a clash); phase 1 anew
                self.ballot = None
        finally:
            self.lock.release()

"""Follower-to-leader request forwarding over the peer transport.

A follower wraps a client request in a ``fwd`` message on its existing connection to
the leader (batched with other frames, no extra HTTP hop); the leader runs it as if
it were its own client's and answers with ``fwd_resp``. Definite semantics: if there
is no open connection to the leader, nothing is sent and the failure is definite; once
queued on a live connection, silence until the deadline is an indefinite failure, and
so is a leader change while waiting (:meth:`PeerForwarder.abandon`): the node then
retries the request with the new leader instead of waiting out a dead one.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

from .httpapi import ApiError

TIMED_OUT = object()  # the result a deadline gives a waiter still pending


class Deadlines:
    """Coarse timeouts for request waiters, swept by the node's ticker.

    ``add(fut, seconds)``: once that time has passed, ``fut`` (if still pending) gets
    the result TIMED_OUT at the next :meth:`expire`. A heap of plain tuples: per
    request far cheaper than a loop timer (``call_later`` / ``wait_for`` cost several
    microseconds each in Python-level handles); precision is one tick.
    """

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, asyncio.Future]] = []
        self.seq = itertools.count()

    def add(self, fut: asyncio.Future, seconds: float) -> None:
        heapq.heappush(self.heap, (fut.get_loop().time() + seconds, next(self.seq), fut))

    def expire(self, now: float) -> None:
        heap = self.heap
        while heap and (heap[0][0] <= now or heap[0][2].done()):
            fut = heapq.heappop(heap)[2]
            if not fut.done():
                fut.set_result(TIMED_OUT)


class PeerForwarder:
    """Tracks forwarded requests awaiting the leader's answer. With ``deadlines``
    (swept by the caller) their timeouts cost no loop timer."""

    def __init__(self, send: Callable[[str, dict], bool],
                 deadlines: Deadlines | None = None) -> None:
        self.send = send  # returns False if there is no live connection to the peer
        self.deadlines = deadlines
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future] = {}
        self.sent_to: dict[int, str] = {}

    async def forward(self, leader: str, path: str, req: dict, timeout: float,
                      term: int) -> tuple[int, dict]:
        rid = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        if not self.send(leader, {"type": "fwd", "id": rid, "path": path, "req": req,
                                  "term": term}):
            raise ApiError(f"no connection to leader {leader}", definite=True)
        self.pending[rid] = fut
        self.sent_to[rid] = leader
        try:
            if self.deadlines is None:
                return await asyncio.wait_for(fut, timeout)
            self.deadlines.add(fut, timeout)
            res = await fut
            if res is TIMED_OUT:
                raise TimeoutError
            return res
        except TimeoutError:
            raise ApiError(f"no answer from leader {leader} within {timeout:g}s",
                           definite=False) from None
        finally:
            self.pending.pop(rid, None)
            self.sent_to.pop(rid, None)

    def abandon(self, leader: str | None) -> None:
        """Stop waiting for requests sent to any node but ``leader`` (the leader changed):
        they may or may not have been applied, so they fail indefinitely."""
        for rid, to in list(self.sent_to.items()):
            fut = self.pending.get(rid)
            if to != leader and fut is not None and not fut.done():
                fut.set_exception(ApiError(f"leader changed from {to} while forwarding",
                                           definite=False))

    def on_response(self, m: dict) -> None:
        fut = self.pending.get(m["id"])
        if fut is not None and not fut.done():
            fut.set_result((m["status"], m["obj"]))

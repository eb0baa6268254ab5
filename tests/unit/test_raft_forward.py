"""Forwarding's bookkeeping: answers, unsent requests, and timeouts by swept deadlines."""

from __future__ import annotations

import asyncio

import pytest

from splitbrain.raft.forward import TIMED_OUT, Deadlines, PeerForwarder
from splitbrain.raft.httpapi import ApiError


def test_deadlines_expire_only_pending_futures_whose_time_has_come() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        dl = Deadlines()
        early, late, answered = (loop.create_future() for _ in range(3))
        dl.add(early, 0.0)
        dl.add(late, 60.0)
        dl.add(answered, 0.0)
        answered.set_result("yes")
        dl.expire(loop.time())
        assert early.result() is TIMED_OUT
        assert answered.result() == "yes"
        assert not late.done()
        assert [e[2] for e in dl.heap] == [late]  # settled entries are dropped
        dl.expire(loop.time() + 61)
        assert late.result() is TIMED_OUT

    asyncio.run(go())


def test_forward_answer_unsent_and_timeout() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        sent: list[dict] = []
        dl = Deadlines()
        fw = PeerForwarder(lambda to, m: sent.append(m) or True, dl)
        task = loop.create_task(fw.forward("n1", "/kv/put", {"key": "k"}, 5.0, 1))
        await asyncio.sleep(0)
        fw.on_response({"id": sent[-1]["id"], "status": 200, "obj": {"ok": True}})
        assert await task == (200, {"ok": True})

        task = loop.create_task(fw.forward("n1", "/kv/put", {"key": "k"}, 5.0, 1))
        await asyncio.sleep(0)
        dl.expire(loop.time() + 6)  # the ticker's sweep, past the deadline
        with pytest.raises(ApiError) as ei:
            await task
        assert ei.value.definite is False  # it was sent: it may have applied
        assert fw.pending == {}

        down = PeerForwarder(lambda to, m: False, dl)
        with pytest.raises(ApiError) as ei:
            await down.forward("n1", "/kv/put", {"key": "k"}, 5.0, 1)
        assert ei.value.definite is True  # never sent

    asyncio.run(go())

"""Peer transport: long-lived TCP connections carrying length-prefixed JSON frames.

Each node dials one outbound connection per peer and only sends on it; it reads frames
from the connections peers dial to it. A frame is a 4-byte big-endian length followed
by a JSON object. Messages queued while a peer is unreachable are dropped past a bound:
Raft tolerates loss, and retries come from heartbeats and probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections import deque
from collections.abc import Callable

MAX_QUEUE = 4096
MAX_FRAME = 256 * 1024 * 1024


class PeerLink:
    """Outbound connection to one peer with a send queue and a writer task."""

    def __init__(self, peer: str, addr_of: Callable[[str], str | None],
                 on_broken: Callable[[str], None]) -> None:
        self.peer = peer
        self.addr_of = addr_of
        self.on_broken = on_broken
        self.queue: deque[bytes] = deque()
        self.event = asyncio.Event()
        self.connected = False
        self.task = asyncio.get_running_loop().create_task(self._run())

    def send(self, payload: bytes) -> None:
        if len(self.queue) >= MAX_QUEUE:
            self.queue.popleft()
        self.queue.append(payload)
        self.event.set()

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            addr = self.addr_of(self.peer)
            if addr is None:
                return
            host, port = addr.split(":")[0], int(addr.split(":")[1])
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
            except (TimeoutError, OSError):
                self.queue.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
                continue
            backoff = 0.05
            self.connected = True
            # The peer never writes on this connection: EOF means it closed or died,
            # which we learn at once instead of at the next failed write.
            eof = asyncio.get_running_loop().create_task(r.read(1))
            eof.add_done_callback(lambda _t: self.event.set())
            try:
                while True:
                    await self.event.wait()
                    if eof.done():
                        raise ConnectionResetError("peer closed the connection")
                    self.event.clear()
                    if not self.queue:
                        continue
                    buf = b"".join(self.queue)
                    self.queue.clear()
                    w.write(buf)
                    await asyncio.wait_for(w.drain(), 2.0)
            except (TimeoutError, OSError):
                self.on_broken(self.peer)
            finally:
                self.connected = False
                eof.cancel()
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()

    def close(self) -> None:
        self.task.cancel()


class Transport:
    """Sends messages to peers by id and delivers inbound messages to ``on_message``."""

    def __init__(self, host: str, port: int, addr_of: Callable[[str], str | None],
                 on_message: Callable[[dict], None], on_broken: Callable[[str], None]) -> None:
        self.host, self.port = host, port
        self.addr_of = addr_of
        self.on_message = on_message
        self.on_broken = on_broken
        self.links: dict[str, PeerLink] = {}
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, self.host, self.port)

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while True:
                hdr = await r.readexactly(4)
                (n,) = struct.unpack(">I", hdr)
                if n > MAX_FRAME:
                    return
                self.on_message(json.loads(await r.readexactly(n)))
        except (asyncio.IncompleteReadError, OSError, ValueError):
            pass
        finally:
            w.close()

    def send(self, to: str, msg: dict, require_connected: bool = False) -> bool:
        """Queue ``msg`` for ``to``. With ``require_connected``, refuse (return False)
        unless a connection is up, so the caller knows nothing was sent."""
        link = self.links.get(to)
        if link is None or link.task.done():
            if self.addr_of(to) is None:
                return False
            link = self.links[to] = PeerLink(to, self.addr_of, self.on_broken)
        if require_connected and not link.connected:
            return False
        body = json.dumps(msg, separators=(",", ":")).encode()
        link.send(struct.pack(">I", len(body)) + body)
        return True

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        if self.server is not None:
            self.server.close()

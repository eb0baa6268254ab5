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
MAX_BUFFERED = 4 * 1024 * 1024  # bytes handed to a link's socket buffer before queueing
_LEN = struct.Struct(">I")
_encode = json.JSONEncoder(separators=(",", ":")).encode


class PeerLink:
    """Outbound connection to one peer: a send queue, flushed once per loop iteration.

    ``send`` only queues and schedules a flush (``call_soon``), so everything sent to
    the peer during one loop iteration leaves in one write, without waking a task.
    The task connects, reconnects, and watches for EOF and for a peer that stops
    reading (its buffer not draining within 2 s), both of which break the link.
    """

    def __init__(self, peer: str, addr_of: Callable[[str], str | None],
                 on_broken: Callable[[str], None]) -> None:
        self.peer = peer
        self.addr_of = addr_of
        self.on_broken = on_broken
        self.queue: deque[bytes] = deque()
        self.event = asyncio.Event()
        self.connected = False
        self.writer: asyncio.StreamWriter | None = None
        self.flush_scheduled = False
        self.loop = asyncio.get_running_loop()
        self.task = self.loop.create_task(self._run())

    def send(self, payload: bytes) -> None:
        if len(self.queue) >= MAX_QUEUE:
            self.queue.popleft()
        self.queue.append(payload)
        if self.writer is not None and not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        w = self.writer
        if w is None or not self.queue:
            return
        if w.transport.get_write_buffer_size() > MAX_BUFFERED:
            self.event.set()  # a slow reader: keep queueing (bounded) until it drains
            return
        buf = b"".join(self.queue)
        self.queue.clear()
        w.write(buf)  # sends at once when the socket has room, else buffers
        if w.transport.get_write_buffer_size():
            self.event.set()  # the task drains it, with a deadline

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
            eof = self.loop.create_task(r.read(1))
            eof.add_done_callback(lambda _t: self.event.set())
            self.writer = w
            self._flush()
            try:
                while True:
                    await self.event.wait()
                    self.event.clear()
                    if eof.done():
                        raise ConnectionResetError("peer closed the connection")
                    if w.transport.get_write_buffer_size():
                        await asyncio.wait_for(w.drain(), 2.0)
                        self._flush()
            except (TimeoutError, OSError):
                self.on_broken(self.peer)
            finally:
                self.writer = None
                self.connected = False
                eof.cancel()
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()

    def close(self) -> None:
        self.task.cancel()


class _FrameReader(asyncio.Protocol):
    """Inbound peer connection: splits the byte stream into frames and hands each
    decoded message to ``on_message`` straight from ``data_received``."""

    def __init__(self, on_message: Callable[[dict], None]) -> None:
        self.on_message = on_message
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos, end = 0, len(buf)
        try:
            while end - pos >= 4:
                (n,) = _LEN.unpack_from(buf, pos)
                if n > MAX_FRAME:
                    raise ValueError("frame too large")
                if end - pos - 4 < n:
                    break
                msg = json.loads(buf[pos + 4:pos + 4 + n])
                pos += 4 + n
                self.on_message(msg)
        except ValueError:
            assert self.transport is not None
            self.transport.close()
            pos = end
        del buf[:pos]


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
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _FrameReader(self.on_message),
                                               self.host, self.port)

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
        body = _encode(msg).encode()
        link.send(_LEN.pack(len(body)) + body)
        return True

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        if self.server is not None:
            self.server.close()

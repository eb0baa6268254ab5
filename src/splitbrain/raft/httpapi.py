"""Minimal HTTP/1.1 + JSON server over asyncio streams, with keep-alive.

Only what the client API needs: request line, headers, ``Content-Length`` bodies, JSON
responses, persistent connections.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("splitbrain.raft")
Handler = Callable[[str, str, dict, bytes], Awaitable[tuple[int, dict]]]
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict",
           500: "Internal Server Error", 503: "Service Unavailable"}
MAX_BODY = 64 * 1024 * 1024
_encode = json.JSONEncoder(separators=(",", ":")).encode


class ApiError(Exception):
    """An error answer; ``definite`` says the request certainly took no effect."""

    def __init__(self, message: str, definite: bool, status: int = 503) -> None:
        super().__init__(message)
        self.definite = definite
        self.status = status


def encode_response(status: int, obj: dict, keep_alive: bool = True) -> bytes:
    body = _encode(obj).encode()
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
    return head.encode() + body


async def read_message(r: asyncio.StreamReader) -> tuple[str, dict, bytes] | None:
    """Read one request or response: (start line, lower-cased headers, body)."""
    try:
        head = await r.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    if n > MAX_BODY:
        raise ValueError("body too large")
    body = await r.readexactly(n) if n else b""
    return lines[0], headers, body


class HttpServer:
    """Serves ``handler(method, path, headers, body) -> (status, json)`` with keep-alive."""

    def __init__(self, host: str, port: int, handler: Handler) -> None:
        self.host, self.port, self.handler = host, port, handler
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, self.host, self.port,
                                                 limit=MAX_BODY)

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while True:
                msg = await read_message(r)
                if msg is None:
                    return
                start, headers, body = msg
                parts = start.split(" ")
                if len(parts) < 2:
                    return
                try:
                    status, obj = await self.handler(parts[0], parts[1], headers, body)
                except ApiError as e:
                    status, obj = e.status, {"ok": False, "error": str(e),
                                             "definite": e.definite}
                except Exception as e:  # a bug of ours: we cannot say what happened
                    log.exception("request handler failed")
                    status, obj = 500, {"ok": False, "error": f"internal error: {e!r}",
                                        "definite": False}
                keep = headers.get("connection", "").lower() != "close"
                w.write(encode_response(status, obj, keep))
                await w.drain()
                if not keep:
                    return
        except (OSError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            w.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

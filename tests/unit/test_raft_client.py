"""RaftClient's definite/indefinite classification of failures (no Raft node needed)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from splitbrain.raft.client import RaftClient, RaftError


def _serve(handler) -> Iterator[str]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def loop() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join()
    srv.close()


def _read_request(conn: socket.socket) -> bytes:
    """The whole HTTP request body (headers and body may arrive in several reads)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return body


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts and reads the request, never answers: a write may have happened."""
    def handler(conn: socket.socket) -> None:
        conn.recv(65536)
        threading.Event().wait(3)
        conn.close()
    yield from _serve(handler)


@pytest.fixture
def error_server() -> Iterator[str]:
    """Answers every request with a 503 definite error and echoes the request body."""
    def handler(conn: socket.socket) -> None:
        body_in = _read_request(conn)
        body = json.dumps({"ok": False, "error": "no leader known", "definite": True,
                           "echo": json.loads(body_in)}).encode()
        conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        conn.close()
    yield from _serve(handler)


def test_timeout_after_sending_is_indefinite(silent_server: str) -> None:
    c = RaftClient(silent_server, timeout=0.5)
    with pytest.raises(RaftError) as ei:
        c.put("x", 1)
    assert ei.value.definite is False


def test_read_timeout_is_definite(silent_server: str) -> None:
    c = RaftClient(silent_server, timeout=0.5)
    with pytest.raises(RaftError) as ei:
        c.get("x")
    assert ei.value.definite is True  # a read never takes effect


def test_server_definite_error_is_passed_through(error_server: str) -> None:
    c = RaftClient(error_server, timeout=2)
    with pytest.raises(RaftError) as ei:
        c.cas("k", 1, 2)
    assert ei.value.definite is True and ei.value.status == 503
    assert "no leader" in str(ei.value)


def test_writes_carry_session_and_increasing_seq() -> None:
    c = RaftClient("http://127.0.0.1:1", client_id="abc")
    sent: list[dict] = []
    c.request = lambda method, path, body=None, write=True: sent.append(body) or {  # type: ignore[method-assign]
        "ok": True, "succeeded": True, "results": []}
    c.put("a", 1)
    c.cas("a", 1, 2)
    c.txn([["r", "a", None]], seq=1)
    assert [(b["client"], b["seq"]) for b in sent] == [("abc", 1), ("abc", 2), ("abc", 1)]


def test_bad_base_url() -> None:
    with pytest.raises(ValueError):
        RaftClient("not a url")


def test_forwarded_request_to_an_old_leader_is_abandoned_indefinitely() -> None:
    """A follower waiting on a leader that changed gives up at once (then retries with
    the new leader), and says the request may have applied."""
    import asyncio

    from splitbrain.raft.forward import PeerForwarder
    from splitbrain.raft.httpapi import ApiError

    async def scenario() -> tuple[ApiError, tuple]:
        fwd = PeerForwarder(lambda to, m: True)
        old = asyncio.create_task(fwd.forward("n1", "/kv/put", {"key": "k"}, 30, 1))
        new = asyncio.create_task(fwd.forward("n2", "/kv/put", {"key": "k"}, 30, 2))
        await asyncio.sleep(0)
        fwd.abandon("n2")                        # n2 is the leader now
        with pytest.raises(ApiError) as ei:
            await old
        fwd.on_response({"id": 2, "status": 200, "obj": {"ok": True}})
        return ei.value, await new

    err, answer = asyncio.run(scenario())
    assert err.definite is False and "leader changed from n1" in str(err)
    assert answer == (200, {"ok": True})

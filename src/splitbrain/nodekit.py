"""The small kit every textbook protocol node is built from (standard library only).

The quorum store, two- and three-phase commit and Multi-Paxos each run as
``python3 -m splitbrain.<name>`` on a node, next to a copy of this module, so the
nodes need nothing but ``python3``. They share:

* a JSON-over-HTTP server (:func:`serve`): ``POST /<route>`` with a JSON object in,
  a JSON object out; a handler raises :class:`NodeError` to answer with an error
  that says whether the request certainly took no effect (``definite``);
* peer calls (:func:`call`, :func:`fanout`): one request, or the same request to many
  peers at once, returning as soon as enough have answered — the quorum primitive;
* durable state (:class:`DurableFile`, :class:`AppendLog`) with ``fsync`` that a
  ``-o`` switch can turn off, so "forgets after a crash" is one flag away;
* the command line every node takes (:func:`parse_args`).

Keeping this in one module makes each protocol file read like the textbook page it
implements: the messages and the state, not sockets and threads.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("splitbrain.nodekit")

Route = Callable[[dict[str, Any]], dict[str, Any]]
_POOL = ThreadPoolExecutor(max_workers=64, thread_name_prefix="fanout")


class NodeError(Exception):
    """An error answer. ``definite``: the request certainly took no effect."""

    def __init__(self, message: str, definite: bool, status: int = 503) -> None:
        super().__init__(message)
        self.definite = definite
        self.status = status


class PeerDown(Exception):
    """A peer did not answer (refused, timed out, reset) or answered with an error."""


# ---------------------------------------------------------------------- server
def serve(routes: dict[str, Route], host: str, port: int) -> ThreadingHTTPServer:
    """Serve ``routes`` (path -> handler) on ``host:port`` in a background thread."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in two writes: with Nagle on, the body waits for the
        # peer's delayed ACK (up to 40 ms per answer)
        disable_nagle_algorithm = True

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet: the node logs itself
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            n = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(n) or b"{}")
                route = routes.get(self.path)
                if route is None:
                    raise NodeError(f"no route {self.path}", True, 404)
                status, out = 200, route(body)
            except NodeError as e:
                status, out = e.status, {"error": str(e), "definite": e.definite}
            except (ValueError, KeyError, TypeError) as e:
                status, out = 400, {"error": f"bad request: {e!r}", "definite": True}
            except Exception as e:  # a bug in the node: say so, outcome unknown
                log.exception("handler %s failed", self.path)
                status, out = 500, {"error": f"internal error: {e!r}", "definite": False}
            data = json.dumps(out, separators=(",", ":")).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True   # the client gave up (its timeout): no noise

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


# ---------------------------------------------------------------------- peers
def call(addr: str, route: str, body: dict[str, Any], timeout: float = 1.0) -> dict[str, Any]:
    """POST ``body`` to ``http://addr/route``; :class:`PeerDown` on any failure."""
    host, _, port = addr.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        data = json.dumps(body, separators=(",", ":")).encode()
        conn.request("POST", route, data, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        out = json.loads(resp.read() or b"{}")
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise PeerDown(f"{addr}{route}: {e!r}") from None
    finally:
        conn.close()
    if resp.status != 200:
        raise PeerDown(f"{addr}{route}: {resp.status} {out.get('error')}")
    return out


def fanout(addrs: list[str], route: str, body: dict[str, Any], *, need: int | None = None,
           timeout: float = 1.0,
           until: Callable[[list[tuple[str, dict[str, Any]]]], bool] | None = None
           ) -> list[tuple[str, dict[str, Any]]]:
    """Send ``body`` to every address at once; return the answers ``(addr, reply)``.

    Returns as soon as ``need`` peers have answered (all of them when ``need`` is
    None), ``until(answers)`` is true, or ``timeout`` has passed — whichever is first;
    a peer that failed or is still silent is simply not in the list.
    """
    want = len(addrs) if need is None else need
    futures = {_POOL.submit(call, a, route, body, timeout): a for a in addrs}
    answers: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    pending = set(futures)
    while pending and len(answers) < want and not (until is not None and until(answers)):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        done, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
        for f in done:
            try:
                answers.append((futures[f], f.result()))
            except PeerDown as e:
                log.debug("%s", e)
    return answers


# ---------------------------------------------------------------------- disk
def _fsync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DurableFile:
    """One JSON value in a file, replaced atomically (write, fsync, rename, fsync dir).

    With ``fsync=False`` the value is only kept in memory and written at a clean
    stop (:meth:`flush`): a SIGKILL loses it, which is exactly the "no fsync" bug.
    """

    def __init__(self, path: str, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self._pending: Any = None
        self._dirty = False

    def load(self, default: Any) -> Any:
        try:
            with open(self.path) as f:
                return json.load(f)
        except FileNotFoundError:
            return default

    def save(self, value: Any) -> None:
        if not self.fsync:
            self._pending, self._dirty = value, True
            return
        self._write(value)

    def flush(self) -> None:
        if self._dirty:
            self._write(self._pending)
            self._dirty = False

    def _write(self, value: Any) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(value, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path)


class AppendLog:
    """JSON records appended one per line, fsynced per record (or not, see DurableFile)."""

    def __init__(self, path: str, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self._buffer: list[str] = []
        self._f = open(path, "a")  # noqa: SIM115 (kept open for the node's life)

    def replay(self) -> Iterator[dict[str, Any]]:
        """Every whole record written so far (a torn last line is ignored)."""
        with open(self.path) as f:
            for line in f:
                try:
                    yield json.loads(line)
                except ValueError:
                    return

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        if not self.fsync:
            self._buffer.append(line)
            return
        self._f.write(line)
        self._f.flush()
        os.fsync(self._f.fileno())

    def flush(self) -> None:
        if self._buffer:
            self._f.write("".join(self._buffer))
            self._buffer.clear()
        self._f.flush()
        os.fsync(self._f.fileno())


# ---------------------------------------------------------------------- command line
def parse_opt(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--opt wants KEY=VALUE, got {text!r}")
    return key, value


def parse_args(prog: str, description: str, argv: list[str] | None = None
               ) -> argparse.Namespace:
    """The options every node takes: its id, the peers, its port and data directory.

    ``--peers`` is ``ID=HOST:PORT,...`` (this node included); ``--opt KEY=VALUE``
    carries the protocol's own switches (the harness passes its ``-o`` options).
    """
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--id", required=True, help="this node's id (must appear in --peers)")
    p.add_argument("--peers", required=True, help="ID=HOST:PORT,... for every node")
    p.add_argument("--data-dir", required=True, help="directory for durable state")
    p.add_argument("--opt", action="append", default=[], type=parse_opt, metavar="KEY=VALUE",
                   help="a protocol switch (repeatable)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    peers: dict[str, str] = {}
    for item in args.peers.split(","):
        name, sep, addr = item.partition("=")
        if not sep or ":" not in addr:
            p.error(f"--peers entry {item!r} must look like ID=HOST:PORT")
        peers[name] = addr
    if args.id not in peers:
        p.error(f"--id {args.id} is not in --peers")
    args.peers = peers
    args.opts = dict(args.opt)
    os.makedirs(args.data_dir, exist_ok=True)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format=f"%(asctime)s {args.id} %(levelname)s %(message)s")
    return args


def run_forever(server: ThreadingHTTPServer, on_stop: Callable[[], None] = lambda: None
                ) -> None:
    """Block until SIGTERM/SIGINT, then call ``on_stop`` (flush what a clean stop keeps)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    on_stop()
    server.shutdown()
    logging.shutdown()
    os._exit(0)


def opt_bool(opts: dict[str, str], key: str, default: bool) -> bool:
    """A boolean ``--opt`` (true/false/1/0/yes/no/on/off)."""
    v = opts.get(key)
    if v is None:
        return default
    if v.lower() in ("1", "true", "yes", "on"):
        return True
    if v.lower() in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"error: --opt {key}={v}: want true or false")

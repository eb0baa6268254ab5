"""``splitbrain serve``: the store over HTTP (loopback by default) with a fresh index.

The standard library's file server serves the store directory — never a file a
symlink leads to outside it; ``/`` and ``/index.html`` regenerate the index on each
request so new runs appear, and a run's ``report.html`` is written on first request
if the run has none yet.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from splitbrain.errors import HarnessError
from splitbrain.history.store import REPORT, RESULTS
from splitbrain.reports.index import write_index

log = logging.getLogger("splitbrain.serve")


class StoreHandler(SimpleHTTPRequestHandler):
    """Serves files of the store; regenerates the index and missing reports on demand."""

    store: Path

    def __init__(self, *args, store: Path, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.store = store
        super().__init__(*args, directory=str(store), **kwargs)

    def translate_path(self, path: str) -> str:
        """The file for ``path``, or a name that does not exist when it would resolve
        (through a symlink, say) to anything outside the store: that is a 404."""
        local = super().translate_path(path)
        root = os.path.realpath(self.store)
        real = os.path.realpath(local)
        if real != root and not real.startswith(root.rstrip("/") + "/"):
            log.warning("refused %s: resolves outside the store", path)
            return os.path.join(root, ".splitbrain-refused-outside-store")
        return local

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._prepare()
        super().do_GET()

    def do_HEAD(self) -> None:  # noqa: N802
        self._prepare()
        super().do_HEAD()

    def _prepare(self) -> None:
        path = unquote(urlsplit(self.path).path)
        try:
            if path in ("/", "/index.html"):
                write_index(self.store)
            elif path.endswith("/report.html"):
                run = (self.store / path.lstrip("/")).parent.resolve()
                if (run.is_relative_to(self.store.resolve()) and not (run / REPORT).exists()
                        and (run / RESULTS).exists()):
                    from splitbrain.reports.html import write_report

                    write_report(run)
        except Exception as e:  # noqa: BLE001 - serve what exists; say what failed
            log.warning("could not generate %s: %s", path, e)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)


def make_server(store: Path, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """A ready (not yet serving) HTTP server for the store; port 0 picks a free port."""
    store = Path(store)
    if not store.is_dir():
        raise HarnessError(f"{store}: no such store directory (run a test first)")
    write_index(store)
    handler = functools.partial(StoreHandler, store=store.resolve())
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        raise HarnessError(f"cannot listen on {host}:{port}: {e.strerror}; "
                           "pick another --port") from None
    server.daemon_threads = True
    return server


def serve(store: Path, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the store until Ctrl-C, printing the URL of its index."""
    server = make_server(store, host, port)
    h, p = server.server_address[:2]
    shown = f"[{h}]" if ":" in str(h) else h
    print(f"serving {Path(store).resolve()} at http://{shown}:{p}/  (Ctrl-C to stop)",
          file=sys.stderr, flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}, not loopback: anyone who can reach it can read "
              "the store", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

"""A complete splitbrain plugin: a tiny key-value server and the System that runs it.

The server (``python3 tinykv.py --host H --port P --data F``) keeps a dict in
memory and, with ``--persist``, writes it to disk with fsync before answering.
Without persistence a SIGKILL loses acknowledged writes, and splitbrain's
``kill`` nemesis finds that:

    splitbrain test --system tinykv:TinyKV --backend local --nodes 1 \\
        --nemesis kill --nemesis-interval 2 --time-limit 30 --ops-per-key 1000  # -> INVALID
    splitbrain test --system tinykv:TinyKV --backend local --nodes 1 \\
        --nemesis kill --nemesis-interval 2 --time-limit 30 --ops-per-key 1000 -o persist=true  # VALID

(run from this directory, or put it on PYTHONPATH).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, ClassVar

PORT = 7070


# ---------------------------------------------------------------- the server
def serve(host: str, port: int, data: str, persist: bool) -> None:
    """Serve GET/PUT /kv/<key> and POST /cas/<key> over HTTP."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    lock = threading.Lock()
    store: dict[str, Any] = {}
    if persist and os.path.exists(data):
        with open(data) as fh:
            store.update(json.load(fh))

    def save() -> None:
        if persist:
            tmp = data + ".tmp"
            with open(tmp, "w") as fh:
                json.dump(store, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, data)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, obj: Any) -> None:
            body = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def body(self) -> Any:
            return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

        def do_GET(self) -> None:
            with lock:
                self.reply({"value": store.get(self.path.split("/", 2)[2])})

        def do_PUT(self) -> None:
            key, value = self.path.split("/", 2)[2], self.body()["value"]
            with lock:
                store[key] = value
                save()
            self.reply({"ok": True})

        def do_POST(self) -> None:
            key, req = self.path.split("/", 2)[2], self.body()
            with lock:
                ok = store.get(key) == req["expected"]
                if ok:
                    store[key] = req["new"]
                    save()
            self.reply({"ok": ok})

    ThreadingHTTPServer((host, port), Handler).serve_forever()


# ---------------------------------------------------------------- the plugin
try:
    import httpx

    from splitbrain.clusters.node import Node
    from splitbrain.clusters.system import Client, ClientError, System, SystemOption, parse_bool
except ImportError:  # on a node only the server part is needed
    pass
else:

    class TinyKVClient(Client):
        """read/write/cas over HTTP. Connection refused: definitely not applied (fail);
        a timeout after sending: maybe applied (info)."""

        capabilities = frozenset({"read", "write", "cas"})

        def __init__(self, node: Node) -> None:
            super().__init__(node)
            self.http = httpx.Client(base_url=f"http://{node.address}:{PORT}", timeout=1.0)

        def _call(self, method: str, path: str, body: Any = None) -> Any:
            try:
                r = self.http.request(method, path, json=body)
                r.raise_for_status()
                return r.json()
            except httpx.ConnectError as e:
                raise ClientError(f"connection refused: {e}", definite=True) from None
            except httpx.HTTPError as e:
                raise ClientError(f"{type(e).__name__}: {e}", definite=False) from None

        def read(self, key: str) -> Any:
            return self._call("GET", f"/kv/{key}")["value"]

        def write(self, key: str, value: Any) -> None:
            self._call("PUT", f"/kv/{key}", {"value": value})

        def cas(self, key: str, expected: Any, new: Any) -> bool:
            return self._call("POST", f"/cas/{key}", {"expected": expected, "new": new})["ok"]

        def close(self) -> None:
            self.http.close()

    class TinyKV(System):
        """The lifecycle on a Node: copy this file over, start it as a daemon."""

        name = "tinykv"
        daemon = "tinykv"
        capabilities = TinyKVClient.capabilities      # checked before any node starts
        options: ClassVar[dict[str, SystemOption]] = {
            "persist": SystemOption(False, "fsync every write to disk", parse_bool),
        }

        def install(self, node: Node) -> None:
            node.put_file(os.path.abspath(__file__), f"{node.work_dir}/tinykv.py")

        def start(self, node: Node) -> None:
            cmd = ["python3", f"{node.work_dir}/tinykv.py", "--host", node.address,
                   "--port", str(PORT), "--data", f"{node.work_dir}/data.json"]
            node.start_daemon(self.daemon, cmd + (["--persist"] if self.opts["persist"] else []))

        def wipe(self, node: Node) -> None:
            node.exec(["rm", "-f", f"{node.work_dir}/data.json"])

        def healthy(self) -> bool:
            return all(httpx.get(f"http://{n.address}:{PORT}/kv/x", timeout=1).status_code == 200
                       for n in self.nodes)

        def endpoint(self, node: Node) -> str:
            return f"http://{node.address}:{PORT}"

        def client(self, node: Node) -> Client:
            return TinyKVClient(node)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=PORT)
    ap.add_argument("--data", default="data.json")
    ap.add_argument("--persist", action="store_true")
    a = ap.parse_args(sys.argv[1:])
    serve(a.host, a.port, a.data, a.persist)

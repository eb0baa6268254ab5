"""Command line: ``python3 -m splitbrain.quorum --id n1 --peers n1=H:P,... --data-dir D``.

Options (``--opt KEY=VALUE``): ``w``, ``r`` (quorum sizes, default a majority),
``write_back`` (default true), ``lww`` (default false), ``fsync`` (default true),
``peer_timeout`` (seconds a coordinator waits for replicas, default 1.0). See the
package docstring for the protocol.
"""

from __future__ import annotations

import logging
import os
import time
from functools import partial
from typing import Any

from splitbrain import nodekit
from splitbrain.quorum import Coordinator, Replica, settings_from

log = logging.getLogger("splitbrain.quorum")


def main() -> None:
    args = nodekit.parse_args("python3 -m splitbrain.quorum",
                              "A leaderless quorum KV store node (ABD / Dynamo-style).")
    settings = settings_from(args.opts, len(args.peers), nodekit.opt_bool)
    peer_timeout = float(args.opts.get("peer_timeout") or 1.0)
    replica = Replica(nodekit.AppendLog(os.path.join(args.data_dir, "replica.log"),
                                        fsync=nodekit.opt_bool(args.opts, "fsync", True)))
    addrs = list(args.peers.values())

    def fanout(route: str, body: dict[str, Any], need: int) -> list[dict[str, Any]]:
        return [reply for _, reply in nodekit.fanout(addrs, route, body, need=need,
                                                     timeout=peer_timeout)]

    coord = Coordinator(args.id, settings, fanout)

    def status(body: dict[str, Any]) -> dict[str, Any]:
        return {"id": args.id, "n": settings.n, "w": settings.w, "r": settings.r,
                "write_back": settings.write_back, "lww": settings.lww,
                "keys": len(replica.data),
                "time": time.time()}   # the wall clock this node sees (skewed by libfaketime)

    def read(body: dict[str, Any]) -> dict[str, Any]:
        return {"value": coord.read(str(body["key"]))}

    def write(body: dict[str, Any]) -> dict[str, Any]:
        coord.write(str(body["key"]), body["value"])
        return {}

    def add(body: dict[str, Any]) -> dict[str, Any]:
        coord.add(str(body["key"]), body["element"])
        return {}

    def replica_get(body: dict[str, Any]) -> dict[str, Any]:
        return {"rec": replica.get(str(body["key"]))}

    def replica_put(body: dict[str, Any]) -> dict[str, Any]:
        return {"changed": replica.put(str(body["key"]), body["rec"])}

    host, _, port = args.peers[args.id].rpartition(":")
    server = nodekit.serve({"/status": status, "/read": read, "/write": write, "/add": add,
                            "/replica/get": replica_get, "/replica/put": replica_put},
                           host, int(port))
    log.info("quorum node %s on %s:%s: N=%d W=%d R=%d write_back=%s lww=%s", args.id, host,
             port, settings.n, settings.w, settings.r, settings.write_back, settings.lww)
    nodekit.run_forever(server, partial(replica.flush))


if __name__ == "__main__":
    main()

"""``python3 -m splitbrain.paxos``: one Multi-Paxos node (acceptor + learner + proposer).

Routes (JSON over HTTP POST, see :mod:`splitbrain.nodekit`):

* client: ``/read {key}``, ``/write {key, value}``, ``/cas {key, expected, new}``, each
  with ``client`` and ``seq`` (a retry reuses them and is applied once); answers
  ``{"value"}``, ``{}``, ``{"ok"}``. ``/status``.
* peers: ``/prepare {ballot, from}``, ``/accept {ballot, entries}``, ``/learn {entries}``.

Options (``--opt``): ``leader=true|false`` (keep a won ballot for later slots, and
forward client commands to the node whose ballot this node's acceptor promised),
``bug=acceptor-forgets,no-adopt`` (see :mod:`splitbrain.paxos.core`), ``request_s``
(how long a node works on one client command before it gives up; keep it below the
client's timeout).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from splitbrain import nodekit
from splitbrain.paxos.core import BUGS, Acceptor, Learner, Proposer, Unavailable

log = logging.getLogger("splitbrain.paxos")
_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="paxos")


def main(argv: list[str] | None = None) -> None:
    args = nodekit.parse_args("python3 -m splitbrain.paxos", "a Multi-Paxos KV node", argv)
    bugs = {b for b in args.opts.get("bug", "").split(",") if b}
    unknown = bugs - set(BUGS)
    if unknown:
        raise SystemExit(f"error: unknown bug {sorted(unknown)}: choose from {', '.join(BUGS)}")
    leader_mode = nodekit.opt_bool(args.opts, "leader", True)
    request_s = float(args.opts.get("request_s", "2.0"))
    names = sorted(args.peers)
    index = names.index(args.id)
    addrs = [args.peers[n] for n in names]
    others = [a for n, a in zip(names, addrs, strict=True) if n != args.id]

    store = nodekit.AppendLog(os.path.join(args.data_dir, "acceptor.log"),
                              fsync="acceptor-forgets" not in bugs)
    acceptor = Acceptor(store)
    learner = Learner()

    def ask(route: str, body: dict[str, Any], timeout: float, enough: Any
            ) -> list[dict[str, Any]]:
        got = nodekit.fanout(addrs, route, body, timeout=timeout,
                             until=lambda answers: enough([r for _, r in answers]))
        return [r for _, r in got]

    def broadcast(entries: dict[int, Any]) -> None:
        body = {"entries": {str(s): v for s, v in entries.items()}}
        for a in others:
            _POOL.submit(_quiet_call, a, "/learn", body)

    proposer = Proposer(index, len(addrs), ask, learner, leader=leader_mode,
                        no_adopt="no-adopt" in bugs, on_chosen=broadcast)
    proposer.max_seen = list(acceptor.promised)   # start above what we promised before

    def submit(body: dict[str, Any], op: str) -> dict[str, Any]:
        cmd = {"op": op, "key": str(body["key"]), "client": str(body["client"]),
               "seq": int(body["seq"])}
        if op == "write":
            cmd["value"] = body["value"]
        elif op == "cas":
            cmd["expected"], cmd["new"] = body["expected"], body["new"]
        budget = min(request_s, float(body.get("budget", request_s)))
        deadline = time.monotonic() + budget
        forwarded_maybe = False
        owner = acceptor.promised[1]
        if (leader_mode and not body.get("forwarded") and 0 <= owner != index
                and proposer.ballot is None):
            # the leader is whoever our acceptor last promised: let it propose. It gets
            # half the budget, so that if it is gone (killed, paused, cut off) there is
            # time left to take over with a phase 1 of our own.
            try:
                return nodekit.call(addrs[owner], f"/{op}",
                                    {**body, "forwarded": True,
                                     "budget": max(0.05, budget / 2 - 0.1)},
                                    timeout=budget / 2)
            except nodekit.PeerDown as e:
                # it may have proposed before failing: our own try below is deduplicated
                log.info("forward to %s failed: %s", names[owner], e)
                forwarded_maybe = True
        try:
            return proposer.submit(cmd, deadline)
        except Unavailable as e:
            raise nodekit.NodeError(str(e), definite=e.definite and not forwarded_maybe) from None

    def status(_: dict[str, Any]) -> dict[str, Any]:
        return {"id": args.id, "leader": proposer.ballot is not None,
                "ballot": proposer.ballot, "promised": acceptor.promised,
                "applied": learner.applied, "conflicts": learner.conflicts,
                "bugs": sorted(bugs), "leader_mode": leader_mode}

    def learn(body: dict[str, Any]) -> dict[str, Any]:
        clash = learner.learn({int(s): v for s, v in body["entries"].items()})
        if clash:
            log.error("slots %s were told a value different from the one learned", clash)
        return {}

    routes = {
        "/read": lambda b: submit(b, "read"),
        "/write": lambda b: submit(b, "write"),
        "/cas": lambda b: submit(b, "cas"),
        "/status": status,
        "/prepare": lambda b: acceptor.prepare(b["ballot"], int(b["from"])),
        "/accept": lambda b: acceptor.accept(b["ballot"], b["entries"]),
        "/learn": learn,
    }
    host = args.peers[args.id].rpartition(":")[0]
    port = int(args.peers[args.id].rpartition(":")[2])
    server = nodekit.serve(routes, host, port)
    log.info("paxos node %s on %s:%d, leader=%s, bugs=%s, %d accepted slots on disk",
             args.id, host, port, leader_mode, sorted(bugs) or "none",
             len(acceptor.accepted))
    nodekit.run_forever(server, on_stop=store.flush)


def _quiet_call(addr: str, route: str, body: dict[str, Any]) -> None:
    try:
        nodekit.call(addr, route, body, timeout=1.0)
    except nodekit.PeerDown as e:
        log.debug("%s", e)


if __name__ == "__main__":
    main()

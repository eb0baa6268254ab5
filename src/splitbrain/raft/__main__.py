"""Command line: ``python3 -m splitbrain.raft --id n1 --peers ... --client-port P --data-dir D``.

See the package docstring (``splitbrain/raft/__init__.py``) for the HTTP API.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys

from .core import BUGS
from .server import Node, Options

HELP = """\
Run one node of splitbrain's Raft key-value store (standard library only).

Peers: --peers n1=HOST:RAFTPORT[:CLIENTPORT],n2=...  HOST:RAFTPORT is the Raft RPC
address; CLIENTPORT (the HTTP client API) defaults to this node's --client-port, so a
cluster whose nodes have distinct hosts can all use one client port. The client API of
a node binds to the host of its own peer entry (or --host). Every node of a new
cluster gets the same --peers. A node that joins a running cluster starts with --join
and a --peers that names at least itself; it waits until the leader adds it
(POST /members/add on any node). The first start records the initial membership in
DATA_DIR/bootstrap.json; restarts use that file and the log, not --peers.

Known bugs (off by default, --bug NAME, repeatable):
  stale-read       answer /kv/get from local state on any node, without ReadIndex
                   (breaks linearizable reads, dissertation 6.4)
  no-log-check     grant votes without the up-to-date log check (breaks 5.4.1 election
                   restriction: a stale node can win and overwrite committed entries)
  commit-old-term  commit entries of earlier terms by counting replicas, and skip the
                   term-start no-op, so ReadIndex no longer waits for a current-term
                   commit either (breaks 5.4.2, the paper's Figure 8)
  no-fsync         acknowledge log entries, terms and votes before they are durable:
                   they sit in process memory, are written every 2 s and never
                   fsync'd, so a SIGKILL or power cut forgets them (breaks Figure 2's
                   "persist before responding")
  no-dedup         ignore client sessions: a retried write applies again (breaks 6.3)
"""


def parse_peers(spec: str, default_client_port: int) -> dict[str, str]:
    """``n1=h:1,n2=h:2:3`` -> {"n1": "h:1:<default>", "n2": "h:2:3"}; exits on bad input."""
    peers: dict[str, str] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        nid, _, addr = item.partition("=")
        parts = addr.split(":")
        if not nid or len(parts) not in (2, 3) or not all(p.isdigit() for p in parts[1:]):
            raise SystemExit(f"error: bad peer {item!r}: want ID=HOST:RAFTPORT[:CLIENTPORT]")
        if len(parts) == 2:
            parts.append(str(default_client_port))
        peers[nid] = ":".join(parts)
    return peers


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m splitbrain.raft", description=HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--id", required=True, help="this node's id (must appear in --peers)")
    p.add_argument("--peers", required=True, help="ID=HOST:RAFTPORT[:CLIENTPORT],...")
    p.add_argument("--client-port", type=int, required=True, help="HTTP client API port")
    p.add_argument("--data-dir", required=True, help="directory for log, state, snapshot")
    p.add_argument("--host", help="bind address (default: host of this node's peer entry)")
    p.add_argument("--join", action="store_true",
                   help="start with no membership and wait to be added to a running cluster")
    p.add_argument("--bug", action="append", default=[], choices=BUGS, metavar="NAME",
                   help="enable a known bug: " + ", ".join(BUGS))
    p.add_argument("--tick-ms", type=float, default=25.0, help="timer resolution (25)")
    p.add_argument("--heartbeat-ms", type=float, default=75.0, help="heartbeat interval (75)")
    p.add_argument("--election-ms", type=float, default=300.0,
                   help="election timeout base; randomized in [E, 2E) (300)")
    p.add_argument("--request-timeout", type=float, default=4.0,
                   help="seconds a client request waits for commit before an indefinite error")
    p.add_argument("--snapshot-entries", type=int, default=10000,
                   help="take a snapshot after this many applied entries (10000)")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format=f"%(asctime)s {args.id} %(levelname)s %(message)s")
    peers = parse_peers(args.peers, args.client_port)
    if args.id not in peers:
        raise SystemExit(f"error: --id {args.id} is not in --peers; add {args.id}=HOST:PORT")
    me = peers[args.id].split(":")
    peers[args.id] = f"{me[0]}:{me[1]}:{args.client_port}"
    if args.heartbeat_ms >= args.election_ms:
        raise SystemExit("error: --heartbeat-ms must be smaller than --election-ms")
    opts = Options(node_id=args.id, peers=peers, data_dir=args.data_dir, host=args.host,
                   join=args.join, bugs=set(args.bug), tick_ms=args.tick_ms,
                   heartbeat_ms=args.heartbeat_ms, election_ms=args.election_ms,
                   request_timeout=args.request_timeout,
                   snapshot_entries=args.snapshot_entries)
    # The persister thread must get the GIL back as soon as its fsync returns; the
    # default 5 ms switch interval would add that much to every commit.
    sys.setswitchinterval(0.0005)
    # Fewer, cheaper cyclic-GC passes: the node's data is acyclic JSON, and full
    # collections over a long in-memory log show up as latency spikes.
    gc.set_threshold(50000, 20, 50)
    try:
        asyncio.run(_run(opts))
    except KeyboardInterrupt:
        pass
    except OSError as e:
        raise SystemExit(f"error: {e}") from None


async def _run(opts: Options) -> None:
    node = Node(opts)
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    prof = None
    if os.environ.get("SPLITBRAIN_RAFT_PROFILE"):  # write cProfile stats on SIGTERM
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    await stop.wait()
    if prof is not None:
        prof.disable()
        prof.dump_stats(os.environ["SPLITBRAIN_RAFT_PROFILE"] + f".{opts.node_id}")
    if node.lazy_jobs:
        node._write_jobs(node.lazy_jobs)  # no-fsync bug: a clean stop still writes
    node.storage.close()
    logging.shutdown()
    os._exit(0)  # skip cancelling every stream task one by one: nothing is left to save


if __name__ == "__main__":
    main()

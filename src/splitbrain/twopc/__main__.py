"""``python3 -m splitbrain.twopc --id n1 --peers n1=H:P,... --data-dir D [--opt k=v]``."""

from __future__ import annotations

from splitbrain.nodekit import parse_args, run_forever, serve
from splitbrain.twopc.node import CommitNode, TwoPCNode


def main(node_class: type[CommitNode] = TwoPCNode, prog: str = "splitbrain.twopc",
         description: str = "a two-phase commit node") -> None:
    """Parse the node's command line, serve its routes until SIGTERM."""
    args = parse_args(prog, description)
    node = node_class(args.id, args.peers, args.data_dir, args.opts)
    _, _, port = args.peers[args.id].rpartition(":")
    server = serve(node.routes(), "0.0.0.0", int(port))
    run_forever(server, node.stop)


if __name__ == "__main__":
    main()

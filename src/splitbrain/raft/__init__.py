"""splitbrain's own Raft key-value store: standard library only, with switchable known bugs.

Run a node::

    python3 -m splitbrain.raft --id n1 --peers n1=127.0.0.1:7001,n2=127.0.0.2:7001,... \\
        --client-port 8001 --data-dir /var/lib/raft/n1 [--host ADDR] [--join] [--bug NAME ...]

``--peers`` entries are ``ID=HOST:RAFTPORT[:CLIENTPORT]``: HOST:RAFTPORT is the peer RPC
address; the client port defaults to this node's ``--client-port`` (all nodes on distinct
hosts can share one client port). Each node's HTTP API listens on the host of its own
peer entry (or ``--host``). ``--join`` starts a node with no membership; it waits to be
added with ``POST /members/add``. ``python3 -m splitbrain.raft --help`` lists timing
flags and the bug switches. Modules: ``core`` (the deterministic protocol), ``membership``,
``state``, ``log``,
``storage``, ``kv`` (state machine), ``transport``, ``httpapi``, ``server``, ``client``.

HTTP API (HTTP/1.1, keep-alive, JSON bodies, every request POST except status)
------------------------------------------------------------------------------
Followers proxy every request except ``GET /status`` to the leader (over their peer
connection, module ``forward``), so a client may stay pinned to one node.
Writes may carry ``"client": ID, "seq": N``; a (client, seq) pair applies at most once
and a retry returns the first result (sessions remember the last 64 seqs per client).
A node re-proposes such a write when its proposal was dropped (leadership lost, entry
overwritten, no answer from the leader) until the request deadline, and the Python
client resends an indeterminate one to the other nodes; the ``no-dedup`` bug switch
makes both apply twice.

=====================  ==============================================  ==========================
path                   request body                                    success body (``ok: true``)
=====================  ==============================================  ==========================
POST /kv/get           {"key"}                                         {"value", "found"}
POST /kv/put           {"key", "value", client?, seq?}                 {}
POST /kv/cas           {"key", "expected", "new", "create_only"?, ...} {"succeeded", "value", "found"}
POST /kv/delete        {"key", client?, seq?}                          {"deleted"}
POST /kv/txn           {"ops": [["r",k,null],["w",k,v],["append",k,v]]} {"results": ops with reads}
POST /lock/acquire     {"name", "owner", "lease_s", client?, seq?}     {"acquired", "token"|"holder"}
POST /lock/release     {"name", "token", client?, seq?}                {"released"}
GET  /status           -                                               {"id", "role", "term",
                                                                        "leader", "leader_client",
                                                                        "commit", "applied",
                                                                        "last_index", "members",
                                                                        "snapshot_index", "voter",
                                                                        "bugs", "stats"}
POST /members/add      {"id", "addr": "HOST:RAFTPORT[:CLIENTPORT]"}    {"members"}
POST /members/remove   {"id"}                                          {"members"}
POST /leader/transfer  {"id"}                                          {"leader"}
=====================  ==============================================  ==========================

Semantics: ``/kv/get`` is linearizable (ReadIndex on the leader, then wait for the
applied index). ``cas`` with ``create_only`` succeeds only if the key is absent; else
it succeeds if the key exists and equals ``expected``. ``append`` appends to a list
value (a missing key is ``[]``). A txn is one log entry, applied atomically. A lock is
held until released or until ``lease_s`` seconds (leader's clock at proposal time)
after acquisition; the token is the log index of the acquiring entry (a fencing token).

Errors: HTTP 400 (bad request), 404 (unknown path), 409 (applied but rejected by the
state machine), 503 (unavailable / timeout), always with body
``{"ok": false, "error": "...", "definite": true|false}``. ``definite: true`` means the
operation certainly did not take effect (rejected before proposing: no leader known,
not the leader, cannot reach the leader before sending, bad input; and every read
error). ``definite: false`` means it may have taken effect (timed out after
proposing, leadership lost after proposing, entry overwritten, no answer from the
leader after forwarding).

Python client: :class:`splitbrain.raft.client.RaftClient`.
"""

"""An in-process stand-in system, written as a plugin, for the harness's own e2e tests.

It is not a system under test: it exercises the runner, store and CLI plumbing.
Every client shares one in-memory dict guarded by a lock, so it is linearizable;
``-o lose_writes=true`` makes writes vanish now and then so the checker must
find it; ``-o slow=S`` makes every op sleep (to interrupt a run mid-flight).
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from splitbrain.clusters.node import Node
from splitbrain.clusters.system import Client, System, SystemOption, parse_bool
from splitbrain.errors import ClientError

_LOCK = threading.Lock()
_DATA: dict[str, Any] = {}


class StandinClient(Client):
    capabilities = frozenset({"read", "write", "cas"})

    def __init__(self, node: Node, opts: dict[str, Any]) -> None:
        super().__init__(node)
        self.opts = opts
        self.n = 0

    def _tick(self) -> None:
        if self.opts["slow"]:
            time.sleep(self.opts["slow"])

    def read(self, key: str) -> Any:
        self._tick()
        with _LOCK:
            return _DATA.get(key)

    def write(self, key: str, value: Any) -> None:
        self._tick()
        self.n += 1
        if self.opts["lose_writes"] and self.n % 3 == 0:
            return  # acknowledged but lost: a bug the checker must find
        if self.opts["flaky"] and self.n % 7 == 0:
            raise ClientError("timeout after sending", definite=False)
        with _LOCK:
            _DATA[key] = value

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        self._tick()
        with _LOCK:
            if _DATA.get(key) != expected:
                return False
            _DATA[key] = new
            return True


class StandinSystem(System):
    name = "standin"
    daemon = "standin"
    capabilities = StandinClient.capabilities
    options: ClassVar[dict[str, SystemOption]] = {
        "lose_writes": SystemOption(False, "acknowledge some writes without applying them", parse_bool),
        "flaky": SystemOption(False, "time out some writes after applying them", parse_bool),
        "slow": SystemOption(0.0, "seconds each op sleeps", float),
        "marker": SystemOption("", "a file touched at teardown (to test cleanup)"),
    }

    def start(self, node: Node) -> None:
        node.write_file(f"{node.work_dir}/started", "1")

    def is_running(self, node: Node) -> bool:
        return True

    def teardown(self) -> None:
        if self.opts["marker"]:
            with open(self.opts["marker"], "a") as fh:
                fh.write("teardown\n")

    def client(self, node: Node) -> Client:
        return StandinClient(node, self.opts)

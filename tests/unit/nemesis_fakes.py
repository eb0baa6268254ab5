"""Fake harness plumbing for nemesis unit tests: a node that records commands, a
system that records lifecycle calls. No system under test is faked by these."""

from __future__ import annotations

from splitbrain.clusters.node import ExecResult, Node
from splitbrain.clusters.system import Client, System


class RecordingNode(Node):
    """Records every command; answers like a node with iptables and no rules yet."""

    def __init__(self, name: str, address: str, isolated: bool = True) -> None:
        self.name, self.address, self.work_dir = name, address, f"/tmp/fake/{name}"
        self.isolated_network = isolated
        self.cmds: list[str] = []

    def exec(self, cmd, *, check=True, timeout=60, env=None, input=None) -> ExecResult:
        text = cmd if isinstance(cmd, str) else " ".join(cmd)
        self.cmds.append(text)
        out = "removed\n" if "-X SPLITBRAIN" in text else ""
        return ExecResult(0, out, "")

    def put_file(self, local_path, remote_path) -> None:  # pragma: no cover - unused
        raise NotImplementedError

    def get_file(self, remote_path, local_path) -> None:  # pragma: no cover - unused
        raise NotImplementedError


class FakeSystem(System):
    """Harness plumbing only: records lifecycle calls instead of running a daemon."""

    name = "fake"
    supports = frozenset({"kill", "pause"})

    def __init__(self, nodes, leader: str | None = None) -> None:
        super().__init__(nodes, {}, "t")
        self.calls: list[tuple[str, str]] = []
        self._leader = leader

    def start(self, node) -> None:
        self.calls.append(("start", node.name))

    def kill(self, node) -> None:
        self.calls.append(("kill", node.name))

    def pause(self, node) -> None:
        self.calls.append(("pause", node.name))

    def resume(self, node) -> None:
        self.calls.append(("resume", node.name))

    def is_running(self, node) -> bool:
        return ("kill", node.name) not in self.calls[-len(self.nodes):]

    def leader(self):
        return self.node(self._leader) if self._leader else None

    def client(self, node) -> Client:  # pragma: no cover - unused
        raise NotImplementedError

"""Docker backend (the default): one container per node on a private bridge network.

Containers are named ``splitbrain-<test>-n1`` and labelled ``splitbrain=1``,
``splitbrain.test=<test>`` and ``splitbrain.owner=<claim id>`` (the host registry's
record of the run or cluster that made them, see
:mod:`splitbrain.clusters.ownership`), so two tests never collide and leftovers of a
killed run are found again by label and removed only by their owner's claim. The
node image is built locally on first use (see ``splitbrain.clusters.backends.docker.image``).
"""

from __future__ import annotations

import io
import os
import re
import socket
import struct
import tarfile
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from splitbrain.clusters.archive import extract_renamed
from splitbrain.clusters.backends.docker.engine import docker_client
from splitbrain.clusters.backends.docker.image import build_image
from splitbrain.clusters.node import Backend, ExecResult, Node, quote
from splitbrain.errors import ClusterGone, HarnessError, NodeCommandError
from splitbrain.retry import poll

LABEL = "splitbrain"
LABEL_TEST = "splitbrain.test"
LABEL_NODE = "splitbrain.node"
LABEL_OWNER = "splitbrain.owner"   # the id of the claim (host registry) that made it
WORK_DIR = "/var/lib/splitbrain"
TIMEOUT_RC = 124            # like coreutils `timeout`: the command ran out of time
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")


def check_test_name(test_name: str) -> str:
    """Test names become container and network names: letters, digits, ``_.-`` only."""
    if not _NAME_RE.match(test_name or ""):
        raise HarnessError(f"bad test name {test_name!r}: use letters, digits, '_', '.', '-' "
                           f"(at most 63, starting with a letter or digit)")
    return test_name


def container_name(test_name: str, node: str) -> str:
    return f"splitbrain-{test_name}-{node}"


def network_name(test_name: str) -> str:
    return f"splitbrain-{test_name}"


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


class DockerNode(Node):
    """A node that is a container; commands run through ``docker exec``."""

    backend = "docker"          # the backend that made it (journals record it)
    isolated_network = True      # partitions and packet faults work here

    def __init__(self, client, container_id: str, name: str, address: str,
                 work_dir: str = WORK_DIR) -> None:
        self.client = client
        self.container_id = container_id
        self.name = name
        self.address = address
        self.work_dir = work_dir

    # -- exec ----------------------------------------------------------------------
    def exec(self, cmd: list[str] | str, *, check: bool = True, timeout: float | None = 60,
             env: dict[str, str] | None = None, input: bytes | None = None) -> ExecResult:
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        if timeout is not None:   # coreutils timeout kills the command's process group in time
            argv = ["timeout", "-k", "2", f"{timeout:g}", *argv]
        api = self.client.api
        import docker.errors
        try:
            ex = api.exec_create(self.container_id, argv, stdout=True, stderr=True,
                                 stdin=input is not None, environment=env or None)
            sock_io = api.exec_start(ex["Id"], socket=True)
        except docker.errors.APIError as e:
            raise HarnessError(f"cannot run a command on {self.name} (container "
                               f"{self.container_id[:12]}): {e.explanation or e}: is the "
                               f"cluster still up? see `splitbrain cluster status`") from e
        sock: socket.socket = getattr(sock_io, "_sock", sock_io)
        out, err = bytearray(), bytearray()
        timed_out = False
        try:
            sock.settimeout(timeout)
            if input is not None:
                sock.sendall(input)
                sock.shutdown(socket.SHUT_WR)
            deadline = None if timeout is None else time.monotonic() + timeout + 10
            while True:
                if deadline is not None:
                    sock.settimeout(max(0.01, deadline - time.monotonic()))
                header = _read_exact(sock, 8)
                if len(header) < 8:
                    break
                stream, size = header[0], struct.unpack(">I", header[4:])[0]
                data = _read_exact(sock, size)
                (err if stream == 2 else out).extend(data)
        except TimeoutError:
            timed_out = True
        finally:
            try:
                sock_io.close()
            except OSError:
                pass
        rc: int
        rc = TIMEOUT_RC if timed_out else self._exit_code(ex["Id"])
        if rc == TIMEOUT_RC and timeout is not None:
            err.extend(f"\ntimed out after {timeout:g}s".encode())
        res = ExecResult(rc, out.decode(errors="replace"), err.decode(errors="replace"))
        if check and rc != 0:
            raise NodeCommandError(self.name, quote(cmd), rc, res.stderr)
        return res

    def _exit_code(self, exec_id: str) -> int:
        for _ in range(100):
            info = self.client.api.exec_inspect(exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            time.sleep(0.01)
        return int(self.client.api.exec_inspect(exec_id).get("ExitCode") or 255)

    # -- files ---------------------------------------------------------------------
    def put_file(self, local_path: str, remote_path: str) -> None:
        if not os.path.exists(local_path):
            raise HarnessError(f"cannot copy {local_path} to {self.name}: no such file")
        parent = os.path.dirname(remote_path.rstrip("/")) or "/"
        self.exec(["mkdir", "-p", parent])
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(local_path, arcname=os.path.basename(remote_path.rstrip("/")))
        if not self.client.api.put_archive(self.container_id, parent, buf.getvalue()):
            raise HarnessError(f"copying {local_path} to {self.name}:{remote_path} failed")

    def write_file(self, remote_path: str, content: str | bytes, mode: int = 0o644) -> None:
        data = content.encode() if isinstance(content, str) else content
        parent = os.path.dirname(remote_path) or "/"
        self.exec(["mkdir", "-p", parent])
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(os.path.basename(remote_path))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        if not self.client.api.put_archive(self.container_id, parent, buf.getvalue()):
            raise HarnessError(f"writing {self.name}:{remote_path} failed")

    def get_file(self, remote_path: str, local_path: str) -> None:
        import docker.errors
        try:
            stream, stat = self.client.api.get_archive(self.container_id, remote_path)
        except docker.errors.NotFound as e:
            raise HarnessError(f"{self.name}:{remote_path} does not exist") from e
        with tempfile.TemporaryFile() as tmp:
            for chunk in stream:
                tmp.write(chunk)
            tmp.seek(0)
            extract_renamed(tmp, stat["name"], local_path)

    def __repr__(self) -> str:
        return f"<DockerNode {self.name} {self.address} {self.container_id[:12]}>"


class DockerBackend(Backend):
    """Creates nodes as containers of the locally built node image."""

    name = "docker"

    def __init__(self, image: str | None = None, client=None,
                 progress: Callable[[str], Any] = print, cap_add: list[str] | None = None) -> None:
        self._client = client
        self.image = image
        self.progress = progress
        self.cap_add = cap_add or ["NET_ADMIN", "NET_RAW"]

    @property
    def client(self):
        if self._client is None:
            self._client = docker_client()
        return self._client

    def ensure_image(self) -> str:
        """The node image to run, built on first use when the engine has none."""
        if self.image is None:
            self.image = build_image(progress=self.progress)
        return self.image

    def create(self, test_name: str, count: int) -> list[Node]:
        check_test_name(test_name)
        if count < 1:
            raise HarnessError(f"a cluster needs at least one node, not {count}")
        image = self.ensure_image()
        self.destroy(test_name)                       # leftovers of a killed run of this test
        api = self.client.api
        labels = {LABEL: "1", LABEL_TEST: test_name}
        if self.claim is not None:
            labels[LABEL_OWNER] = self.claim.id
        net = network_name(test_name)
        self.made("network", net)
        api.create_network(net, driver="bridge", labels=labels, check_duplicate=True,
                           options={"com.docker.network.driver.mtu": "1400"})
        names = [f"n{i}" for i in range(1, count + 1)]

        def start(node: str) -> str:
            host_config = api.create_host_config(init=True, cap_add=self.cap_add,
                                                 network_mode=net)
            netcfg = api.create_networking_config({net: api.create_endpoint_config(aliases=[node])})
            self.made("container", container_name(test_name, node))
            c = api.create_container(image, name=container_name(test_name, node), hostname=node,
                                     labels={**labels, LABEL_NODE: node},
                                     host_config=host_config, networking_config=netcfg,
                                     detach=True)
            api.start(c["Id"])
            self._wait_ready(DockerNode(self.client, c["Id"], node, ""))
            return c["Id"]

        try:
            with ThreadPoolExecutor(max_workers=min(count, 8)) as pool:
                list(pool.map(start, names))
            nodes = self._nodes(test_name)
        except HarnessError:
            self.destroy(test_name)
            raise
        except Exception as e:
            self.destroy(test_name)
            raise HarnessError(f"could not create docker nodes for {test_name}: "
                               f"{str(e).splitlines()[0]}") from e
        return nodes

    def _wait_ready(self, node: DockerNode, timeout: float = 30.0) -> None:
        """The init has run when sshd is up; exec also proves the container answers."""
        def ready() -> bool | None:
            r = node.exec(["sh", "-c", f"pgrep -x sshd >/dev/null && mkdir -p "
                                       f"{node.work_dir}/run {node.work_dir}/logs"],
                          check=False, timeout=10)
            return True if r.rc == 0 else None

        if not poll(ready, timeout=timeout, interval=0.05):
            raise HarnessError(f"node {node.name} of the docker backend did not come up "
                               f"within {timeout:.0f}s: see `docker logs "
                               f"{node.container_id[:12]}`")

    def _containers(self, filters: dict[str, Any]) -> list[dict]:
        return self.client.api.containers(all=True, filters=filters)

    def _nodes(self, test_name: str) -> list[DockerNode]:
        net = network_name(test_name)
        out = []
        for c in self._containers({"label": [f"{LABEL_TEST}={test_name}"]}):
            info = self.client.api.inspect_container(c["Id"])
            if not info["State"]["Running"]:
                self.client.api.start(c["Id"])
                info = self.client.api.inspect_container(c["Id"])
            addr = info["NetworkSettings"]["Networks"].get(net, {}).get("IPAddress", "")
            node = info["Config"]["Labels"].get(LABEL_NODE) or info["Config"]["Hostname"]
            out.append(DockerNode(self.client, c["Id"], node, addr))
        out.sort(key=lambda n: int(n.name[1:]) if n.name[1:].isdigit() else 1 << 30)
        return out

    def attach(self, test_name: str) -> list[Node]:
        check_test_name(test_name)
        nodes = self._nodes(test_name)
        if not nodes:
            raise ClusterGone(f"no docker cluster named {test_name}: start one with "
                               f"`splitbrain cluster up`")
        return list(nodes)

    def destroy(self, test_name: str) -> None:
        """Remove the containers and network labelled with this test, but only those whose
        owner label is this backend's claim, a claim that is no longer live, or absent
        (made without a registry); a live or kept cluster of another claim is refused."""
        check_test_name(test_name)
        self._remove({"label": [f"{LABEL_TEST}={test_name}"]}, test_name)

    def _removable(self, labels: dict[str, str], test_name: str) -> bool:
        owner = (labels or {}).get(LABEL_OWNER)
        if owner is None or (self.claim is not None and owner == self.claim.id):
            return True
        from splitbrain.clusters.ownership import find

        other = find(owner)
        if other is None:
            raise HarnessError(f"docker cluster {test_name!r} belongs to a splitbrain run this "
                               f"user's registry does not know (claim {owner[:12]}): if it is "
                               f"a leftover, remove it with `docker rm -f` and `docker network "
                               f"rm`, or pick another --name")
        if other.state != "killed":
            raise HarnessError(f"docker cluster {test_name!r} is a {other.state} "
                               f"{other.describe()}: remove it with `splitbrain cluster down "
                               f"--name {test_name} --store {other.store}` or pick another --name")
        return True

    def _remove(self, filters: dict[str, Any], test_name: str) -> list[str]:
        import docker.errors
        api = self.client.api
        removed: list[str] = []
        conts = [c for c in self._containers(filters)
                 if self._removable(c.get("Labels") or {}, test_name)]

        def rm(c: dict) -> None:
            try:
                api.remove_container(c["Id"], force=True, v=True)
            except docker.errors.NotFound:
                pass
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(rm, conts))
        removed += [f"container {c['Names'][0].lstrip('/')}" for c in conts]
        for n in api.networks(filters=filters):
            if not self._removable(n.get("Labels") or {}, test_name):
                continue
            try:
                api.remove_network(n["Id"])
                removed.append(f"network {n['Name']}")
            except docker.errors.NotFound:
                pass
        return removed


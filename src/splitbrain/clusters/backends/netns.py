"""Network-namespace backend: one netns per node on a Linux bridge, for root without Docker.

Each node is a namespace ``sb-<test>-n1`` with a veth to a bridge in the root
namespace and an address in a private /24 chosen per test (deterministic from the
test name, skipping any subnet the host already routes). The namespaces have no
default route, so nodes reach only each other and the host's bridge address.
Files live on the host under ``/var/lib/splitbrain/netns/<test>/<node>``; an
iptables rule inside a node's namespace affects only that node.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from splitbrain.clusters.node import Backend, ExecResult, Node, quote
from splitbrain.errors import ClusterGone, HarnessError, NodeCommandError

STATE_ROOT = "/var/lib/splitbrain/netns"
NETNS_PREFIX = "sb-"
BRIDGE_PREFIX = "sbbr"
VETH_PREFIX = "sbv"
TIMEOUT_RC = 124
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
# Candidate subnets: 10.<a>.<b>.0/24 with a in this range, picked from the test's hash.
_SUBNET_FIRST, _SUBNET_SPAN = 150, 100


def check_netns_name(test_name: str) -> str:
    """Test names pick paths and interface names: letters, digits, ``_.-`` only."""
    if not isinstance(test_name, str) or not _NAME_RE.fullmatch(test_name):
        raise HarnessError(f"bad test name {test_name!r}: use letters, digits, '_', '.', '-'")
    return test_name


def forward_comment(test_name: str) -> str:
    """The comment of the host FORWARD rule that lets a cluster's bridge forward."""
    return f"splitbrain:{test_name}"


def _tag(test_name: str) -> str:
    """A short stable tag for interface names (which are limited to 15 characters)."""
    return hashlib.sha1(test_name.encode()).hexdigest()[:6]


def netns_name(test_name: str, node: str) -> str:
    base = test_name if len(test_name) <= 24 else _tag(test_name)
    return f"{NETNS_PREFIX}{base}-{node}"


def bridge_name(test_name: str) -> str:
    return f"{BRIDGE_PREFIX}{_tag(test_name)}"           # sbbr + 6 = 10 chars


def veth_name(test_name: str, node: str) -> str:
    return f"{VETH_PREFIX}{_tag(test_name)}{node}"[:15]  # sbv + 6 + n12 ≤ 15


def _run(cmd: list[str], check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, input=input)
    if check and p.returncode != 0:
        raise HarnessError(f"`{quote(cmd)}` failed: "
                           f"{p.stderr.decode(errors='replace').strip().splitlines()[-1:] or ''}")
    return p


def host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host routes or has an address in (all tables)."""
    nets: list[ipaddress.IPv4Network] = []
    for cmd in (["ip", "-j", "-4", "route", "show", "table", "all"], ["ip", "-j", "-4", "addr"]):
        p = _run(cmd, check=False)
        try:
            data = json.loads(p.stdout or b"[]")
        except ValueError:
            continue
        for entry in data:
            cands = [entry.get("dst")] if "dst" in entry else []
            cands += [f"{a['local']}/{a.get('prefixlen', 32)}" for a in entry.get("addr_info", [])]
            for c in cands:
                if not c or c == "default":
                    continue
                try:
                    nets.append(ipaddress.ip_network(c, strict=False))
                except ValueError:
                    pass
    return nets


def pick_subnet(test_name: str, taken: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """A free 10.x.y.0/24, the same for the same test name as long as it stays free."""
    h = int(hashlib.sha1(test_name.encode()).hexdigest(), 16)
    total = _SUBNET_SPAN * 256
    spans = [(int(t.network_address), int(t.broadcast_address)) for t in taken if t.prefixlen > 0]
    first = int(ipaddress.IPv4Address(f"10.{_SUBNET_FIRST}.0.0"))
    for i in range(total):
        k = (h + i) % total
        lo = first + k * 256
        if not any(a <= lo + 255 and lo <= b for a, b in spans):
            return ipaddress.ip_network(f"{ipaddress.IPv4Address(lo)}/24")
    raise HarnessError("no free 10.x.y.0/24 subnet for the netns backend: remove old "
                       "clusters with `splitbrain cluster down --all`")


class NetnsNode(Node):
    """A node that is a network namespace on this host; commands run via ``ip netns exec``."""

    backend = "netns"          # the backend that made it (journals record it)
    isolated_network = True      # partitions and packet faults work here

    def __init__(self, netns: str, name: str, address: str, work_dir: str) -> None:
        self.netns = netns
        self.name = name
        self.address = address
        self.work_dir = work_dir

    def exec(self, cmd: list[str] | str, *, check: bool = True, timeout: float | None = 60,
             env: dict[str, str] | None = None, input: bytes | None = None) -> ExecResult:
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.Popen(["ip", "netns", "exec", self.netns, *argv], env=full_env,
                                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(input=input, timeout=timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = proc.communicate()
            rc = TIMEOUT_RC
            err += f"\ntimed out after {timeout:g}s".encode()
        res = ExecResult(rc, out.decode(errors="replace"), err.decode(errors="replace"))
        if check and rc != 0:
            raise NodeCommandError(self.name, quote(cmd), rc, res.stderr)
        return res

    def put_file(self, local_path: str, remote_path: str) -> None:
        if not os.path.exists(local_path):
            raise HarnessError(f"cannot copy {local_path} to {self.name}: no such file")
        os.makedirs(os.path.dirname(os.path.abspath(remote_path)), exist_ok=True)
        if os.path.isdir(local_path):
            shutil.copytree(local_path, remote_path, dirs_exist_ok=True, symlinks=True)
        else:
            shutil.copy2(local_path, remote_path)

    def get_file(self, remote_path: str, local_path: str) -> None:
        if not os.path.exists(remote_path):
            raise HarnessError(f"{self.name}:{remote_path} does not exist")
        os.makedirs(os.path.dirname(os.path.abspath(local_path)), exist_ok=True)
        if os.path.isdir(remote_path):
            shutil.copytree(remote_path, local_path, dirs_exist_ok=True, symlinks=True)
        else:
            shutil.copy2(remote_path, local_path)

    def write_file(self, remote_path: str, content: str | bytes, mode: int = 0o644) -> None:
        data = content.encode() if isinstance(content, str) else content
        os.makedirs(os.path.dirname(os.path.abspath(remote_path)), exist_ok=True)
        with open(remote_path, "wb") as f:
            f.write(data)
        os.chmod(remote_path, mode)


class NetnsBackend(Backend):
    """Creates nodes as network namespaces bridged in the root namespace (needs root)."""

    name = "netns"

    def __init__(self, state_root: str = STATE_ROOT) -> None:
        self.state_root = state_root

    @staticmethod
    def _require_root() -> None:
        if os.geteuid() != 0:
            raise HarnessError("the netns backend needs root: run as root or use --backend docker")
        if shutil.which("ip") is None:
            raise HarnessError("the netns backend needs `ip`: apt-get install iproute2")

    def _state_file(self, test_name: str) -> Path:
        return Path(self.state_root, test_name, "state.json")

    def create(self, test_name: str, count: int) -> list[Node]:
        self._require_root()
        check_netns_name(test_name)
        if not 1 <= count <= 99:
            raise HarnessError(f"the netns backend makes 1 to 99 nodes, not {count}")
        self.destroy(test_name)     # leftovers of an earlier cluster of this name, by record
        names = [f"n{i}" for i in range(1, count + 1)]
        self._refuse_foreign(test_name, names)
        subnet = pick_subnet(test_name, host_networks())
        hosts = list(subnet.hosts())
        br = bridge_name(test_name)
        gw = f"{hosts[-1]}/{subnet.prefixlen}"
        state: dict[str, Any] = {"test": test_name, "subnet": str(subnet), "bridge": br,
                                 "nodes": []}
        sf = self._state_file(test_name)
        self.made("dir", str(sf.parent))
        sf.parent.mkdir(parents=True, exist_ok=True)
        sf.write_text(json.dumps(state))
        try:
            self._make("link", br, ["ip", "link", "add", br, "type", "bridge"])
            _run(["ip", "addr", "add", gw, "dev", br])
            _run(["ip", "link", "set", br, "up"])
            self._allow_bridge_forwarding(test_name, br)
            addrs = {n: str(hosts[i]) for i, n in enumerate(names)}
            hosts_file = "127.0.0.1 localhost\n" + "".join(f"{a} {n}\n" for n, a in addrs.items())
            for n in names:
                ns, veth = netns_name(test_name, n), veth_name(test_name, n)
                state["nodes"].append({"name": n, "netns": ns, "address": addrs[n], "veth": veth})
                sf.write_text(json.dumps(state))
                try:
                    self._make("netns", ns, ["ip", "netns", "add", ns])
                except HarnessError:
                    state["nodes"].pop()          # not ours: the cleanup below must skip it
                    sf.write_text(json.dumps(state))
                    raise
                etc = Path("/etc/netns", ns)          # `ip netns exec` binds these over /etc
                etc.mkdir(parents=True, exist_ok=True)
                (etc / "hosts").write_text(hosts_file)
                (etc / "hostname").write_text(n + "\n")
                self._make("link", veth, ["ip", "link", "add", veth, "type", "veth", "peer",
                                          "name", "eth0", "netns", ns])
                _run(["ip", "link", "set", veth, "master", br, "up"])
                _run(["ip", "-n", ns, "addr", "add", f"{addrs[n]}/{subnet.prefixlen}", "dev", "eth0"])
                _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
                _run(["ip", "-n", ns, "link", "set", "lo", "up"])
                Path(self.state_root, test_name, n, "run").mkdir(parents=True, exist_ok=True)
                Path(self.state_root, test_name, n, "logs").mkdir(parents=True, exist_ok=True)
        except Exception:
            self.destroy(test_name)
            raise
        return self.attach(test_name)

    def _make(self, what: str, name: str, cmd: list[str]) -> None:
        """Record ``name`` in the claim, then make it; a failed make is taken back
        (so that cleaning up after it can never remove a same-named thing of someone else)."""
        self.made(what, name)
        try:
            _run(cmd)
        except HarnessError:
            self.unmade(what, name)
            raise

    def _refuse_foreign(self, test_name: str, names: list[str]) -> None:
        """Refuse when a namespace or link we would make exists and is not ours."""
        netns, links = set(list_netns()), set(list_links())
        taken = [f"namespace {netns_name(test_name, n)}" for n in names
                 if netns_name(test_name, n) in netns]
        taken += [f"link {x}" for x in [bridge_name(test_name)] +
                  [veth_name(test_name, n) for n in names] if x in links]
        if taken:
            raise HarnessError(f"{', '.join(taken)} already exist(s) and splitbrain has no "
                               f"record of making them for {test_name!r}: remove them or "
                               f"pick another --name")

    def _allow_bridge_forwarding(self, test_name: str, br: str) -> None:
        """With br_netfilter, bridged frames cross the host's FORWARD chain (Docker sets
        it to DROP): accept traffic between ports of our own bridge, and only that."""
        if shutil.which("iptables") is None:
            return
        comment = forward_comment(test_name)
        rule = ["FORWARD", "-i", br, "-o", br, "-m", "comment", "--comment", comment,
                "-j", "ACCEPT"]
        self.made("forward-rule", comment)
        if _run(["iptables", "-w", "-C", *rule], check=False).returncode != 0:
            _run(["iptables", "-w", "-I", *rule])

    def _state(self, test_name: str) -> dict[str, Any] | None:
        """The cluster's state file, checked: every name in it must be the one this
        backend gives that test's nodes (a forged file cannot point anywhere else)."""
        sf = self._state_file(test_name)
        try:
            if sf.is_symlink() or not sf.is_file():
                return None
            state = json.loads(sf.read_text())
        except (OSError, ValueError):
            return None
        try:
            if state.get("test") != test_name or state.get("bridge") != bridge_name(test_name):
                raise ValueError("names")
            ipaddress.ip_network(state["subnet"])
            for n in state["nodes"]:
                if not re.fullmatch(r"n[0-9]{1,2}", n["name"]) \
                        or n["netns"] != netns_name(test_name, n["name"]) \
                        or n["veth"] != veth_name(test_name, n["name"]):
                    raise ValueError("node names")
                ipaddress.IPv4Address(n["address"])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise HarnessError(f"{sf}: not a state file of netns cluster {test_name!r} "
                               f"({e}): refusing to use it") from None
        return state

    def attach(self, test_name: str) -> list[Node]:
        check_netns_name(test_name)
        state = self._state(test_name)
        if state is None:
            raise ClusterGone(f"no netns cluster named {test_name}: start one with "
                               f"`splitbrain cluster up --backend netns`")
        return [NetnsNode(n["netns"], n["name"], n["address"],
                          str(Path(self.state_root, test_name, n["name"])))
                for n in state["nodes"]]

    def destroy(self, test_name: str) -> None:
        """Remove what the cluster's state file and claim list, and nothing else."""
        self._require_root()
        check_netns_name(test_name)
        try:
            state = self._state(test_name)
        except HarnessError:
            state = None
        ours_ns = {netns_name(test_name, f"n{i}") for i in range(1, 100)}
        ours_links = {veth_name(test_name, f"n{i}") for i in range(1, 100)} | \
            {bridge_name(test_name)}
        netns: set[str] = set()
        links: set[str] = set()
        if state is not None:
            netns |= {n["netns"] for n in state["nodes"]}
            links |= {n["veth"] for n in state["nodes"]} | {state["bridge"]}
        claim = self.claim if self.claim is not None and self.claim.name == test_name else None
        if claim is not None:
            netns |= set(claim.listed("netns")) & ours_ns
            links |= set(claim.listed("link")) & ours_links
        for ns in set(list_netns()) & netns:
            _remove_netns(ns)
        # A deleted namespace can linger (held by sockets) with its host-side veth,
        # so that re-creating the test fails with "File exists": delete them here.
        for link in set(list_links()) & links:
            _remove_link(link)
        for ns in netns:
            shutil.rmtree(Path("/etc/netns", ns), ignore_errors=True)
        # the rule's comment and the state directory carry this test's own name
        _remove_forward_rules(forward_comment(test_name))
        shutil.rmtree(Path(self.state_root, test_name), ignore_errors=True)


def list_netns() -> list[str]:
    """Names of the network namespaces on this host."""
    p = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in p.stdout.decode().splitlines() if line.strip()]


def list_links() -> list[str]:
    """Names of the network interfaces of the root namespace."""
    p = _run(["ip", "-o", "link", "show"], check=False)
    out = []
    for line in p.stdout.decode().splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            out.append(parts[1].strip().split("@")[0])
    return out


def _remove_netns(ns: str) -> None:
    """Kill what still runs inside ``ns`` (host pids), then delete it and its /etc overlay."""
    for _ in range(20):
        pids = [int(p) for p in _run(["ip", "netns", "pids", ns], check=False).stdout.split()
                if p.isdigit()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    _run(["ip", "netns", "delete", ns], check=False)
    shutil.rmtree(Path("/etc/netns", ns), ignore_errors=True)


def _remove_link(name: str) -> None:
    _run(["ip", "link", "delete", name], check=False)


def _remove_forward_rules(comment: str) -> int:
    """Delete host FORWARD rules whose comment is exactly ``comment``."""
    if shutil.which("iptables") is None:
        return 0
    p = _run(["iptables", "-w", "-S", "FORWARD"], check=False)
    n = 0
    for line in p.stdout.decode().splitlines():
        m = re.search(r'--comment "?([^" ]+)"?', line)
        if line.startswith("-A FORWARD") and m and m.group(1) == comment:
            args = line.split()[1:]
            args = [a.strip('"') for a in args]
            if _run(["iptables", "-w", "-D", *args], check=False).returncode == 0:
                n += 1
    return n

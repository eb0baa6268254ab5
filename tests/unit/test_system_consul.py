"""Consul: a unit test of OUR plumbing only — no real Consul runs here (none exists on our
machines). Command lines, the no-binary error, and the KV/session client against
recorded responses written from Consul's documented HTTP API (tests/unit/data/consul)
served by an httpx MockTransport.
"""

from __future__ import annotations

import io
import json
import shutil
import stat
import tarfile
from pathlib import Path

import httpx
import pytest

from splitbrain.clusters.backends.local import LocalNode
from splitbrain.clusters.systems import consul as consul_mod
from splitbrain.clusters.systems import get_system
from splitbrain.clusters.systems.consul import (
    NO_BINARY,
    ConsulClient,
    ConsulSystem,
    classify_error,
    consul_from_image,
)
from splitbrain.errors import ClientError, HarnessError

DATA = Path(__file__).parent / "data" / "consul"


def recording(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def respond(rec: dict) -> httpx.Response:
    r = rec["response"]
    if "body" in r:
        return httpx.Response(r["status"], headers=r["headers"], content=json.dumps(r["body"]))
    return httpx.Response(r["status"], headers=r["headers"], text=r["body_text"])


class Replay:
    """Serves recordings in order, checking each request's method and path; logs requests."""

    def __init__(self, *names: str | Exception) -> None:
        self.script = list(names)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert self.script, f"unexpected request {request.method} {request.url}"
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        rec = recording(item)
        assert request.method == rec["request"]["method"], (item, request.method)
        assert request.url.path == rec["request"]["path"], (item, request.url.path)
        return respond(rec)


def client(tmp_path: Path, replay: Replay, **kw) -> ConsulClient:
    node = LocalNode("n1", "127.0.0.1", str(tmp_path / "n1"))
    return ConsulClient(node, transport=httpx.MockTransport(replay), sleep=lambda s: None, **kw)


def nodes(tmp_path: Path, k: int = 3) -> list[LocalNode]:
    return [LocalNode(f"n{i}", f"127.0.0.{i}", str(tmp_path / f"n{i}")) for i in range(1, k + 1)]


# -- system: options, command line, the no-binary error -------------------------------

def test_registry_and_options() -> None:
    cls = get_system("consul")
    assert cls is ConsulSystem
    assert cls.parse_options({"consistency": "stale"})["consistency"] == "stale"
    with pytest.raises(HarnessError, match="expected one of default, consistent, stale"):
        cls.parse_options({"consistency": "linearizable"})


def test_command_line(tmp_path: Path) -> None:
    ns = nodes(tmp_path)
    s = ConsulSystem(ns, ConsulSystem.parse_options({}), "t")
    cmd = s.command(ns[1])
    assert cmd[:3] == [f"{ns[1].work_dir}/bin/consul", "agent", "-server"]
    assert "-bootstrap-expect=3" in cmd and "-node=n2" in cmd
    assert f"-data-dir={ns[1].work_dir}/consul/data" in cmd
    for flag in ("-bind", "-advertise", "-client"):
        assert f"{flag}=127.0.0.2" in cmd
    assert [c for c in cmd if c.startswith("-retry-join=")] == [
        "-retry-join=127.0.0.1", "-retry-join=127.0.0.3"]
    assert "-disable-host-node-id" in cmd


def test_no_binary_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"                               # a PATH with sh and mkdir only,
    bin_dir.mkdir()                                          # so surely no consul on it
    for tool in ("sh", "mkdir"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(consul_mod, "consul_from_image", lambda: None)   # no image either
    ns = nodes(tmp_path, 1)
    s = ConsulSystem(ns, ConsulSystem.parse_options({}), "t")
    with pytest.raises(HarnessError) as e:
        s.setup()
    assert str(e.value) == NO_BINARY
    assert "-o consul_binary=" in NO_BINARY and "hashicorp/consul" in NO_BINARY


def test_bad_binary_path(tmp_path: Path) -> None:
    ns = nodes(tmp_path, 1)
    s = ConsulSystem(ns, ConsulSystem.parse_options(
        {"consul_binary": str(tmp_path / "nope")}), "t")
    with pytest.raises(HarnessError, match="not an executable file"):
        s.install(ns[0])


def test_binary_is_copied_to_node(tmp_path: Path) -> None:
    fake = tmp_path / "consul"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    ns = nodes(tmp_path, 1)
    s = ConsulSystem(ns, ConsulSystem.parse_options({"consul_binary": str(fake)}), "t")
    s.install(ns[0])
    copied = Path(ns[0].work_dir) / "bin" / "consul"
    assert copied.read_text() == fake.read_text()
    assert s.command(ns[0])[0] == str(copied)


class FakeDocker:
    """Just enough of the docker SDK for consul_from_image: images and an archive."""

    def __init__(self, have: bool) -> None:
        self.have, self.pulled, self.removed = have, [], []
        self.images, self.containers = self, self

    def get(self, name):
        if not self.have:
            raise LookupError(name)
        return type("Img", (), {"id": "sha256:0123456789abcdef0123456789"})()

    def pull(self, name, tag):
        self.pulled.append((name, tag))
        self.have = True
        return self.get(name)

    def create(self, image, command):
        fake = self

        class C:
            def get_archive(self, path):
                buf = io.BytesIO()
                with tarfile.open(fileobj=buf, mode="w") as tar:
                    info = tarfile.TarInfo("consul")
                    info.size = len(b"ELF...")
                    tar.addfile(info, io.BytesIO(b"ELF..."))
                return iter([buf.getvalue()]), {"name": "consul"}

            def remove(self, force):
                fake.removed.append(image)
        return C()


def test_binary_from_the_official_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPLITBRAIN_PULL_BASE", raising=False)
    absent = FakeDocker(have=False)
    assert consul_from_image(absent, cache_dir=str(tmp_path)) is None
    assert absent.pulled == []                                  # no registry contacted
    monkeypatch.setenv("SPLITBRAIN_PULL_BASE", "1")             # a registry is reachable
    pulled = FakeDocker(have=False)
    path = consul_from_image(pulled, cache_dir=str(tmp_path))
    assert pulled.pulled == [("hashicorp/consul", "latest")]
    assert Path(path).read_bytes() == b"ELF..." and pulled.removed
    assert consul_from_image(FakeDocker(have=True), cache_dir=str(tmp_path)) == path  # cached


# -- client against recorded responses --------------------------------------------------

@pytest.mark.parametrize("mode,param", [("default", None), ("consistent", "consistent"),
                                        ("stale", "stale")])
def test_read_consistency_modes(tmp_path: Path, mode: str, param: str | None) -> None:
    rp = Replay("kv_get", "kv_get_missing")
    c = client(tmp_path, rp, consistency=mode)
    assert c.read("k") == [1, 2]
    assert c.read("missing") is None
    q = dict(rp.requests[0].url.params)
    assert q == ({} if param is None else {param: ""})


def test_write_cas_delete(tmp_path: Path) -> None:
    rp = Replay("kv_put_true", "kv_get", "kv_put_true", "kv_get", "kv_put_false",
                "kv_put_false", "kv_delete_true")
    c = client(tmp_path, rp)
    c.write("k", [1, 2])
    assert json.loads(rp.requests[0].content) == [1, 2]
    assert c.cas("k", [1, 2], 3) is True
    assert rp.requests[2].url.params["cas"] == "200"          # the ModifyIndex read
    assert c.cas("k", [1, 2], 4) is False                     # index moved: cas answered false
    assert c.cas("k", None, 5) is False                       # create-only: ?cas=0
    assert rp.requests[5].url.params["cas"] == "0"
    c.delete("k")
    assert rp.requests[6].method == "DELETE"


def test_cas_mismatch_sends_no_write(tmp_path: Path) -> None:
    rp = Replay("kv_get")
    assert client(tmp_path, rp).cas("k", [9], 1) is False
    assert len(rp.requests) == 1


def test_lock_session_acquire_release(tmp_path: Path) -> None:
    rp = Replay("session_create", "lock_acquire_false", "lock_acquire_true",
                "lock_acquire_true", "session_destroy")
    c = client(tmp_path, rp)
    tok = c.lock_acquire("m", 3)
    assert tok == {"session": "adf4238a-882b-9ddc-4a9d-5b6758e4159e"}
    assert json.loads(rp.requests[0].content)["TTL"] == "10s"     # Consul's minimum TTL
    assert rp.requests[2].url.params["acquire"] == tok["session"]
    c.lock_release("m", tok)
    assert rp.requests[3].url.params["release"] == tok["session"]


def test_lock_timeout_is_definite_and_destroys_session(tmp_path: Path) -> None:
    rp = Replay("session_create", "lock_acquire_false", "session_destroy")
    c = client(tmp_path, rp, lock_timeout=0.0)
    with pytest.raises(ClientError) as e:
        c.lock_acquire("m", 30)
    assert e.value.definite is True
    assert json.loads(rp.requests[0].content)["TTL"] == "30s"
    assert rp.requests[-1].url.path.startswith("/v1/session/destroy/")


def test_lock_acquire_timeout_after_sending_is_indefinite(tmp_path: Path) -> None:
    rp = Replay("session_create", httpx.ReadTimeout("slow"), "session_destroy")
    with pytest.raises(ClientError) as e:
        client(tmp_path, rp).lock_acquire("m", 10)
    assert e.value.definite is False


def test_status_and_raft_configuration(tmp_path: Path) -> None:
    rp = Replay("status_leader", "operator_raft_configuration", "status_leader_none")
    c = client(tmp_path, rp)
    assert c.status_leader() == "127.0.0.2:8300"
    servers = c.raft_configuration()
    assert [s["Node"] for s in servers] == ["n1", "n2", "n3"]
    assert c.status_leader() == ""
    s = ConsulSystem(nodes(tmp_path), {}, "t")
    assert s._node_by_server_addr("127.0.0.2:8300").name == "n2"


# -- the error mapping --------------------------------------------------------------------

@pytest.mark.parametrize("fixture,definite", [
    ("error_no_cluster_leader", True),     # the forwarder found no leader: never sent
    ("error_rate_limited", True),          # rejected on arrival
    ("error_permission_denied", True),     # ACL check before any RPC
    ("error_leadership_lost", False),      # appended under the old leader: may commit
    ("error_rpc_eof", False),              # forwarded RPC lost: may have reached the leader
])
def test_write_error_responses(tmp_path: Path, fixture: str, definite: bool) -> None:
    with pytest.raises(ClientError) as e:
        client(tmp_path, Replay(fixture)).write("k", 1)
    assert e.value.definite is definite


@pytest.mark.parametrize("exc,definite", [
    (httpx.ConnectError("refused"), True),
    (httpx.ConnectTimeout("no route"), True),
    (httpx.ReadTimeout("slow"), False),
    (httpx.RemoteProtocolError("server disconnected"), False),
    (httpx.ReadError("reset"), False),
])
def test_transport_errors_on_write(tmp_path: Path, exc: Exception, definite: bool) -> None:
    with pytest.raises(ClientError) as e:
        client(tmp_path, Replay(exc)).write("k", 1)
    assert e.value.definite is definite


def test_read_errors_are_definite(tmp_path: Path) -> None:
    for exc in (httpx.ReadTimeout("slow"), httpx.ReadError("reset")):
        with pytest.raises(ClientError) as e:
            client(tmp_path, Replay(exc)).read("k")
        assert e.value.definite is True
    assert classify_error(500, "leadership lost while committing log", mutating=False) is True
    assert classify_error(500, "leadership lost while committing log", mutating=True) is False


# -- membership (the `member` fault) against hand-written responses --------------------
#
# No real Consul ran: these check the sequence of HTTP calls member_remove / member_add /
# members make through the system's own admin clients (per node, by host), what they
# do on the nodes (stop, wipe, start with the setup command), and their error paths.

class HostReplay:
    """Serves (host, recording-or-exception) items in order; checks host, method and
    path; logs (host, method, path, query) of every request."""

    def __init__(self, *items: tuple[str, str | Exception]) -> None:
        self.script = list(items)
        self.log: list[tuple[str, str, str, dict]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.log.append((host, request.method, request.url.path, dict(request.url.params)))
        assert self.script, f"unexpected request {request.method} {request.url}"
        want_host, item = self.script.pop(0)
        assert host == want_host, (item, host, request.url.path)
        if isinstance(item, Exception):
            raise item
        rec = recording(item)
        assert request.method == rec["request"]["method"], (item, request.method)
        assert request.url.path == rec["request"]["path"], (item, request.url.path)
        return respond(rec)


class FakeClock:
    """A poll clock that only moves when the system sleeps (no real waiting)."""

    def __init__(self, real_pause: float = 0.0) -> None:
        self.now, self.sleeps, self.real_pause = 1000.0, 0, real_pause

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps += 1
        self.now += s
        if self.real_pause:
            import time
            time.sleep(self.real_pause)


def member_system(tmp_path: Path, handler, clock: FakeClock, **opts) -> tuple:
    ns = nodes(tmp_path)
    s = ConsulSystem(ns, ConsulSystem.parse_options({k: str(v) for k, v in opts.items()}), "t")
    s.transport = httpx.MockTransport(handler)
    s.clock, s.sleep = clock.clock, clock.sleep
    return s, ns


def seed_data(node: LocalNode) -> Path:
    d = Path(node.work_dir) / "consul" / "data"
    d.mkdir(parents=True)
    (d / "raft.db").write_text("old state")
    return d


def test_member_fault_is_supported() -> None:
    assert "member" in ConsulSystem.supports
    assert ConsulSystem.parse_options({})["member_timeout"] == 60.0


def test_member_remove_graceful_leave(tmp_path: Path) -> None:
    rp = HostReplay(("127.0.0.3", "agent_leave"),
                    ("127.0.0.1", "operator_raft_configuration_without_n3"))
    clock = FakeClock()
    s, ns = member_system(tmp_path, rp, clock)
    data = seed_data(ns[2])
    s.member_remove(ns[2])
    assert [(h, m, p) for h, m, p, _ in rp.log] == [
        ("127.0.0.3", "PUT", "/v1/agent/leave"),                   # the node itself leaves
        ("127.0.0.1", "GET", "/v1/operator/raft/configuration"),   # a survivor confirms
    ]
    assert rp.script == [] and clock.sleeps == 0
    assert not data.exists() and not (Path(ns[2].work_dir) / "consul").exists()   # wiped
    assert (Path(ns[0].work_dir)).exists()                         # the others untouched


def test_member_remove_forces_out_a_dead_node(tmp_path: Path) -> None:
    refused = httpx.ConnectError("connection refused")
    rp = HostReplay(
        ("127.0.0.3", refused),                                   # n3 is down: no leave
        ("127.0.0.1", refused),                                   # n1 down too: ask n2
        ("127.0.0.2", "operator_raft_configuration"),             # n3 still a peer
        ("127.0.0.1", refused),                                   # force via n1: not sent
        ("127.0.0.2", "agent_force_leave_n3"),
        ("127.0.0.2", "raft_peer_delete"),
        ("127.0.0.1", refused),
        ("127.0.0.2", "operator_raft_configuration_without_n3"),  # gone
    )
    clock = FakeClock()
    s, ns = member_system(tmp_path, rp, clock,
                          consul_binary=fake_consul(tmp_path, "exec sleep 30"))
    data = seed_data(ns[2])
    s.start(ns[2])                       # its process lives on, but its API does not answer
    try:
        s.member_remove(ns[2])
        assert not s.is_running(ns[2])   # stopped before the force-leave
    finally:
        s.stop(ns[2])
    assert rp.script == []
    delete = [e for e in rp.log if e[1] == "DELETE"]
    assert delete == [("127.0.0.2", "DELETE", "/v1/operator/raft/peer",
                       {"address": "127.0.0.3:8300"})]
    assert clock.sleeps == 1 and not data.exists()


def test_member_remove_gives_up_with_one_line_error(tmp_path: Path) -> None:
    log: list[tuple[str, str, str]] = []

    def stuck(request: httpx.Request) -> httpx.Response:
        log.append((request.url.host, request.method, request.url.path))
        name = {"/v1/agent/leave": "error_no_cluster_leader",
                "/v1/operator/raft/configuration": "operator_raft_configuration",
                "/v1/agent/force-leave/n3": "agent_force_leave_n3",
                "/v1/operator/raft/peer": "error_raft_peer_no_leader"}[request.url.path]
        return respond(recording(name))

    clock = FakeClock()
    s, ns = member_system(tmp_path, stuck, clock, member_timeout=2)
    data = seed_data(ns[2])
    with pytest.raises(HarnessError) as e:
        s.member_remove(ns[2])
    msg = str(e.value)
    assert "\n" not in msg and "n3" in msg and "-o member_timeout" in msg
    assert "still in the raft configuration" in msg
    # the forced removal was tried through both survivors, every poll until the deadline
    assert ("127.0.0.1", "DELETE", "/v1/operator/raft/peer") in log
    assert ("127.0.0.2", "DELETE", "/v1/operator/raft/peer") in log
    assert clock.sleeps == 4
    assert data.exists()                          # not confirmed removed: state kept


def test_members_map_names_and_addresses(tmp_path: Path) -> None:
    rp = HostReplay(("127.0.0.1", httpx.ConnectError("refused")),
                    ("127.0.0.2", "operator_raft_configuration_unknown"))
    s, _ = member_system(tmp_path, rp, FakeClock())
    # "(unknown)" at 127.0.0.3 is our n3; an address that is none of ours stays visible
    assert s.members() == ["127.0.0.9:8300", "n1", "n2", "n3"]
    refused = httpx.ConnectError("refused")
    rp2 = HostReplay(*[(f"127.0.0.{i}", refused) for i in (1, 2, 3)])
    s2, _ = member_system(tmp_path / "b", rp2, FakeClock())
    assert s2.members() == []                      # nobody answers: no known members


def fake_consul(tmp_path: Path, body: str) -> Path:
    """A stand-in executable for the start command: records its argv, then runs body."""
    fake = tmp_path / "fake-consul"
    fake.write_text("#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$(dirname \"$0\")/../argv\"\n"
                    + body + "\n")
    fake.chmod(0o755)
    return fake


def test_member_add_wipes_starts_joins_and_waits_for_voter(tmp_path: Path) -> None:
    rp = HostReplay(
        ("127.0.0.3", httpx.ConnectError("refused")),             # agent not listening yet
        ("127.0.0.3", "agent_join_n1"),
        ("127.0.0.1", "operator_raft_configuration_n3_nonvoter"),  # autopilot staging
        ("127.0.0.1", "operator_raft_configuration_n3_voter"),
    )
    clock = FakeClock()
    s, ns = member_system(tmp_path, rp, clock,
                          consul_binary=fake_consul(tmp_path, "exec sleep 30"))
    data = seed_data(ns[2])
    try:
        s.member_add(ns[2])
        assert s.is_running(ns[2])
        argv = (Path(ns[2].work_dir) / "argv").read_text().splitlines()
    finally:
        s.stop(ns[2])
    assert rp.script == [] and clock.sleeps == 2
    assert [(h, m, p) for h, m, p, _ in rp.log] == [
        ("127.0.0.3", "PUT", "/v1/agent/join/127.0.0.1"),
        ("127.0.0.3", "PUT", "/v1/agent/join/127.0.0.1"),
        ("127.0.0.1", "GET", "/v1/operator/raft/configuration"),
        ("127.0.0.1", "GET", "/v1/operator/raft/configuration"),
    ]
    assert not (data / "raft.db").exists()                     # started from a wiped dir
    assert argv == s.command(ns[2])[1:]                        # the setup command line
    assert "-retry-join=127.0.0.1" in argv and "-retry-join=127.0.0.2" in argv


def test_member_add_tries_the_next_survivor_to_join(tmp_path: Path) -> None:
    rp = HostReplay(
        ("127.0.0.3", "error_join_failed"),                       # n1's serf refused
        ("127.0.0.3", "agent_join_n1"),                           # path checked below
        ("127.0.0.1", "operator_raft_configuration_n3_voter"),
    )
    # the second join goes to n2: serve it from a recording of the same shape
    rec = recording("agent_join_n1")
    rec["request"]["path"] = "/v1/agent/join/127.0.0.2"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/agent/join/127.0.0.2":
            rp.log.append((request.url.host, request.method, request.url.path, {}))
            rp.script.pop(0)
            return respond(rec)
        return rp(request)

    clock = FakeClock()
    s, ns = member_system(tmp_path, handler, clock,
                          consul_binary=fake_consul(tmp_path, "exec sleep 30"))
    try:
        s.member_add(ns[2])
    finally:
        s.stop(ns[2])
    assert [p for _, _, p, _ in rp.log] == [
        "/v1/agent/join/127.0.0.1", "/v1/agent/join/127.0.0.2",
        "/v1/operator/raft/configuration"]
    assert clock.sleeps == 0


def test_member_add_agent_exits_is_one_line_error(tmp_path: Path) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    clock = FakeClock(real_pause=0.05)            # let the stand-in's exit be seen
    s, ns = member_system(tmp_path, refused, clock, consul_binary=fake_consul(
        tmp_path, "echo '==> Error starting agent: bind: address already in use'; exit 1"))
    with pytest.raises(HarnessError) as e:
        s.member_add(ns[2])
    msg = str(e.value)
    assert "\n" not in msg and "consul on n3 exited" in msg
    assert "address already in use" in msg


def test_member_add_times_out_as_non_voter(tmp_path: Path) -> None:
    def staging(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/agent/join/"):
            return respond(recording("agent_join_n1"))
        return respond(recording("operator_raft_configuration_n3_nonvoter"))

    clock = FakeClock()
    s, ns = member_system(tmp_path, staging, clock, member_timeout=1,
                          consul_binary=fake_consul(tmp_path, "exec sleep 30"))
    try:
        with pytest.raises(HarnessError) as e:
            s.member_add(ns[2])
    finally:
        s.stop(ns[2])
    msg = str(e.value)
    assert "\n" not in msg and "n3 is still a non-voter" in msg and "member_timeout" in msg
    assert clock.sleeps == 2


def test_member_add_join_refused_everywhere_is_one_line_error(tmp_path: Path) -> None:
    joins: list[str] = []

    def refuse_join(request: httpx.Request) -> httpx.Response:
        joins.append(request.url.path)
        return respond(recording("error_join_failed"))    # a body with newlines and tabs

    clock = FakeClock()
    s, ns = member_system(tmp_path, refuse_join, clock, member_timeout=1,
                          consul_binary=fake_consul(tmp_path, "exec sleep 30"))
    try:
        with pytest.raises(HarnessError) as e:
            s.member_add(ns[2])
    finally:
        s.stop(ns[2])
    msg = str(e.value)
    assert "\n" not in msg and "\t" not in msg
    assert "did not rejoin" in msg and "Failed to join 127.0.0.1:8301" in msg
    assert joins[:2] == ["/v1/agent/join/127.0.0.1", "/v1/agent/join/127.0.0.2"]
    assert not any(p.endswith("raft/configuration") for p in joins)   # never joined

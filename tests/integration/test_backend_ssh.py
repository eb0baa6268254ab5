"""The ssh backend for real, against sshd in the docker backend's node containers.

A fresh key is generated and installed in each container; the containers' host
keys are collected into a known_hosts file, so host-key checking is exercised.
"""

from __future__ import annotations

import pytest
from backend_checks import (
    check_daemon_signals,
    check_exec,
    check_files,
    check_reachability,
    require,
)

from splitbrain.errors import HarnessError

pytestmark = [pytest.mark.docker, pytest.mark.slow]
HOSTS_TEST = "pytest-ssh-hosts"       # the docker cluster that plays the real hosts
TEST = "pytest-ssh-backend"


def _keypair(path) -> str:
    import paramiko
    key = paramiko.ECDSAKey.generate(bits=256)
    key.write_private_key_file(str(path))
    return f"{key.get_name()} {key.get_base64()} splitbrain-test"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """Three docker nodes with sshd, our public key for root and a sudo user, and known_hosts."""
    require("docker")
    from splitbrain.clusters.backends.docker import DockerBackend
    d = tmp_path_factory.mktemp("ssh")
    pub = _keypair(d / "id_ecdsa")
    docker = DockerBackend()
    nodes = docker.create(HOSTS_TEST, 3)
    known = []
    for n in nodes:
        n.write_file("/root/.ssh/authorized_keys", pub + "\n", mode=0o600)
        n.exec("id tester >/dev/null 2>&1 || useradd -m -s /bin/sh tester")
        n.exec(["usermod", "-p", "*", "tester"])      # no password, but not locked for sshd
        n.write_file("/home/tester/.ssh/authorized_keys", pub + "\n", mode=0o600)
        n.exec("chown -R tester /home/tester/.ssh && chmod 700 /home/tester/.ssh")
        n.write_file("/etc/sudoers.d/tester", "tester ALL=(ALL) NOPASSWD: ALL\n", mode=0o440)
        hostkey = n.exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout.split()[:2]
        known.append(f"{n.address} {' '.join(hostkey)}")
    (d / "known_hosts").write_text("\n".join(known) + "\n")
    (d / "empty_known_hosts").write_text("")
    yield {"dir": d, "addresses": [n.address for n in nodes], "docker_nodes": nodes}
    docker.destroy(HOSTS_TEST)


def _backend(hosts, **kw):
    from splitbrain.clusters.backends.ssh import SSHBackend
    args = dict(hosts=hosts["addresses"], user="root", key_file=str(hosts["dir"] / "id_ecdsa"),
                known_hosts=str(hosts["dir"] / "known_hosts"))
    args.update(kw)
    return SSHBackend(**args)


@pytest.fixture(scope="module")
def nodes(hosts):
    b = _backend(hosts)
    ns = b.create(TEST, 3)
    yield ns
    b.destroy(TEST)
    for n in ns:
        n.close()


def test_hosts_become_n1_to_n3_at_their_addresses(hosts, nodes):
    assert [n.name for n in nodes] == ["n1", "n2", "n3"]
    assert [n.address for n in nodes] == hosts["addresses"]
    assert nodes[0].exec(["hostname"]).stdout.strip() == "n1"
    assert nodes[0].work_dir == f"/var/lib/splitbrain/{TEST}"


def test_exec(nodes):
    check_exec(nodes)


def test_nodes_reach_each_other(nodes):
    check_reachability(nodes)


def test_daemon_signals(nodes):
    check_daemon_signals(nodes[2])


def test_files(nodes, tmp_path):
    check_files(nodes[0], tmp_path)


def test_sudo_runs_commands_as_root(hosts):
    b = _backend(hosts, user="tester", sudo=True)
    plain = _backend(hosts, user="tester", sudo=False)
    n_sudo, n_plain = b.attach(TEST)[0], plain.attach(TEST)[0]
    try:
        assert n_plain.exec(["id", "-un"]).stdout.strip() == "tester"
        assert n_plain.work_dir == f"/tmp/splitbrain-tester/{TEST}"
        assert n_sudo.work_dir == f"/var/lib/splitbrain/{TEST}"
        assert n_sudo.exec(["id", "-un"]).stdout.strip() == "root"
        assert n_sudo.exec("echo $X", env={"X": "via sudo"}).stdout == "via sudo\n"
    finally:
        n_sudo.close()
        n_plain.close()


def test_unknown_host_key_is_refused_unless_accepted(hosts):
    strict = _backend(hosts, known_hosts=str(hosts["dir"] / "empty_known_hosts"))
    with pytest.raises(HarnessError, match="not in .*--ssh-known-hosts, or pass "
                                           "--ssh-accept-unknown-host-keys"):
        strict.create(TEST + "-strict", 1)
    lax = _backend(hosts, known_hosts=str(hosts["dir"] / "empty_known_hosts"),
                   accept_unknown_host_keys=True)
    ns = lax.create(TEST + "-lax", 1)
    assert ns[0].exec(["true"]).rc == 0
    lax.destroy(TEST + "-lax")


def test_wrong_host_key_is_refused(hosts, tmp_path):
    a = hosts["addresses"]
    # n1's address paired with n2's host key: a man in the middle
    lines = (hosts["dir"] / "known_hosts").read_text().splitlines()
    swapped = tmp_path / "kh"
    swapped.write_text(f"{a[0]} {' '.join(lines[1].split()[1:])}\n")
    b = _backend(hosts, known_hosts=str(swapped))
    with pytest.raises(HarnessError, match="does not match known_hosts"):
        b.create(TEST + "-mitm", 1)


def test_authentication_failure_is_one_line_naming_host_and_user(hosts, tmp_path):
    _keypair(tmp_path / "other_key")
    b = _backend(hosts, key_file=str(tmp_path / "other_key"))
    with pytest.raises(HarnessError) as ei:
        b.create(TEST + "-auth", 1)
    msg = str(ei.value)
    assert "\n" not in msg
    assert f"root@{hosts['addresses'][0]}:22" in msg and "authorized_keys" in msg


def test_destroy_kills_daemons_and_removes_the_work_dir(hosts):
    b = _backend(hosts)
    name = TEST + "-destroy"
    n = b.create(name, 1)[0]
    n.start_daemon("sleeper", ["sleep", "300"])
    pid = n.daemon_pid("sleeper")
    assert pid is not None
    b.destroy(name)
    docker_node = hosts["docker_nodes"][0]
    assert docker_node.exec(["test", "-d", f"/var/lib/splitbrain/{name}"], check=False).rc != 0
    assert docker_node.exec(["kill", "-0", str(pid)], check=False).rc != 0


def test_more_nodes_than_hosts_is_a_clear_error(hosts):
    with pytest.raises(HarnessError, match="only 3 hosts given"):
        _backend(hosts).create(TEST, 5)


@pytest.mark.parametrize("system_name", ["etcd", "raft"])
def test_system_over_ssh_write_one_node_read_another(nodes, system_name):
    """etcd and our Raft nodes installed and run over ssh on the docker hosts."""
    import time

    from splitbrain.clusters.systems import get_system
    from splitbrain.errors import ClientError

    cls = get_system(system_name)
    system = cls(nodes, cls.parse_options({}), TEST)
    try:
        system.setup()
        assert all(system.is_running(n) for n in nodes)
        w, r = system.client(nodes[0]), system.client(nodes[-1])
        try:
            w.write("ssh-key", 42)
            deadline = time.monotonic() + 20
            while True:
                try:
                    assert r.read("ssh-key") == 42
                    break
                except ClientError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
        finally:
            w.close()
            r.close()
        follower = next(n for n in nodes if system.leader() is None
                        or n.name != system.leader().name)
        system.kill(follower)
        assert not system.is_running(follower)
        system.start(follower)
        assert system.is_running(follower)
    finally:
        system.teardown()
    assert not any(system.is_running(n) for n in nodes)

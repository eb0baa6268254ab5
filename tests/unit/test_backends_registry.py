"""Backend plumbing without Docker or root: registry, names, subnets, host specs, errors."""

from __future__ import annotations

import ipaddress

import pytest

from splitbrain.clusters.backends import BACKENDS, backend_class, get_backend
from splitbrain.errors import HarnessError


def test_registry_names_every_backend():
    assert set(BACKENDS) == {"docker", "netns", "ssh", "local"}
    assert backend_class("docker").name == "docker"
    assert backend_class("netns").name == "netns"
    assert backend_class("ssh").name == "ssh"


def test_unknown_backend_is_a_one_line_error():
    with pytest.raises(HarnessError, match="--backend kvm: unknown backend; choose one of docker"):
        get_backend("kvm")


def test_get_backend_passes_options():
    b = get_backend("ssh", hosts=["a", "bob@b:2222"], user="alice", port=22)
    assert [(s.host, s.user, s.port) for s in b.specs] == [("a", None, None), ("b", "bob", 2222)]
    assert b.user == "alice" and not b.accept_unknown_host_keys
    # the CLI passes port=None when --ssh-port is not given
    assert get_backend("ssh", hosts=["a"], port=None).port == 22


def test_docker_unreachable_says_what_to_do(monkeypatch):
    from splitbrain.clusters.backends.docker import docker_client
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(HarnessError) as ei:
        docker_client()
    assert str(ei.value) == ("Docker is not reachable at unix:///nonexistent/docker.sock: "
                             "start the daemon or use --backend netns")


def test_docker_names_carry_the_test_name():
    from splitbrain.clusters.backends.docker import check_test_name, container_name, network_name
    assert container_name("reg1", "n2") == "splitbrain-reg1-n2"
    assert network_name("reg1") == "splitbrain-reg1"
    for bad in ("", "has space", "-lead", "a/b", "x" * 64):
        with pytest.raises(HarnessError, match="bad test name"):
            check_test_name(bad)


def test_netns_needs_root(monkeypatch):
    from splitbrain.clusters.backends import netns
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    with pytest.raises(HarnessError) as ei:
        netns.NetnsBackend().create("t", 3)
    assert str(ei.value) == "the netns backend needs root: run as root or use --backend docker"


def test_netns_interface_names_fit_in_15_chars():
    from splitbrain.clusters.backends.netns import bridge_name, netns_name, veth_name
    for test in ("t", "register-etcd", "x" * 63):
        assert len(bridge_name(test)) <= 15
        assert len(veth_name(test, "n99")) <= 15
    assert netns_name("reg", "n1") == "sb-reg-n1"
    assert netns_name("x" * 63, "n1") != netns_name("x" * 62 + "y", "n1")
    assert bridge_name("a") != bridge_name("b")


def test_netns_subnet_is_deterministic_and_avoids_host_routes():
    from splitbrain.clusters.backends.netns import pick_subnet
    first = pick_subnet("reg", [])
    assert first == pick_subnet("reg", [])
    assert first.prefixlen == 24 and first.subnet_of(ipaddress.ip_network("10.0.0.0/8"))
    taken = [first, ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("0.0.0.0/0")]
    second = pick_subnet("reg", taken)
    assert second != first and not second.overlaps(first)
    wide = [ipaddress.ip_network(f"10.{a}.0.0/16") for a in range(150, 250)]
    with pytest.raises(HarnessError, match="no free"):
        pick_subnet("reg", wide)


def test_ssh_host_specs_and_nodes_file(tmp_path):
    from splitbrain.clusters.backends.ssh import HostSpec, read_nodes_file
    assert HostSpec.parse("h") == HostSpec("h", None, None)
    assert HostSpec.parse("u@h:2200") == HostSpec("h", "u", 2200)
    assert HostSpec.parse("[fe80::1]:22") == HostSpec("fe80::1", None, 22)
    with pytest.raises(HarnessError, match="bad host"):
        HostSpec.parse("u@h:port")
    f = tmp_path / "nodes"
    f.write_text("# cluster\nroot@10.9.9.1:22\n\n10.9.9.2  # second\n")
    assert read_nodes_file(str(f)) == ["root@10.9.9.1:22", "10.9.9.2"]
    f.write_text("# nothing\n")
    with pytest.raises(HarnessError, match="lists no hosts"):
        read_nodes_file(str(f))
    with pytest.raises(HarnessError, match="cannot read nodes file"):
        read_nodes_file(str(tmp_path / "missing"))


def test_ssh_backend_checks_its_inputs(tmp_path):
    from splitbrain.clusters.backends.ssh import SSHBackend
    with pytest.raises(HarnessError, match="needs hosts"):
        SSHBackend([])
    with pytest.raises(HarnessError, match="--ssh-key .*/nokey: no such file"):
        SSHBackend(["h"], key_file=str(tmp_path / "nokey"))
    with pytest.raises(HarnessError, match="--ssh-known-hosts .*/nokh: no such file"):
        SSHBackend(["h"], known_hosts=str(tmp_path / "nokh"))


def test_ssh_backend_records_hosts_and_credential_paths_never_secrets(tmp_path, monkeypatch):
    from splitbrain.clusters.backends.ssh import SSHBackend
    (tmp_path / "id").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    (tmp_path / "kh").write_text("")
    monkeypatch.chdir(tmp_path)
    b = SSHBackend(["a@h1:2222", "h2", "[fe80::1]:22"], user="bob", key_file="id",
                   known_hosts="kh", sudo=True)
    args = b.backend_args()
    assert args["hosts"] == ["a@h1:2222", "h2", "[fe80::1]:22"]
    assert args["key_file"] == str(tmp_path / "id")           # absolute: recovery runs elsewhere
    assert args["known_hosts"] == str(tmp_path / "kh")
    assert args["user"] == "bob" and args["sudo"] is True
    assert "secret" not in repr(args)


def test_ssh_command_wraps_timeout_env_and_sudo():
    from splitbrain.clusters.backends.ssh import HostSpec, SSHNode
    n = SSHNode(None, HostSpec("h"), "n1", "h", "/w", sudo=True)
    cmd = n._command(["echo", "a b"], 5, {"K": "v w"})
    assert cmd.startswith("sudo -n timeout -k 2 5 env 'K=v w' sh -c ")
    assert "'echo '\"'\"'a b'\"'\"''" in cmd


def test_a_missing_optional_package_names_the_extra_to_install():
    from splitbrain.errors import HarnessError
    from splitbrain.registry import Entry, Registry

    reg = Registry("backend", {"far": Entry("splitbrain.clusters.backends.local:LocalBackend",
                                            needs=("splitbrain_no_such_pkg",), extra="far")})
    with pytest.raises(HarnessError) as e:
        reg.load("far")
    assert str(e.value) == ("--backend far: needs the Python package 'splitbrain_no_such_pkg', "
                            "which is not installed (pip install 'splitbrain[far]')")


def test_docker_and_ssh_declare_their_extras():
    from splitbrain.clusters.backends import BACKENDS

    assert BACKENDS.entries["docker"].extra == "docker"
    assert BACKENDS.entries["ssh"].extra == "ssh"
    assert BACKENDS.entries["local"].needs == ()


def test_docker_client_without_the_sdk_names_the_extra(monkeypatch):
    import builtins

    from splitbrain.clusters.backends.docker import engine
    from splitbrain.errors import HarnessError

    real = builtins.__import__

    def no_docker(name, *a, **kw):
        if name == "docker" or name.startswith("docker."):
            raise ModuleNotFoundError("No module named 'docker'", name="docker")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_docker)
    with pytest.raises(HarnessError, match=r"splitbrain\[docker\]"):
        engine.docker_client()


def test_spec_records_ssh_credential_paths_absolute(tmp_path, monkeypatch):
    from splitbrain.harness.spec import TestSpec
    (tmp_path / "id").write_text("key")
    (tmp_path / "kh").write_text("")
    monkeypatch.chdir(tmp_path)
    s = TestSpec(backend="ssh", hosts=["h1"], ssh_key="id", ssh_known_hosts="kh").resolved()
    assert s.ssh_key == str(tmp_path / "id") and s.ssh_known_hosts == str(tmp_path / "kh")
    assert TestSpec.from_dict(s.to_dict()).ssh_known_hosts == str(tmp_path / "kh")

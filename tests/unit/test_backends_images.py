"""The node image recipe: the mirror comes from the host's apt configuration, tags hash the recipe."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from splitbrain.clusters.backends.docker import image as images
from splitbrain.errors import HarnessError


def _fake_root(tmp_path: Path, sources: dict[str, str], main: str | None = None,
               codename: str = "bookworm") -> str:
    apt = tmp_path / "etc/apt/sources.list.d"
    apt.mkdir(parents=True)
    for name, text in sources.items():
        (apt / name).write_text(text)
    if main is not None:
        (tmp_path / "etc/apt/sources.list").write_text(main)
    (tmp_path / "etc/os-release").write_text(f'NAME="Debian"\nVERSION_CODENAME={codename}\n')
    return str(tmp_path)


DEB822 = """Types: deb
# a comment
URIs: http://mirror.example.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example.invalid/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: https://thirdparty.example.invalid/apt
Suites: nodistro
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example.invalid/debian
Suites: bookworm
Components: main
"""


def test_mirror_is_read_from_deb822_sources(tmp_path):
    root = _fake_root(tmp_path, {"debian.sources": DEB822,
                                 "x.list.disabled": "deb http://nope.invalid/debian bookworm main\n"})
    mirror, image_sources = images.debian_mirror(root)
    assert mirror == "http://mirror.example.invalid/debian"
    text = images.render_sources_list(image_sources)
    assert "deb http://mirror.example.invalid/debian bookworm main\n" in text
    assert "deb http://mirror.example.invalid/debian bookworm-updates main\n" in text
    assert "deb http://security.example.invalid/debian-security bookworm-security main\n" in text
    assert "thirdparty" not in text and "disabled" not in text and "nope" not in text


def test_mirror_is_read_from_one_line_sources_list(tmp_path):
    root = _fake_root(tmp_path, {}, main=(
        "# deb http://commented.invalid/debian bookworm main\n"
        "deb-src http://src.invalid/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://oneline.invalid/debian bookworm main contrib\n"))
    mirror, _ = images.debian_mirror(root)
    assert mirror == "http://oneline.invalid/debian"


def test_codename_follows_the_host(tmp_path):
    root = _fake_root(tmp_path, {"d.sources": DEB822.replace("bookworm", "trixie")},
                      codename="trixie")
    assert images.host_codename(root) == "trixie"
    assert images.debian_mirror(root)[0] == "http://mirror.example.invalid/debian"


def test_no_mirror_is_a_one_line_error(tmp_path):
    root = _fake_root(tmp_path, {"other.sources": DEB822.split("\n\n")[2]})
    with pytest.raises(HarnessError, match="no apt mirror for Debian bookworm") as ei:
        images.debian_mirror(root)
    assert "\n" not in str(ei.value)


def test_this_hosts_mirror_comes_from_its_apt_configuration():
    sources = images.read_host_apt_sources("/")
    if not sources:
        pytest.skip("this host has no apt sources")
    try:
        mirror, _ = images.debian_mirror("/")
    except HarnessError:
        pytest.skip("this host has no Debian mirror for its release")
    configured = "".join(p.read_text() for p in Path("/etc/apt").rglob("*")
                         if p.is_file() and p.suffix in (".list", ".sources"))
    assert mirror in configured


def test_no_mirror_or_registry_host_is_written_in_the_code():
    src = inspect.getsource(images)
    for host in ("debian.org", "docker.io", "docker.com", "http://", "https://"):
        assert host not in src, host


def test_node_tag_changes_with_the_recipe(monkeypatch):
    base = "splitbrain-base:bookworm-x"
    t1 = images.node_tag(base)
    assert t1 == images.node_tag(base)
    assert t1.startswith("splitbrain-node:")
    monkeypatch.setattr(images, "NODE_PACKAGES", images.NODE_PACKAGES + ["strace"])
    assert images.node_tag(base) != t1
    monkeypatch.undo()
    assert images.node_tag("splitbrain-base:trixie-y") != t1


def test_dockerfile_installs_every_package_without_recommends():
    df = images._build_files("b:1")["Dockerfile"].decode()
    assert df.startswith("FROM b:1\n")
    assert "--no-install-recommends" in df and "apt-get clean" in df
    for p in ("iptables", "iproute2", "python3", "openssh-server", "etcd-server", "zookeeper",
              "faketime"):
        assert f" {p}" in df


def test_build_without_root_or_debootstrap_says_what_to_do(monkeypatch):
    monkeypatch.setattr(images.os, "geteuid", lambda: 1000)
    with pytest.raises(HarnessError, match="needs root"):
        images.build_base(None, "bookworm", progress=lambda s: None)
    monkeypatch.setattr(images.os, "geteuid", lambda: 0)
    monkeypatch.setattr(images.shutil, "which", lambda name: None)
    with pytest.raises(HarnessError, match="apt-get install debootstrap"):
        images.build_base(None, "bookworm", progress=lambda s: None)


class _Images:
    """Stands in for docker's image store (the harness's plumbing, not a system under test)."""

    def __init__(self, present: set[str]):
        self.present, self.pulled = present, []

    def get(self, tag):
        import docker.errors
        if tag not in self.present:
            raise docker.errors.ImageNotFound(tag)
        return tag

    def pull(self, tag):
        self.pulled.append(tag)
        self.present.add(tag)


class _Client:
    def __init__(self, present: set[str]):
        self.images = _Images(present)


def test_a_local_registry_base_is_used_and_pulled_only_when_allowed(monkeypatch):
    monkeypatch.setenv("SPLITBRAIN_BASE_IMAGE", "debian:bookworm")
    monkeypatch.delenv("SPLITBRAIN_PULL_BASE", raising=False)
    assert images._ensure_base(_Client({"debian:bookworm"}), print) == "debian:bookworm"
    with pytest.raises(HarnessError, match="base image debian:bookworm is not present"):
        images._ensure_base(_Client(set()), print)
    monkeypatch.setenv("SPLITBRAIN_PULL_BASE", "1")
    client = _Client(set())
    assert images._ensure_base(client, lambda s: None) == "debian:bookworm"
    assert client.images.pulled == ["debian:bookworm"]
    assert images.default_node_tag() == images.node_tag("debian:bookworm")


def test_without_override_the_base_is_the_debootstrapped_one(monkeypatch):
    monkeypatch.delenv("SPLITBRAIN_BASE_IMAGE", raising=False)
    tag = images.base_tag(images.host_codename())
    assert images._ensure_base(_Client({tag}), print) == tag
    assert tag.startswith("splitbrain-base:")

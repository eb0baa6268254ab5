"""The node image of the docker backend, built locally and cached by a hash of its recipe.

No registry is needed: the Debian base is bootstrapped with debootstrap from the
host's own configured apt mirror (read from /etc/apt at run time), imported into
Docker, and the node packages are installed on top. A base image that is already
present locally (``SPLITBRAIN_BASE_IMAGE``, e.g. ``debian:bookworm``) is used
instead, and pulled first only when ``SPLITBRAIN_PULL_BASE=1`` says a registry is
reachable.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbrain.clusters.backends.docker.engine import docker_client
from splitbrain.errors import HarnessError

IMAGE_REPO = "splitbrain-node"
BASE_REPO = "splitbrain-base"
LABEL = "splitbrain"

# What every node needs. Systems rely on these binaries being present. Debian's
# zookeeper depends on the GUI ``default-jre``; a stand-in package built in the
# Dockerfile satisfies it with ``default-jre-headless`` (saves ~300 MB of X/GL libs).
NODE_PACKAGES = [
    "iptables", "iproute2", "procps", "python3", "openssh-server", "psmisc",
    "iputils-ping", "sudo", "etcd-server", "etcd-client", "zookeeper", "faketime",
]

# Started by tini (``init=True``): pick the iptables flavour the host kernel
# supports, give the node its own ssh host key, start sshd, then sleep forever.
NODE_INIT = r"""#!/bin/sh
# splitbrain node init: iptables flavour, ssh host key, sshd, then stay alive.
if ! iptables-nft -w -S >/dev/null 2>&1 && iptables-legacy -w -S >/dev/null 2>&1; then
    update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy
    update-alternatives --quiet --set ip6tables /usr/sbin/ip6tables-legacy
fi
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
mkdir -p /run/sshd /var/lib/splitbrain /root/.ssh
chmod 700 /root/.ssh
/usr/sbin/sshd -o HostKey=/etc/ssh/ssh_host_ed25519_key
exec sleep infinity
"""

SSHD_CONFIG = """# splitbrain node: keys only
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
Subsystem sftp internal-sftp
"""

DOCKERFILE = """FROM {base}
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \\
 && printf 'path-exclude /usr/share/doc/*\\npath-exclude /usr/share/man/*\\npath-exclude /usr/share/locale/*\\npath-include /usr/share/locale/locale.alias\\n' > /etc/dpkg/dpkg.cfg.d/01-splitbrain-nodoc \\
 && mkdir -p /tmp/headless-jre/DEBIAN \\
 && printf 'Package: default-jre\\nVersion: 2:99-splitbrain\\nArchitecture: all\\nMaintainer: splitbrain\\nDepends: default-jre-headless\\nDescription: headless stand-in: zookeeper needs a JVM, not a GUI JRE\\n' > /tmp/headless-jre/DEBIAN/control \\
 && dpkg-deb -b /tmp/headless-jre /tmp/headless-jre.deb >/dev/null \\
 && apt-get update -qq \\
 && apt-get install -y -q --no-install-recommends /tmp/headless-jre.deb {packages} \\
 && rm -rf /tmp/headless-jre* \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log \\
 && update-alternatives --set iptables /usr/sbin/iptables-nft \\
 && rm -f /etc/ssh/ssh_host_* \\
 && mkdir -p /var/lib/splitbrain /run/sshd
COPY sshd_config /etc/ssh/sshd_config
COPY splitbrain-node-init /usr/local/sbin/splitbrain-node-init
RUN chmod 755 /usr/local/sbin/splitbrain-node-init
LABEL splitbrain.image=node
CMD ["/usr/local/sbin/splitbrain-node-init"]
"""

Progress = Callable[[str], Any]


# -- the host's apt configuration ---------------------------------------------------

@dataclass(slots=True)
class AptSource:
    """One ``deb`` entry of the host's apt configuration."""

    uri: str
    suites: list[str]
    components: list[str] = field(default_factory=list)


def _parse_one_line(text: str) -> list[AptSource]:
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        parts = line.split()[1:]
        if parts and parts[0].startswith("["):      # options: [arch=amd64 signed-by=...]
            while parts and not parts[0].endswith("]"):
                parts.pop(0)
            parts = parts[1:]
        if len(parts) >= 2:
            out.append(AptSource(parts[0], [parts[1]], parts[2:]))
    return out


def _parse_deb822(text: str) -> list[AptSource]:
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in (" ", "\t") and key:
                fields[key] += " " + raw.strip()
            elif ":" in raw:
                key, _, val = raw.partition(":")
                key = key.strip().lower()
                fields[key] = val.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            out.append(AptSource(uri, fields.get("suites", "").split(),
                                 fields.get("components", "").split()))
    return out


def read_host_apt_sources(root: str = "/") -> list[AptSource]:
    """Every enabled ``deb`` entry of the host's apt configuration under ``root``."""
    etc = Path(root) / "etc/apt"
    sources: list[AptSource] = []
    main = etc / "sources.list"
    if main.is_file():
        sources += _parse_one_line(main.read_text(errors="replace"))
    d = etc / "sources.list.d"
    if d.is_dir():
        for f in sorted(d.iterdir()):
            if f.suffix == ".list":
                sources += _parse_one_line(f.read_text(errors="replace"))
            elif f.suffix == ".sources":
                sources += _parse_deb822(f.read_text(errors="replace"))
    return sources


def host_codename(root: str = "/") -> str:
    """The Debian release the host runs (``VERSION_CODENAME`` of os-release); bookworm if unknown."""
    osr = Path(root) / "etc/os-release"
    if osr.is_file():
        for line in osr.read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                val = line.split("=", 1)[1].strip().strip('"')
                if val:
                    return val
    return "bookworm"


def debian_mirror(root: str = "/", codename: str | None = None) -> tuple[str, list[AptSource]]:
    """The host's Debian mirror for ``codename`` and the entries to copy into the image.

    The mirror is the entry carrying the release suite itself with ``main``; the
    image gets every entry whose suites are that release's (-updates, -security).
    """
    codename = codename or host_codename(root)
    sources = read_host_apt_sources(root)
    mirror = next((s.uri for s in sources
                   if codename in s.suites and (not s.components or "main" in s.components)), None)
    if mirror is None:
        raise HarnessError(f"no apt mirror for Debian {codename} in {root.rstrip('/')}/etc/apt: "
                           f"add one to sources.list, or build on a Debian image instead: "
                           f"SPLITBRAIN_BASE_IMAGE=debian:bookworm (SPLITBRAIN_PULL_BASE=1 to "
                           f"pull it; see docs/ci.md)")
    image_sources = []
    for s in sources:
        suites = [x for x in s.suites if x == codename or x.startswith(codename + "-")]
        if suites:
            image_sources.append(AptSource(s.uri, suites, ["main"]))
    return mirror, image_sources


def render_sources_list(sources: list[AptSource]) -> str:
    """One-line ``sources.list`` text for the image."""
    return "".join(f"deb {s.uri} {suite} {' '.join(s.components or ['main'])}\n"
                   for s in sources for suite in s.suites)


# -- the recipe and its hash ----------------------------------------------------

def _build_files(base: str) -> dict[str, bytes]:
    return {
        "Dockerfile": DOCKERFILE.format(base=base, packages=" ".join(NODE_PACKAGES)).encode(),
        "sshd_config": SSHD_CONFIG.encode(),
        "splitbrain-node-init": NODE_INIT.encode(),
    }


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:12]


def base_tag(codename: str) -> str:
    """Tag of the debootstrapped base: changes when its recipe changes."""
    return f"{BASE_REPO}:{codename}-{_digest('minbase-v1', codename)}"


def node_tag(base: str) -> str:
    """Tag of the node image: a hash of the base and every file of the recipe."""
    files = _build_files(base)
    return f"{IMAGE_REPO}:{_digest(base, *[k.encode() + v for k, v in sorted(files.items())])}"


def default_node_tag() -> str:
    """The node image tag this version of splitbrain would build on this host."""
    return node_tag(_choose_base_name())


def _choose_base_name() -> str:
    return os.environ.get("SPLITBRAIN_BASE_IMAGE") or base_tag(host_codename())


# -- building -------------------------------------------------------------------

def _client():
    return docker_client()


def _image_exists(client, tag: str) -> bool:
    import docker.errors
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _run(cmd: list[str], progress: Progress, what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:]
        raise HarnessError(f"{what} failed (exit {proc.returncode})"
                           + (f": {tail[0]}" if tail else ""))


def build_base(client, codename: str, progress: Progress = print) -> str:
    """debootstrap a minbase Debian from the host's mirror and ``docker import`` it."""
    tag = base_tag(codename)
    if os.geteuid() != 0:
        raise HarnessError("building the node image needs root (debootstrap): run "
                           "`sudo splitbrain images build` once")
    if shutil.which("debootstrap") is None:
        raise HarnessError("debootstrap is missing: apt-get install debootstrap")
    mirror, image_sources = debian_mirror(codename=codename)
    tmp = tempfile.mkdtemp(prefix="splitbrain-rootfs-")
    try:
        root = os.path.join(tmp, "rootfs")
        t0 = time.monotonic()
        progress(f"debootstrap {codename} (minbase) from the host's mirror {mirror} ...")
        _run(["debootstrap", "--variant=minbase", codename, root, mirror], progress, "debootstrap")
        progress(f"debootstrap done in {time.monotonic() - t0:.0f}s; importing into Docker")
        Path(root, "etc/apt/sources.list").write_text(render_sources_list(image_sources))
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            d = Path(root, sub)
            for f in d.glob("*"):
                if f.is_file():
                    f.unlink()
        shutil.rmtree(Path(root, "var/log/bootstrap.log"), ignore_errors=True)
        tarball = os.path.join(tmp, "rootfs.tar")
        _run(["tar", "--numeric-owner", "-C", root, "-cf", tarball, "."], progress, "tar rootfs")
        repo, _, version = tag.partition(":")
        client.api.import_image_from_file(tarball, repository=repo, tag=version,
                                          changes=[f"LABEL {LABEL}.image=base", 'CMD ["/bin/sh"]'])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not _image_exists(client, tag):
        raise HarnessError(f"docker import of {tag} did not produce an image")
    return tag


def _ensure_base(client, progress: Progress) -> str:
    override = os.environ.get("SPLITBRAIN_BASE_IMAGE")
    if override:
        if not _image_exists(client, override):
            if os.environ.get("SPLITBRAIN_PULL_BASE") != "1":
                raise HarnessError(f"base image {override} is not present: pull it, set "
                                   f"SPLITBRAIN_PULL_BASE=1, or unset SPLITBRAIN_BASE_IMAGE")
            progress(f"pulling {override} ...")
            client.images.pull(override)
        return override
    tag = base_tag(host_codename())
    if not _image_exists(client, tag):
        build_base(client, host_codename(), progress)
    return tag


def _context_tar(files: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def build_image(force: bool = False, progress: Progress = print) -> str:
    """Build (or find cached) the node image and return its tag.

    From an empty engine: debootstrap the base, import it, install the node
    packages. With ``force`` the node image (not the base) is rebuilt.
    """
    client = _client()
    if not force:   # the common case: cached, no lock needed
        tag = node_tag(_choose_base_name())
        if _image_exists(client, tag):
            return tag
    with _build_lock(progress):
        base = _ensure_base(client, progress)
        tag = node_tag(base)
        if not force and _image_exists(client, tag):     # built meanwhile by another process
            return tag
        return _build_node(client, base, tag, progress)


@contextlib.contextmanager
def _build_lock(progress: Progress):
    """One image build at a time on this host (parallel test runs, two CLIs)."""
    path = os.path.join(tempfile.gettempdir(), "splitbrain-image-build.lock")
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("another splitbrain process is building the node image; waiting ...")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _build_node(client, base: str, tag: str, progress: Progress) -> str:
    t0 = time.monotonic()
    progress(f"building {tag} from {base} (packages: {' '.join(NODE_PACKAGES)}) ...")
    repo_tag = tag
    try:
        stream = client.api.build(fileobj=_context_tar(_build_files(base)), custom_context=True,
                                  tag=repo_tag, rm=True, forcerm=True, network_mode="host",
                                  labels={f"{LABEL}.image": "node"}, decode=True, pull=False)
        last = ""
        for chunk in stream:
            if "error" in chunk:
                raise HarnessError(f"building {tag} failed: {str(chunk['error']).strip()}")
            line = str(chunk.get("stream", "")).strip()
            if line.startswith(("Step ", "Fetched ", "Setting up ")):
                progress(line if line.startswith("Step ") else "  " + line)
            if line:
                last = line
    except HarnessError:
        raise
    except Exception as e:   # docker.errors.BuildError/APIError: one line for the user
        raise HarnessError(f"building {tag} failed: {str(e).splitlines()[0]}") from e
    if not _image_exists(client, tag):
        raise HarnessError(f"building {tag} failed: {last}")
    size = client.images.get(tag).attrs.get("Size", 0)
    progress(f"built {tag} in {time.monotonic() - t0:.0f}s ({size / 1e6:.0f} MB)")
    prune_old_images(client, keep=tag)
    return tag


def prune_old_images(client, keep: str) -> list[str]:
    """Remove node images of older recipes that no container uses (best effort)."""
    import docker.errors
    removed = []
    for img in client.images.list(name=IMAGE_REPO):
        tags = [t for t in img.tags if t != keep]
        if keep in img.tags or not tags:
            continue
        for t in tags:
            try:
                client.images.remove(t)
                removed.append(t)
            except docker.errors.APIError:   # in use by a container: keep it
                pass
    return removed


def ensure_image(progress: Progress = print) -> str:
    """The node image tag, built first if it is missing (first ``create()``)."""
    return build_image(force=False, progress=progress)


def image_info(tag: str) -> dict[str, Any]:
    """Size and creation time of an image, for ``splitbrain images`` listings."""
    attrs = _client().images.get(tag).attrs
    return {"tag": tag, "size": attrs.get("Size"), "created": attrs.get("Created"),
            "labels": json.dumps(attrs.get("Config", {}).get("Labels") or {})}

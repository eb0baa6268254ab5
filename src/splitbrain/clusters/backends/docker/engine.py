"""The Docker engine: a reachable client, and files taken out of local images."""

from __future__ import annotations

import io
import os
import tarfile
from typing import Any

from splitbrain.errors import HarnessError


def docker_client():
    """A docker SDK client, or a one-line error saying how to make Docker reachable."""
    try:
        import docker
    except ModuleNotFoundError:
        raise HarnessError("the docker backend needs the Python package 'docker', which is "
                           "not installed (pip install 'splitbrain[docker]')") from None
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except Exception as e:
        raise HarnessError(f"Docker is not reachable at {host}: start the daemon or use "
                           f"--backend netns") from e


def file_from_image(image: str, path: str, *, name: str, client: Any = None,
                    cache_dir: str | None = None) -> str | None:
    """A file (e.g. a binary) copied out of a local Docker image, cached on this host;
    None when there is no engine or no such image.

    Pulls the image only when ``SPLITBRAIN_PULL_BASE=1`` says a registry is reachable
    (as the node image build does). ``name`` prefixes the cached file's name.
    """
    try:
        if client is None:
            import docker
            client = docker.from_env(timeout=10)
        try:
            img = client.images.get(image)
        except Exception:  # noqa: BLE001 - not present locally
            if os.environ.get("SPLITBRAIN_PULL_BASE") != "1":
                return None
            img = client.images.pull(image, tag="latest")
    except Exception:  # noqa: BLE001 - no engine, no image, no registry: no file
        return None
    cache = cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "splitbrain")
    target = os.path.join(cache, f"{name}-{str(img.id).replace(':', '-')[:24]}")
    if os.path.isfile(target):
        return target
    container = client.containers.create(img.id, command=["version"])
    try:
        stream, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = next(m for m in tar.getmembers() if m.isfile())
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
    finally:
        container.remove(force=True)
    os.makedirs(cache, exist_ok=True)
    with open(target + ".tmp", "wb") as f:
        f.write(data)
    os.chmod(target + ".tmp", 0o755)
    os.replace(target + ".tmp", target)
    return target

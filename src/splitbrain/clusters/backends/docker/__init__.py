"""The Docker backend: nodes are containers of a node image built locally (no registry).

``backend`` (DockerNode, DockerBackend), ``image`` (the node image: debootstrap from
the host's apt mirror, ``docker import``, node layer), ``engine`` (the Docker client,
files taken out of images).
"""

from splitbrain.clusters.backends.docker.backend import (
    DockerBackend,
    DockerNode,
    check_test_name,
    container_name,
    network_name,
)
from splitbrain.clusters.backends.docker.engine import docker_client

__all__ = ["DockerBackend", "DockerNode", "check_test_name", "container_name", "docker_client",
           "network_name"]

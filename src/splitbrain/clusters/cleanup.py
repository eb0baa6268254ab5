"""Find and remove leftovers of killed runs on every backend this host can reach.

Used by ``splitbrain cluster down --all`` and at startup: containers and networks
labelled ``splitbrain=1``, namespaces/bridges/veths named ``sb-*``/``sbbr*``/``sbv*``
and their FORWARD rules. A backend that is unavailable here (no Docker, not root)
is skipped and said so; SSH hosts are cleaned only when given.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from splitbrain.clusters.node import Backend
from splitbrain.errors import HarnessError


@dataclass
class CleanupReport:
    """What was removed per backend, and which backends were skipped and why."""

    removed: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.removed.values())

    def lines(self) -> list[str]:
        out = [f"{b}: removed {x}" for b, xs in self.removed.items() for x in xs]
        out += [f"{b}: skipped ({why})" for b, why in self.skipped.items()]
        return out


def _docker_available() -> str | None:
    if shutil.which("docker") is None and not os.path.exists("/var/run/docker.sock") \
            and not os.environ.get("DOCKER_HOST"):
        return "no Docker engine"
    return None


def _netns_available() -> str | None:
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no `ip` command"
    return None


def cleanup_all(backends: list[Backend] | None = None,
                progress: Callable[[str], Any] | None = None) -> CleanupReport:
    """Remove everything splitbrain made on each backend; never raises for an absent one.

    Without ``backends``, the docker and netns backends of this host are cleaned.
    Pass an ``SSHBackend`` to clean remote hosts too.
    """
    report = CleanupReport()
    if backends is None:
        from splitbrain.clusters.backends.docker import DockerBackend
        from splitbrain.clusters.backends.netns import NetnsBackend
        backends = []
        for make, check in ((DockerBackend, _docker_available), (NetnsBackend, _netns_available)):
            why = check()
            if why:
                report.skipped[make.name] = why
            else:
                backends.append(make())
    for b in backends:
        try:
            removed = b.destroy_all()
        except HarnessError as e:
            report.skipped[b.name] = str(e)
            continue
        report.removed[b.name] = removed
        if progress:
            for x in removed:
                progress(f"{b.name}: removed {x}")
    return report


def destroy_everything(progress: Callable[[str], Any] | None = None) -> list[str]:
    """``cluster down --all``: remove every leftover on this host; return what was removed."""
    report = cleanup_all(progress=progress)
    return [f"{b}: {x}" for b, xs in report.removed.items() for x in xs]

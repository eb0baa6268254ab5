"""Shared test plumbing: Docker/root requirements that skip locally but must run in CI.

With ``SPLITBRAIN_REQUIRE_DOCKER=1`` (set by .ci/run) a missing Docker engine or
missing root is a test failure, not a skip, so CI can't go green by skipping.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SPLITBRAIN_SHARED", REPO.parent / "shared"))
HISTORIES = SHARED / "histories"


def required() -> bool:
    """True when tests needing Docker/root must run (CI)."""
    return os.environ.get("SPLITBRAIN_REQUIRE_DOCKER") == "1"


def _need(ok: bool, reason: str) -> None:
    if ok:
        return
    if required():
        pytest.fail(f"SPLITBRAIN_REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=5).ping()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture
def requires_docker() -> None:
    """Skip (or fail under SPLITBRAIN_REQUIRE_DOCKER=1) without a reachable Docker engine."""
    _need(docker_available(), "no reachable Docker engine")


@pytest.fixture
def requires_root() -> None:
    """Skip (or fail under SPLITBRAIN_REQUIRE_DOCKER=1) unless root with ip/iptables."""
    _need(os.geteuid() == 0, "needs root (network namespaces, iptables)")
    _need(shutil.which("ip") is not None and shutil.which("iptables") is not None,
          "needs iproute2 and iptables")


@pytest.fixture
def histories() -> Path:
    """The shared reference histories (../shared/histories)."""
    if not HISTORIES.is_dir():
        pytest.fail(f"reference histories not found at {HISTORIES} (set SPLITBRAIN_SHARED)")
    return HISTORIES


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test keeps its claims and locks in a state directory of its own, so it sees
    only what it made (and other runs on this host never see its leftovers);
    subprocesses inherit it through the environment."""
    d = tmp_path_factory.mktemp("state")
    d.chmod(0o700)
    monkeypatch.setenv("SPLITBRAIN_STATE_DIR", str(d))
    return d

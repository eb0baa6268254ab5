"""The clock fault's restart under libfaketime: waits out a slow exec, says why it failed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import splitbrain.nemesis.clock as clock
from splitbrain.errors import HarnessError

sys.path.insert(0, str(Path(__file__).parent))
from nemesis_fakes import FakeSystem, RecordingNode  # noqa: E402


def test_a_daemon_that_shows_libfaketime_late_is_accepted(monkeypatch) -> None:
    """Right after start the pid is still the shell about to exec the daemon (no env yet)."""
    answers = iter([False, False, True])
    monkeypatch.setattr(clock, "daemon_has_faketime", lambda n, d: next(answers))
    monkeypatch.setattr(clock.time, "sleep", lambda s: None)
    node = RecordingNode("n1", "10.9.0.1")
    clock.wait_for_faketime(FakeSystem([node]), node)


def test_a_daemon_that_died_under_libfaketime_is_named_with_its_log(monkeypatch) -> None:
    monkeypatch.setattr(clock, "daemon_has_faketime", lambda n, d: None)
    node = RecordingNode("n1", "10.9.0.1")
    with pytest.raises(HarnessError, match="under libfaketime and it exited"):
        clock.wait_for_faketime(FakeSystem([node]), node, timeout=0.3)
    assert any("tail -n 3" in c for c in node.cmds)


def test_a_daemon_started_without_our_env_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(clock, "daemon_has_faketime", lambda n, d: False)
    node = RecordingNode("n1", "10.9.0.1")
    with pytest.raises(HarnessError, match="must use Node.start_daemon"):
        clock.wait_for_faketime(FakeSystem([node]), node, timeout=0.3)

"""Netem detection reads the kernel's answer; netem arguments; no silent no-op."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from splitbrain.clusters.node import ExecResult
from splitbrain.errors import HarnessError
from splitbrain.nemesis.fault import Context
from splitbrain.nemesis.packet import Netem, detect_netem

sys.path.insert(0, str(Path(__file__).parent))
from nemesis_fakes import RecordingNode  # noqa: E402


class ScriptedNode(RecordingNode):
    """Answers the netem probe as a given kernel would."""

    def __init__(self, probe: ExecResult, module: bool = False) -> None:
        super().__init__("n1", "10.9.0.1")
        self.probe, self.module = probe, module

    def exec(self, cmd, *, check=True, timeout=60, env=None, input=None) -> ExecResult:
        text = cmd if isinstance(cmd, str) else " ".join(cmd)
        self.cmds.append(text)
        if "/sys/module/sch_netem" in text:
            return ExecResult(0 if self.module else 1, "", "")
        return self.probe


def test_kernel_without_netem_is_a_definite_no() -> None:
    node = ScriptedNode(ExecResult(3, "Error: Specified qdisc kind is unknown.\n", ""))
    has, why = detect_netem(node)
    assert has is False and "unknown" in why
    with pytest.raises(HarnessError, match="netem is not available on n1"):
        Netem(Context(system=None, nodes=[node])).check()


def test_kernel_with_netem_is_a_yes() -> None:
    assert detect_netem(ScriptedNode(ExecResult(0, "added\n", "")))[0] is True
    assert detect_netem(ScriptedNode(ExecResult(1, "", ""), module=True))[0] is True


def test_unclear_answers_are_errors_not_guesses() -> None:
    for out in ("RTNETLINK answers: Operation not permitted", ""):
        with pytest.raises(HarnessError, match="could not tell whether n1 has netem"):
            detect_netem(ScriptedNode(ExecResult(3, out, "")))
    with pytest.raises(HarnessError, match="tc not installed"):
        detect_netem(ScriptedNode(ExecResult(4, "tc not installed\n", "")))


def test_netem_arguments_follow_the_options() -> None:
    node = ScriptedNode(ExecResult(0, "added\n", ""))
    ctx = Context(system=None, nodes=[node], options={"netem_delay_ms": "120",
                                                      "netem_jitter_ms": "0",
                                                      "netem_duplicate": "0",
                                                      "netem_reorder": "25"})
    assert Netem(ctx).netem_args() == "delay 120ms reorder 25% 50%"
    default = Netem(Context(system=None, nodes=[node]))
    assert default.netem_args() == ("delay 50ms 10ms distribution normal duplicate 1% "
                                    "reorder 10% 50%")
    with pytest.raises(HarnessError, match="netem_reorder=200"):
        Netem(Context(system=None, nodes=[node], options={"netem_reorder": "200"}))

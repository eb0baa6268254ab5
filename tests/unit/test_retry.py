"""The one retry policy: answers, deadlines and errors, on a fake clock (no waiting)."""

from __future__ import annotations

import pytest

from splitbrain.retry import poll


class Clock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


def test_returns_the_first_answer() -> None:
    clock, answers = Clock(), iter([None, None, "up"])
    assert poll(lambda: next(answers), timeout=10, interval=1, clock=clock,
                sleep=clock.sleep) == "up"
    assert clock.sleeps == [1, 1]


def test_gives_up_at_the_deadline_after_a_last_try() -> None:
    clock, calls = Clock(), []
    assert poll(lambda: calls.append(clock.t), timeout=2.5, interval=1, clock=clock,
                sleep=clock.sleep) is None
    assert calls == [0, 1, 2, 2.5]                     # the last try is at the deadline


def test_a_falsy_answer_other_than_none_is_an_answer_and_errors_stop_at_once() -> None:
    clock = Clock()
    assert poll(lambda: 0, timeout=5, interval=1, clock=clock, sleep=clock.sleep) == 0
    with pytest.raises(ValueError):
        poll(lambda: int("x"), timeout=5, interval=1, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_no_hand_written_deadline_loops_are_left_where_poll_fits() -> None:
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "splitbrain"
    for rel in ("clusters/system.py", "clusters/backends/docker/backend.py",
                "nemesis/process.py", "clusters/systems/raft.py", "clusters/systems/consul.py",
                "clusters/systems/etcd.py"):
        text = (src / rel).read_text()
        assert "while time.monotonic() <" not in text and "poll(" in text, rel

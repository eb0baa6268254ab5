"""The harness's one retry policy: ask again at a fixed interval until an answer comes
or a deadline passes.

Waiting for a cluster to turn healthy, a container to come up, a killed process to
be gone or a membership change to be accepted are all the same loop; it is written
once here. Errors are the caller's business: an attempt returns ``None`` for "not
yet" (keeping whatever it wants to report), returns its answer when it has one, and
raises to stop at once. Standard library only (floor 1), with the clock and sleep
injectable so tests need not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(attempt: Callable[[], T | None], *, timeout: float, interval: float,
         clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], object] = time.sleep) -> T | None:
    """Call ``attempt`` until it returns something other than ``None`` and return that;
    ``None`` once ``timeout`` seconds have passed. It is always called at least once,
    and once more at the deadline, so a slow attempt cannot lose the last chance."""
    deadline = clock() + timeout
    while True:
        answer = attempt()
        if answer is not None:
            return answer
        left = deadline - clock()
        if left <= 0:
            return None
        sleep(min(interval, left))

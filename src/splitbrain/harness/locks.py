"""Locks that keep two live runs from sharing nodes."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import IO

from splitbrain.errors import HarnessError
from splitbrain.history.store import safe_name


def lock_test_name(name: str) -> IO[str]:
    """Hold an exclusive lock on a test name for the length of a run.

    Node names (containers, namespaces, local directories) carry the test's
    name, so two live runs of one name would tear down each other's nodes. The
    lock is released when the returned file is closed or the process dies.
    """
    d = Path(tempfile.gettempdir()) / "splitbrain-locks"
    d.mkdir(parents=True, exist_ok=True)
    fh = open(d / f"{safe_name(name)}.lock", "a+", encoding="utf-8")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise HarnessError(f"a run named {name!r} is in progress ({holder}) and would share "
                           f"its nodes: give this one another --name") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}")
    fh.flush()
    return fh

"""Locks that keep two live runs from sharing nodes.

The lock files live in splitbrain's private state directory (0700, owned by the
user, see :mod:`splitbrain.clusters.ownership`), never in a world-writable place,
and are opened without following symlinks: nobody else can make us write
through a link of theirs.
"""

from __future__ import annotations

import fcntl
import os
from typing import IO

from splitbrain.clusters.ownership import open_private, private_dir
from splitbrain.errors import HarnessError
from splitbrain.history.store import safe_name


def lock_test_name(name: str) -> IO[str]:
    """Hold an exclusive lock on a test name for the length of a run.

    Node names (containers, namespaces, local directories) carry the test's
    name, so two live runs of one name would tear down each other's nodes. The
    lock is released when the returned file is closed or the process dies.
    """
    d = private_dir("locks")
    try:
        fd = open_private(d, f"{safe_name(name)}.lock", os.O_RDWR | os.O_CREAT)
    except OSError as e:
        raise HarnessError(f"cannot open the lock file of {name!r} in {d}: {e.strerror} "
                           f"(a symlink there is refused)") from None
    fh = os.fdopen(fd, "r+", encoding="utf-8")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read(200).strip() or "another process"
        fh.close()
        raise HarnessError(f"a run named {name!r} is in progress ({holder}) and would share "
                           f"its nodes: give this one another --name") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}")
    fh.flush()
    return fh

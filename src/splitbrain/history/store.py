"""The store of DESIGN.md: ``store/<test-name>/<YYYYmmddTHHMMSS>/`` per run and
``store/latest`` pointing at the newest run."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from splitbrain.errors import HarnessError

HISTORY = "history.jsonl"
TEST = "test.json"
RESULTS = "results.json"
REPORT = "report.html"
LOG = "splitbrain.log"
JOURNAL = "faults.journal"


def safe_name(name: str) -> str:
    """A test name usable as a directory and a container-name part."""
    s = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-.")
    return s[:80] or "test"


def new_run_dir(store: str | Path, test_name: str) -> Path:
    """Create a fresh run directory and point ``store/latest`` at it."""
    root = Path(store)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    base = root / safe_name(test_name)
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HarnessError(f"cannot create the store at {root}: {e.strerror}") from None
    run = base / stamp
    n = 1
    while True:
        try:
            run.mkdir()
            break
        except FileExistsError:
            n += 1
            run = base / f"{stamp}-{n}"
    point_latest(root, run)
    return run


def point_latest(root: Path, run: Path) -> None:
    """Atomically repoint ``root/latest`` (a relative symlink) at ``run``."""
    link = root / "latest"
    tmp = root / f".latest.{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(os.path.relpath(run, root))
        os.replace(tmp, link)
    except OSError:
        pass  # a filesystem without symlinks: the run is still stored


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename), so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def attach_log(run_dir: Path) -> logging.Handler:
    """Send the ``splitbrain`` logger to ``run_dir/splitbrain.log``."""
    h = logging.FileHandler(run_dir / LOG, encoding="utf-8")
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    lg = logging.getLogger("splitbrain")
    lg.setLevel(logging.DEBUG)
    lg.addHandler(h)
    for name in _CLIENT_LOGGERS:  # client libraries' chatter goes to the run's log too
        cl = logging.getLogger(name)
        cl.setLevel(logging.INFO)
        cl.addHandler(h)
    return h


_CLIENT_LOGGERS = ("kazoo", "paramiko", "httpx")


def detach_log(h: logging.Handler) -> None:
    for name in ("splitbrain", *_CLIENT_LOGGERS):
        logging.getLogger(name).removeHandler(h)
    h.close()


def list_runs(store: str | Path) -> list[Path]:
    """Every run directory in the store (those with a test.json), newest first."""
    root = Path(store)
    runs = [p.parent for p in root.glob(f"*/*/{TEST}") if not p.parent.parent.name.startswith(".")]
    return sorted(runs, key=lambda p: p.name, reverse=True)

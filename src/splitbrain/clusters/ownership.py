"""The host-wide registry of what splitbrain made: one *claim* per run or cluster.

Cleanup goes by claims (and Docker labels naming the claim), never by name prefix.
A claim records which backend made which namespaces, links, containers, networks,
iptables rules, processes and work directories, for which test or cluster name and
store, the ssh hosts and credentials *reference* (key and known_hosts paths, never
secrets), and — while a process works on it — that process's pid and kernel start
time, so a reused pid is never taken for a live owner. Resources are recorded
*before* they are made, so a run killed half-way leaves a claim that covers them.

A claim's state is ``live`` (its owner runs), ``kept`` (no owner: a ``cluster up``
cluster or a run with ``--leave-db-running``, owned by its store) or ``killed``
(its owner died: leftovers to heal and remove).

The registry is a private directory: ``/var/lib/splitbrain/registry`` for root, else
``$XDG_STATE_HOME/splitbrain/registry`` (``~/.local/state/splitbrain/registry``);
``$SPLITBRAIN_STATE_DIR`` replaces ``/var/lib/splitbrain`` (tests). It is created
0700, must be owned by the current user and is opened without following symlinks;
the lock files of :mod:`splitbrain.harness.locks` live next to it.
"""

from __future__ import annotations

import json
import os
import re
import stat
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from splitbrain.errors import HarnessError

STATE_ENV = "SPLITBRAIN_STATE_DIR"
ROOT_STATE = "/var/lib/splitbrain"
KINDS = ("run", "cluster")
#: what a claim may list as made (``[what, name]`` pairs)
MADE = ("container", "network", "netns", "link", "forward-rule", "dir", "pid", "workdir")
_ID = re.compile(r"[0-9a-f]{32}")
#: test and cluster names as every backend accepts them (no '/', no leading '.')
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,119}")


def check_name(name: Any, what: str = "name") -> str:
    """``name`` if it is a valid test/cluster name, else a one-line HarnessError.

    Every name read back from a file (a claim, a journal, a test.json) goes through
    this before it picks a path or a resource.
    """
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise HarnessError(f"bad {what} {name!r}: use letters, digits, '_', '.', '+', '-' "
                           f"(at most 120, starting with a letter or digit)")
    return name


# -- processes ---------------------------------------------------------------------

def proc_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a live owner from a reused pid);
    None when there is no such process or only its zombie is left."""
    try:
        fields = Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    if fields[0] in ("Z", "X"):          # dead, waiting for its parent to reap it
        return None
    return fields[19]


def process_alive(pid: Any, start: Any) -> bool:
    """Whether the process ``pid`` that started at ``start`` still runs on this host."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    now = proc_start(pid)
    return now is not None and now == start


def me() -> dict[str, Any]:
    """This process as an owner: pid and kernel start time."""
    pid = os.getpid()
    return {"pid": pid, "start": proc_start(pid)}


# -- the private state directory -----------------------------------------------------

def state_root() -> Path:
    """Where splitbrain keeps host state of the current user (see the module doc)."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env).absolute()
    if os.geteuid() == 0:
        return Path(ROOT_STATE)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "splitbrain"


def _check_ancestors(path: Path) -> None:
    """Refuse a state directory below a directory someone else could swap things in."""
    uid = os.geteuid()
    real = Path(os.path.realpath(path))
    for d in (real, *real.parents):
        try:
            st = os.stat(d)
        except FileNotFoundError:
            continue
        if st.st_uid not in (0, uid):
            raise HarnessError(f"{d} belongs to uid {st.st_uid}: splitbrain keeps its state "
                               f"only below directories of root or uid {uid} (set "
                               f"{STATE_ENV} to a private directory)")
        if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
            raise HarnessError(f"{d} is world-writable: splitbrain keeps its state only "
                               f"below directories others cannot change (set {STATE_ENV})")


def _private(path: Path, mode: int) -> None:
    """Create directory ``path`` with ``mode`` unless it exists; refuse a symlink or
    another owner, and take group/other write (or, for 0700, all) access away."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        pass
    except OSError as e:
        raise HarnessError(f"cannot create {path}: {e.strerror}") from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as e:
        raise HarnessError(f"{path} is not a plain directory ({e.strerror}): splitbrain "
                           f"refuses to follow a symlink there") from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise HarnessError(f"{path} belongs to uid {st.st_uid}, not {os.geteuid()}: "
                               f"refusing to keep splitbrain's state there")
        too_open = 0o077 if mode == 0o700 else 0o022
        if st.st_mode & too_open:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def private_dir(name: str) -> Path:
    """``state_root()/name``: created 0700, ours, no symlink (``registry``, ``locks``)."""
    root = state_root()
    _check_ancestors(root.parent)
    try:
        root.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise HarnessError(f"cannot create {root.parent}: {e.strerror}") from None
    _private(root, 0o755 if str(root) == ROOT_STATE else 0o700)
    d = root / name
    _private(d, 0o700)
    return d


def open_private(directory: Path, filename: str, flags: int, mode: int = 0o600) -> int:
    """``os.open`` a file in a private directory without following a symlink."""
    if "/" in filename or filename in ("", ".", ".."):
        raise HarnessError(f"bad file name {filename!r}")
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        return os.open(filename, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
    finally:
        os.close(dfd)


def registry_dir() -> Path:
    return private_dir("registry")


# -- claims --------------------------------------------------------------------------

@dataclass
class Claim:
    """What one run or cluster made, and who owns it (see the module doc)."""

    backend: str
    name: str
    kind: str = "run"
    store: str | None = None
    run_dir: str | None = None
    journal: str | None = None
    system: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    backend_args: dict[str, Any] = field(default_factory=dict)
    owner: dict[str, Any] | None = None
    made: list[list[str]] = field(default_factory=list)
    healed: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()

    # -- state ---------------------------------------------------------------------
    @property
    def state(self) -> str:
        """``live``, ``kept`` or ``killed``."""
        if self.owner is None:
            return "kept"
        return "live" if process_alive(self.owner.get("pid"), self.owner.get("start")) \
            else "killed"

    def mine(self) -> bool:
        """Whether this process owns the claim."""
        return self.owner is not None and self.owner.get("pid") == os.getpid() \
            and self.owner.get("start") == proc_start(os.getpid())

    def take(self) -> None:
        """Make this process the owner (before anything is created) and save."""
        with self._lock:
            self.owner = me()
            self.save()

    def keep(self) -> None:
        """The cluster outlives its maker: no owner, kind ``cluster``, kept by its store."""
        with self._lock:
            self.owner = None
            self.kind = "cluster"
            self.save()

    def add(self, what: str, name: str) -> None:
        """Record (and save at once) that ``what`` named ``name`` is about to be made."""
        if what not in MADE:
            raise ValueError(f"unknown kind of resource {what!r}")
        with self._lock:
            if [what, name] not in self.made:
                self.made.append([what, str(name)])
                self.save()

    def discard(self, what: str, name: str) -> None:
        """Forget one resource (it was not made after all, or is gone)."""
        with self._lock:
            if [what, name] in self.made:
                self.made.remove([what, name])
                self.save()

    def listed(self, what: str) -> list[str]:
        return [n for w, n in self.made if w == what]

    # -- storage -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self) -> None:
        """Write the claim atomically into the registry (temp file + rename, no symlinks)."""
        with self._lock:
            d = registry_dir()
            data = json.dumps(self.to_dict(), sort_keys=True).encode()
            tmp = f".{self.id}.{os.getpid()}.{threading.get_ident()}.tmp"
            fd = open_private(d, tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                os.replace(tmp, f"{self.id}.json", src_dir_fd=dfd, dst_dir_fd=dfd)
            finally:
                os.close(dfd)

    def drop(self) -> None:
        """Remove the claim: everything it listed is gone."""
        d = registry_dir()
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.unlink(f"{self.id}.json", dir_fd=dfd)
        except FileNotFoundError:
            pass
        finally:
            os.close(dfd)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Claim:
        """A claim read back, every field checked (one line naming what is wrong)."""
        if not isinstance(d, dict):
            raise HarnessError("not a JSON object")
        if not isinstance(d.get("id"), str) or not _ID.fullmatch(d["id"]):
            raise HarnessError(f"bad claim id {d.get('id')!r}")
        if d.get("kind") not in KINDS:
            raise HarnessError(f"bad kind {d.get('kind')!r}")
        if not isinstance(d.get("backend"), str) or not re.fullmatch(r"[a-z]+", d["backend"]):
            raise HarnessError(f"bad backend {d.get('backend')!r}")
        check_name(d.get("name"))
        for k in ("store", "run_dir", "journal", "system"):
            if d.get(k) is not None and not isinstance(d[k], str):
                raise HarnessError(f"bad {k} {d[k]!r}")
        for k in ("store", "run_dir", "journal"):
            if d.get(k) is not None and not os.path.isabs(d[k]):
                raise HarnessError(f"{k} {d[k]!r} is not an absolute path")
        made = d.get("made") or []
        if not isinstance(made, list) or not all(
                isinstance(m, list) and len(m) == 2 and m[0] in MADE and isinstance(m[1], str)
                for m in made):
            raise HarnessError("bad list of made resources")
        owner = d.get("owner")
        if owner is not None and not (isinstance(owner, dict) and isinstance(owner.get("pid"), int)):
            raise HarnessError(f"bad owner {owner!r}")
        opts = d.get("options") or {}
        if not isinstance(opts, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in opts.items()):
            raise HarnessError("bad options")
        args = d.get("backend_args") or {}
        if not isinstance(args, dict):
            raise HarnessError("bad backend_args")
        known = {k: d[k] for k in ("backend", "name", "kind", "store", "run_dir", "journal",
                                   "system", "healed", "id", "created") if k in d}
        return cls(**known, options=dict(opts), backend_args=dict(args), owner=owner,
                   made=[list(m) for m in made])

    def describe(self) -> str:
        """One line: what, where, whose."""
        what = {"run": "run", "cluster": "cluster"}[self.kind]
        where = f"store {self.store}" if self.store else "no store"
        return f"{self.backend} {what} {self.name!r} ({where})"


def claims() -> list[Claim]:
    """Every readable claim in the registry, oldest first. A file that does not parse
    or holds nonsense is skipped (never acted on)."""
    d = registry_dir()
    out: list[Claim] = []
    for entry in sorted(os.listdir(d)):
        if not entry.endswith(".json") or not _ID.fullmatch(entry[:-5]):
            continue
        try:
            fd = open_private(d, entry, os.O_RDONLY)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() \
                    or st.st_size > 4 << 20:
                continue
            with os.fdopen(fd, "rb", closefd=False) as f:
                raw = f.read()
        finally:
            os.close(fd)
        try:
            c = Claim.from_dict(json.loads(raw))
        except (ValueError, HarnessError, TypeError):
            continue
        if c.id == entry[:-5]:
            out.append(c)
    return sorted(out, key=lambda c: c.created)


def claims_for(backend: str, name: str) -> list[Claim]:
    """The claims on cluster ``name`` of ``backend``."""
    return [c for c in claims() if c.backend == backend and c.name == name]


def find(claim_id: str) -> Claim | None:
    """The claim with this id, if the registry has it."""
    return next((c for c in claims() if c.id == claim_id), None)
